{#- Column names in macro arguments: a plain name (letters, digits, _) is quoted, so names
    such as "order" or "timestamp" work; anything else is an expression, left as written:
    {{ wml.quote_column('timestamp') }} -> "timestamp",
    {{ wml.quote_column('lower(email)') }} -> lower(email). The package's macros use it. -#}
{% macro quote_column(name) -%}
{%- if name is string and name.replace('_', '').isalnum() and not name[:1].isdigit() -%}
"{{ name }}"
{%- else -%}
{{ name }}
{%- endif -%}
{%- endmacro %}
