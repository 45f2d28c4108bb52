{#-
  Audiences and their measurement: percentile cohorts, intent tiers, lookalikes, and the
  lift of a campaign against its holdout with a confidence interval and a z-test.
  Everything is plain SQL that Redshift and DuckDB both run (no normal CDF function
  exists in either: normal_cdf is a polynomial approximation). See README.md here.
-#}

{#- The relation argument of a macro: a ref, a table name, or a SELECT / (subquery) text. -#}
{% macro _aud_source(relation) -%}
{%- if relation is string and (relation | trim | lower).startswith(('select', 'with')) -%}
({{ relation }})
{%- else -%}
{{ relation }}
{%- endif -%}
{%- endmacro %}

{#- columns.sql's quote_column (this file loads before it: files load in name order). -#}
{% macro _aud_col(name) -%}
{%- if name is string and name.replace('_', '').isalnum() and not name[:1].isdigit() -%}
"{{ name }}"
{%- else -%}
{{ name }}
{%- endif -%}
{%- endmacro %}

{% macro _aud_double(value) -%}
cast({{ value }} as double precision)
{%- endmacro %}

{#- Upper tail Q(|x|) = 1 - Phi(|x|) by Abramowitz & Stegun 26.2.17 (Zelen & Severo):
    absolute error below 7.5e-8 for every x. -#}
{% macro _normal_upper_tail(x) -%}
{%- set t = '(1 / (1 + ' ~ _aud_double(0.2316419) ~ ' * abs(' ~ x ~ ')))' -%}
(exp(-({{ x }}) * ({{ x }}) / 2) / {{ _aud_double(2.5066282746310002) }}
 * ({{ t }} * ({{ _aud_double(0.319381530) }} + {{ t }} * ({{ _aud_double(-0.356563782) }}
   + {{ t }} * ({{ _aud_double(1.781477937) }} + {{ t }} * ({{ _aud_double(-1.821255978) }}
   + {{ t }} * {{ _aud_double(1.330274429) }}))))))
{%- endmacro %}

{#- normal_cdf(x): the standard normal CDF Phi(x) of a double precision SQL expression
    (absolute error below 7.5e-8; NULL gives NULL). -#}
{% macro normal_cdf(x) -%}
(case when ({{ x }}) >= 0 then 1 - {{ _normal_upper_tail(x) }} else {{ _normal_upper_tail(x) }} end)
{%- endmacro %}

{#- normal_p_value(z): two-sided p-value 2 * (1 - Phi(|z|)) of a z statistic. -#}
{% macro normal_p_value(z) -%}
(2 * {{ _normal_upper_tail(z) }})
{%- endmacro %}

{#-
  proportion_lift(relation, group_column, outcome_column, control='holdout', confidence=0.95)

  A SELECT with one row per group other than `control`, comparing the
  group's conversion rate (mean of a 0/1 or boolean outcome) with the control's:
    variant, members, conversions, conversion_rate,
    control_members, control_conversions, control_conversion_rate,
    absolute_lift      rate - control rate
    relative_lift      rate / control rate - 1 (NULL when the control rate is 0)
    ci_low, ci_high    Wald interval of the difference (unpooled standard error)
    z_score            difference / pooled standard error (NULL when it is 0)
    p_value            two-sided, from normal_p_value(z_score)
  `confidence` is one of 0.8, 0.9, 0.95, 0.98, 0.99, 0.999. Normal approximations: trust
  them with at least ~10 conversions and ~10 non-conversions per group.
-#}
{% macro proportion_lift(relation, group_column, outcome_column, control='holdout', confidence=0.95) -%}
{#- Two-sided critical values: Jinja has no inverse normal, and these cover practice. -#}
{%- set _Z_CRITICAL = {0.8: 1.2815515655446004, 0.9: 1.6448536269514722, 0.95: 1.959963984540054,
                       0.98: 2.3263478740408408, 0.99: 2.5758293035489004, 0.999: 3.2905267314918945} -%}
{%- if confidence not in _Z_CRITICAL -%}
{{ exceptions.raise_compiler_error("proportion_lift confidence=" ~ confidence ~ " must be one of " ~ (_Z_CRITICAL.keys() | sort | join(', ')) ~ ".") }}
{%- endif -%}
{%- set z_crit = _Z_CRITICAL[confidence] -%}
{%- set ctl = "'" ~ (control | string | replace("'", "''")) ~ "'" -%}
select
    variant, members, conversions, conversion_rate,
    control_members, control_conversions, control_conversion_rate,
    conversion_rate - control_conversion_rate as absolute_lift,
    case when control_conversion_rate > 0 then conversion_rate / control_conversion_rate - 1 end as relative_lift,
    conversion_rate - control_conversion_rate - {{ _aud_double(z_crit) }} * se as ci_low,
    conversion_rate - control_conversion_rate + {{ _aud_double(z_crit) }} * se as ci_high,
    z_score,
    {{ normal_p_value('z_score') }} as p_value
from (
    select
        *,
        sqrt(conversion_rate * (1 - conversion_rate) / members
             + control_conversion_rate * (1 - control_conversion_rate) / control_members) as se,
        (conversion_rate - control_conversion_rate) / nullif(sqrt(
            pooled * (1 - pooled) * (1 / {{ _aud_double('members') }} + 1 / {{ _aud_double('control_members') }})
        ), 0) as z_score
    from (
        select
            g.variant, g.members, g.conversions, g.conversions / {{ _aud_double('g.members') }} as conversion_rate,
            c.members as control_members, c.conversions as control_conversions,
            c.conversions / {{ _aud_double('c.members') }} as control_conversion_rate,
            (g.conversions + c.conversions) / {{ _aud_double('g.members + c.members') }} as pooled
        from (
            select cast({{ _aud_col(group_column) }} as varchar) as variant, count(*) as members,
                   sum(cast({{ _aud_col(outcome_column) }} as integer)) as conversions
            from {{ _aud_source(relation) }} as wml_src
            where {{ _aud_col(group_column) }} is not null
            group by 1
        ) as g
        join (
            select count(*) as members, sum(cast({{ _aud_col(outcome_column) }} as integer)) as conversions
            from {{ _aud_source(relation) }} as wml_src
            where cast({{ _aud_col(group_column) }} as varchar) = {{ ctl }}
        ) as c on c.members > 0
        where g.variant <> {{ ctl }}
    ) as rates
) as tested
{%- endmacro %}
