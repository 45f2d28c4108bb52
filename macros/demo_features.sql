{#
  Features and labels for the demo's models, as of a point in time.

  profile_features(as_of) reads only events strictly before as_of, so the same macro
  builds honest training snapshots (as_of = a past cutoff) and today's scoring rows
  (as_of = var('as_of')). profile_labels(as_of, days) reads only [as_of, as_of + days).
  tests/sql/features_do_not_read_past_cutoff.sql proves the first property.
#}

{% macro ts(value) -%}
cast('{{ value }}' as timestamp)
{%- endmacro %}

{#- Money summed as integer cents, then divided once: an exact sum whatever order the
    engine adds rows in (parallel float sums differ in the last bits from run to run). -#}
{% macro money_sum(condition) -%}
nvl(cast(sum(case when {{ condition }} then cast(round(e.revenue * 100) as bigint) end) as double precision) / 100, 0)
{%- endmacro %}

{% macro money_avg(condition) -%}
nvl(cast(sum(case when {{ condition }} then cast(round(e.revenue * 100) as bigint) end) as double precision)
    / nullif(sum(case when {{ condition }} and e.revenue is not null then 1 else 0 end), 0) / 100, 0)
{%- endmacro %}

{% macro profile_features(as_of, events=none) -%}
{%- set t = ts(as_of) -%}
{%- set src = events if events is not none else ref('resolved_events') -%}
{%- set in_90d = "e.event_at >= dateadd(day, -90, " ~ t ~ ")" -%}
select
    e.profile_id,
    {{ t }} as snapshot_at,
    datediff(day, max(case when e.event in ('Order Completed', 'Store Purchase') then e.event_at end), {{ t }}) as recency_days,
    datediff(day, min(e.event_at), {{ t }}) as tenure_days,
    sum(case when e.event = 'Order Completed' then 1 else 0 end) as frequency,
    {{ money_sum("e.event in ('Order Completed', 'Store Purchase')") }} as monetary,
    {{ money_avg("e.event = 'Order Completed'") }} as avg_order_value,
    sum(case when e.event = 'Order Completed' and {{ in_90d }} then 1 else 0 end) as orders_90d,
    {{ money_sum("e.event = 'Order Completed' and " ~ in_90d) }} as revenue_90d,
    sum(case when e.event = 'Product Viewed' and {{ in_90d }} then 1 else 0 end) as product_viewed_90d,
    sum(case when e.event = 'Product Added' and {{ in_90d }} then 1 else 0 end) as product_added_90d,
    sum(case when e.event = 'Email Opened' and {{ in_90d }} then 1 else 0 end) as emails_opened_90d,
    sum(case when e.event = 'Email Link Clicked' and {{ in_90d }} then 1 else 0 end) as emails_clicked_90d,
    sum(case when e.event = 'Order Refunded' and {{ in_90d }} then 1 else 0 end) as refunds_90d,
    {{ money_sum("e.event = 'Store Purchase' and e.event_at >= dateadd(day, -365, " ~ t ~ ")") }} as store_spend_365d,
    count(distinct case when {{ in_90d }} then date_trunc('day', e.event_at) end) as active_days_90d,
    max(case when e.event = 'Subscription Cancelled' and {{ in_90d }} then 1 else 0 end) as cancelled_90d
from {{ src }} as e
where e.event_at < {{ t }}
  and e.profile_id is not null
group by e.profile_id
{%- endmacro %}

{% macro profile_labels(as_of, days) -%}
{%- set t = ts(as_of) -%}
select
    e.profile_id,
    {{ money_sum("e.event in ('Order Completed', 'Store Purchase')") }} as ltv_90d,
    sum(case when e.event = 'Order Completed' then 1 else 0 end) as orders_next_90d
from {{ ref('resolved_events') }} as e
where e.event_at >= {{ t }}
  and e.event_at < dateadd(day, {{ days }}, {{ t }})
  and e.profile_id is not null
group by e.profile_id
{%- endmacro %}

{#- One list of model inputs, used by the training SELECTs and the predict_* calls alike,
    so the function's arguments are always in the order the model was trained on. -#}
{% macro model_inputs() -%}
recency_days, tenure_days, frequency, monetary, avg_order_value, orders_90d, revenue_90d,
product_viewed_90d, product_added_90d, emails_opened_90d, emails_clicked_90d, refunds_90d,
store_spend_365d, active_days_90d, cancelled_90d
{%- endmacro %}

{% macro repeat_inputs() -%}
recency_days, tenure_days, monetary, avg_order_value, product_viewed_90d, product_added_90d,
emails_opened_90d, emails_clicked_90d, refunds_90d, store_spend_365d, active_days_90d,
cancelled_90d
{%- endmacro %}

{#- A stable uniform number in [0, 1) per id and salt (md5-based: the same on every engine). -#}
{% macro uniform_draw(id_expr, salt) -%}
({% for i in range(7) %}(strpos('0123456789abcdef', substring(md5('{{ salt }}:' || cast({{ id_expr }} as varchar)), {{ i + 1 }}, 1)) - 1) * {{ 16 ** (6 - i) }}{% if not loop.last %} + {% endif %}{% endfor %}) / cast(268435456 as double precision)
{%- endmacro %}
