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

{% macro _aud_lit(value) -%}
'{{ value | string | replace("'", "''") }}'
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

{#- @doc The standard normal CDF Phi(x) of a double precision SQL expression, in portable
    SQL (Abramowitz & Stegun 26.2.17: absolute error below 7.5e-8; NULL gives NULL), since
    neither DuckDB nor Redshift has one.
  @arg x: a SQL expression
  @example {{ wml.normal_cdf('z_score') }} as phi
-#}
{% macro normal_cdf(x) -%}
(case when ({{ x }}) >= 0 then 1 - {{ _normal_upper_tail(x) }} else {{ _normal_upper_tail(x) }} end)
{%- endmacro %}

{#- @doc The two-sided p-value 2 * (1 - Phi(|z|)) of a z statistic, in portable SQL.
  @arg z: a SQL expression holding a z statistic
  @example {{ wml.normal_p_value('z_score') }} as p_value
-#}
{% macro normal_p_value(z) -%}
(2 * {{ _normal_upper_tail(z) }})
{%- endmacro %}

{#- @doc A SELECT with one row per group other than `control`, comparing the group's
  conversion rate (mean of a 0/1 or boolean outcome) with the control's:
    variant, members, conversions, conversion_rate,
    control_members, control_conversions, control_conversion_rate,
    absolute_lift      rate - control rate
    relative_lift      rate / control rate - 1 (NULL when the control rate is 0)
    ci_low, ci_high    Wald interval of the difference (unpooled standard error)
    z_score            difference / pooled standard error (NULL when it is 0)
    p_value            two-sided, from normal_p_value(z_score)
  Normal approximations: trust them with at least ~10 conversions and ~10 non-conversions
  per group.
  @arg relation: a ref, a table name, or a SELECT text with one row per member
  @arg group_column: the column naming each member's arm (the control included)
  @arg outcome_column: the 0/1 or boolean outcome column
  @arg control: the control arm's value in group_column
  @arg confidence: the interval's level: 0.8, 0.9, 0.95, 0.98, 0.99 or 0.999
  @example {{ wml.proportion_lift(ref('winback_campaign'), 'arm', 'converted') }}
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
            select cast({{ quote_column(group_column) }} as varchar) as variant, count(*) as members,
                   sum(cast({{ quote_column(outcome_column) }} as integer)) as conversions
            from {{ _aud_source(relation) }} as wml_src
            where {{ quote_column(group_column) }} is not null
            group by 1
        ) as g
        join (
            select count(*) as members, sum(cast({{ quote_column(outcome_column) }} as integer)) as conversions
            from {{ _aud_source(relation) }} as wml_src
            where cast({{ quote_column(group_column) }} as varchar) = {{ ctl }}
        ) as c on c.members > 0
        where g.variant <> {{ ctl }}
    ) as rates
) as tested
{%- endmacro %}

{#- @doc Segment's percentile cohort value of each row's score, percent_rank() in [0, 1]
  (0.85 = top 15%; ties share a value); NULL scores give NULL and do not count. A window
  expression: use it in a SELECT list.
  @arg score_column: the score column or expression
  @arg partition_by: a column (or list of columns) to rank within, e.g. a market
  @example {{ wml.percentile('predicted_ltv_90d') }} as ltv_percentile
-#}
{% macro percentile(score_column, partition_by=none) -%}
{%- set score = quote_column(score_column) -%}
{%- set parts = ([partition_by] if partition_by is string else (partition_by or [])) | map('string') | list -%}
case when {{ score }} is not null then percent_rank() over (
    partition by {% for p in parts %}{{ quote_column(p) }}, {% endfor %}case when {{ score }} is null then 1 else 0 end
    order by {{ score }}) end
{%- endmacro %}

{#- @doc A text label per row from its percentile (see `percentile`): the first bucket b
  (highest first) with percentile >= b names the row 'top <(1 - b) * 100>%', below the last
  it is 'bottom <last * 100>%'. NULL scores give NULL.
  @arg score_column: the score column or expression
  @arg buckets: percentile shares in (0, 1), highest first
  @arg labels: one name per bucket plus one for the rest (default: 'top 10%', ...)
  @arg partition_by: a column (or list of columns) to rank within
  @example {{ wml.percentile_cohort('predicted_ltv_90d', buckets=[0.9, 0.5]) }} as ltv_cohort
-#}
{% macro percentile_cohort(score_column, buckets=[0.9, 0.75, 0.5], labels=none, partition_by=none) -%}
{%- if buckets is string or buckets | length == 0 or (buckets | sort(reverse=true) | list) != (buckets | list)
      or buckets | select('number') | list | length != buckets | length or buckets | min <= 0 or buckets | max >= 1 -%}
{{ exceptions.raise_compiler_error("percentile_cohort buckets=" ~ buckets ~ " must be a non-empty list of shares in (0, 1), highest first, e.g. [0.9, 0.75, 0.5].") }}
{%- endif -%}
{%- if labels is none -%}
{%- set names = [] -%}
{%- for b in buckets %}{% do names.append('top ' ~ ((1 - b) * 100) | round(2) | string | replace('.0', '') ~ '%') %}{% endfor -%}
{%- do names.append('bottom ' ~ ((buckets | last) * 100) | round(2) | string | replace('.0', '') ~ '%') -%}
{%- else -%}
{%- if labels is string or labels | length != buckets | length + 1 -%}
{{ exceptions.raise_compiler_error("percentile_cohort labels must be a list of " ~ (buckets | length + 1) ~ " names (one per bucket, then the rest), got " ~ labels ~ ".") }}
{%- endif -%}
{%- set names = labels -%}
{%- endif -%}
{%- set pct = percentile(score_column, partition_by) -%}
case
{%- for b in buckets %}
    when {{ pct }} >= {{ b }} then {{ _aud_lit(names[loop.index0]) }}
{%- endfor %}
    when {{ quote_column(score_column) }} is not null then {{ _aud_lit(names | last) }}
end
{%- endmacro %}

{#- @doc Purchase-intent tiers of a probability (a likelihood to purchase; pass
  '1 - churn_probability' for a churn model): the first threshold (highest first) the
  probability reaches names the tier, below the last it is the last label.
  @arg probability_column: the probability column or expression
  @arg thresholds: probabilities in [0, 1], highest first
  @arg labels: one name per threshold plus one for the rest
  @arg missing: the tier of a NULL probability (nobody scored it, e.g. prospects)
  @example {{ wml.intent_tier('1 - churn_probability', missing='prospect') }} as purchase_intent
-#}
{% macro intent_tier(probability_column, thresholds=[0.7, 0.4], labels=['high', 'medium', 'low'], missing=none) -%}
{%- if thresholds is string or thresholds | length == 0 or (thresholds | sort(reverse=true) | list) != (thresholds | list)
      or thresholds | select('number') | list | length != thresholds | length or thresholds | min < 0 or thresholds | max > 1 -%}
{{ exceptions.raise_compiler_error("intent_tier thresholds=" ~ thresholds ~ " must be a non-empty list of probabilities in [0, 1], highest first, e.g. [0.7, 0.4].") }}
{%- endif -%}
{%- if labels is string or labels | length != thresholds | length + 1 -%}
{{ exceptions.raise_compiler_error("intent_tier labels must be a list of " ~ (thresholds | length + 1) ~ " names (one per threshold, then the rest), got " ~ labels ~ ".") }}
{%- endif -%}
{%- set p = '(' ~ quote_column(probability_column) ~ ')' -%}
case
    when {{ p }} is null then {{ 'null' if missing is none else _aud_lit(missing) }}
{%- for t in thresholds %}
    when {{ p }} >= {{ t }} then {{ _aud_lit(labels[loop.index0]) }}
{%- endfor %}
    else {{ _aud_lit(labels | last) }}
end
{%- endmacro %}

{#- @doc A SELECT of `id_column, distance, nearness`: the candidates nearest to the seed
  audience. Each feature (a column or expression of `relation`) is standardized over all
  rows of `relation` (z-score with the sample standard deviation; a constant feature or a
  NULL value counts as the mean); the seed centroid is the mean of the seeds'
  standardized features; distance is Euclidean to it; nearness = percent_rank of the
  distance among candidates (0 = nearest). Keeps candidates with nearness <= top.
  @arg relation: a ref, a table name, or a SELECT text with one row per profile
  @arg features: a list of columns or expressions of relation
  @arg seeds: a SQL condition selecting the seed audience
  @arg candidates: a SQL condition selecting who may be picked
  @arg id_column: the id column of relation
  @arg top: the share of candidates kept, nearest first, in (0, 1]
  @example {{ wml.lookalike(ref('customer_scores'), ['recency_days', 'monetary'], "purchase_intent = 'high'", "purchase_intent <> 'high'") }}
-#}
{% macro lookalike(relation, features, seeds, candidates, id_column='profile_id', top=0.1) -%}
{%- if features is string or features | length == 0 -%}
{{ exceptions.raise_compiler_error("lookalike features must be a non-empty list of columns, got " ~ features ~ ".") }}
{%- endif -%}
{%- if top is not number or top <= 0 or top > 1 -%}
{{ exceptions.raise_compiler_error("lookalike top=" ~ top ~ " must be a share in (0, 1], e.g. top=0.1 for the nearest 10%.") }}
{%- endif -%}
{%- set key = quote_column(id_column) -%}
{%- set n = features | length -%}
select {{ key }}, distance, nearness
from (
    select {{ key }}, distance, percent_rank() over (order by distance, {{ key }}) as nearness
    from (
        select {{ key }}, sqrt({% for i in range(1, n + 1) %}power(wml_f{{ i }} - wml_c{{ i }}, 2){% if not loop.last %} + {% endif %}{% endfor %}) as distance
        from (
            select
                *,
{%- for i in range(1, n + 1) %}
                avg(case when wml_seed = 1 then wml_f{{ i }} end) over () as wml_c{{ i }},
{%- endfor %}
                sum(wml_seed) over () as wml_seeds
            from (
                select
                    {{ key }}, wml_seed, wml_candidate,
{%- for i in range(1, n + 1) %}
                    coalesce((wml_x{{ i }} - wml_mean{{ i }}) / nullif(wml_sd{{ i }}, 0), 0) as wml_f{{ i }}{% if not loop.last %},{% endif %}
{%- endfor %}
                from (
                    select
                        {{ key }},
                        case when {{ seeds }} then 1 else 0 end as wml_seed,
                        case when {{ candidates }} then 1 else 0 end as wml_candidate,
{%- for f in features %}
                        {{ _aud_double(quote_column(f)) }} as wml_x{{ loop.index }},
                        avg({{ _aud_double(quote_column(f)) }}) over () as wml_mean{{ loop.index }},
                        stddev_samp({{ _aud_double(quote_column(f)) }}) over () as wml_sd{{ loop.index }}{% if not loop.last %},{% endif %}
{%- endfor %}
                    from {{ _aud_source(relation) }} as wml_src
                ) as raw
            ) as standardized
        ) as with_centroid
        where wml_candidate = 1 and wml_seeds > 0
    ) as distances
) as ranked
where nearness <= {{ top }}
{%- endmacro %}
