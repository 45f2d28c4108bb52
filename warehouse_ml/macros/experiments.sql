{#-
  Stable hash-based experiment assignment: the same id gets the same answer on every run
  and on every engine. h = md5('<experiment>:' || cast(id as varchar)) as hex text;
      holdout  when int(h[0:7], 16) < floor(holdout * 2^28)
      variant  variants[i] for the first i with int(h[7:14], 16) < floor((i+1)/n * 2^28)
  (two independent 28-bit numbers, so the variant split does not depend on the holdout).
  Hex digits become integers with STRPOS arithmetic that Redshift and DuckDB both run, and
  that sqlglot transpiles either way (it maps Redshift's STRTOL to a function DuckDB lacks).
  In Python: see README.md in this folder.
-#}

{#- @args
  @arg id_expr: the SQL expression of the id to assign, e.g. 'profile_id'
  @arg experiment: the experiment's name (a non-empty string); another name gives an independent assignment
  @arg holdout: the share of ids held out, in [0, 1)
-#}

{% macro _ab_lit(value) -%}
'{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#- int(h[start-1 : start+6], 16) of the id's hash, in [0, 2^28). -#}
{% macro _ab_bits(id_expr, experiment, start) -%}
{%- set h = 'md5(' ~ _ab_lit(experiment ~ ':') ~ ' || cast(' ~ id_expr ~ ' as varchar))' -%}
({% for i in range(7) %}(strpos('0123456789abcdef', substring({{ h }}, {{ start + i }}, 1)) - 1) * {{ 16 ** (6 - i) }}{% if not loop.last %} + {% endif %}{% endfor %})
{%- endmacro %}

{% macro _ab_check(experiment, holdout) -%}
{%- if experiment is not string or experiment == '' -%}
{{ exceptions.raise_compiler_error("experiment name must be a non-empty string, got " ~ experiment ~ ".") }}
{%- endif -%}
{%- if holdout is not number or holdout < 0 or holdout >= 1 -%}
{{ exceptions.raise_compiler_error("holdout=" ~ holdout ~ " must be a share in [0, 1), e.g. holdout=0.1 for 10%.") }}
{%- endif -%}
{%- endmacro %}

{#- @doc A boolean expression, true for a stable ~holdout share of ids (the same ids ab_variant
    puts in 'holdout'); NULL ids give NULL. The same answer on every run and engine.
  @example {{ wml.in_holdout('profile_id', 'winback_2026_07', holdout=0.1) }} as held_out
-#}
{% macro in_holdout(id_expr, experiment, holdout=0.1) -%}
{{- _ab_check(experiment, holdout) -}}
({{ _ab_bits(id_expr, experiment, 1) }} < {{ (holdout * 268435456) | round(0, 'floor') | int }})
{%- endmacro %}

{#- @doc A text expression: 'holdout' for a stable ~holdout share of ids, else one of the variants,
    uniformly (md5-based: the same answer on every run and engine). NULL ids give NULL.
  @arg variants: a non-empty list of variant names
  @example {{ wml.ab_variant('profile_id', 'winback_2026_07', ['email', 'sms'], holdout=0.1) }} as arm
-#}
{% macro ab_variant(id_expr, experiment, variants=['A', 'B'], holdout=0.1) -%}
{{- _ab_check(experiment, holdout) -}}
{%- if variants is string or variants | length == 0 -%}
{{ exceptions.raise_compiler_error("ab_variant variants must be a non-empty list of names, got " ~ variants ~ ".") }}
{%- endif -%}
{%- set n = variants | length -%}
case
    when {{ id_expr }} is null then null
{%- if holdout > 0 %}
    when {{ in_holdout(id_expr, experiment, holdout) }} then 'holdout'
{%- endif %}
{%- for v in variants %}
{%- if loop.last %}
    else {{ _ab_lit(v) }}
{%- else %}
    when {{ _ab_bits(id_expr, experiment, 8) }} < {{ ((loop.index * 268435456) // n) }} then {{ _ab_lit(v) }}
{%- endif %}
{%- endfor %}
end
{%- endmacro %}
