{#- Column names in macro arguments: a plain name (letters, digits, _) is quoted, so names
    such as "order" or "timestamp" work; anything else is an expression, left as written:
    {{ wml.quote_column('timestamp') }} -> "timestamp",
    {{ wml.quote_column('lower(email)') }} -> lower(email). The package's macros use it. -#}
{#- @doc A column name for SQL: a plain name is quoted (so "order" or "timestamp" work), anything
    else is an expression, left as written. The package's macros pass every column argument through it.
  @arg name: a column name or a SQL expression
  @example {{ wml.quote_column('timestamp') }}  -- "timestamp"; wml.quote_column('lower(email)') gives lower(email)
-#}
{% macro quote_column(name) -%}
{%- if name is string and name.replace('_', '').isalnum() and not name[:1].isdigit() -%}
"{{ name }}"
{%- else -%}
{{ name }}
{%- endif -%}
{%- endmacro %}
