-- The win-back campaign of var('winback'): who was in it, their arm, and whether they
-- ordered in the campaign window. The audience is defined as of the assignment day from
-- events before it only (lapsed customers: an account and no order in `lapsed_days`); the
-- outcome is read from the events after it, so treated and holdout compare honestly.
{%- set w = var('winback') %}
{%- set start = "cast('" ~ w.start ~ "' as timestamp)" %}
with customers as (
    select profile_id, max(identifier_value) as user_id
    from {{ ref('identity_map') }}
    where identifier_type = 'user_id'
    group by profile_id
),
history as (
    select
        profile_id,
        max(case when event_at < {{ start }} then event_at end) as last_order_at,
        sum(case when event_at >= {{ start }} and event_at < dateadd(day, {{ w.days }}, {{ start }}) then 1 else 0 end) as orders_in_window
    from {{ ref('resolved_events') }}
    where event = 'Order Completed' and profile_id is not null
    group by profile_id
)
select
    c.profile_id,
    c.user_id,
    h.last_order_at,
    {{ wml.ab_variant('c.user_id', w.experiment, w.variants, holdout=w.holdout) }} as arm,
    case when h.orders_in_window > 0 then 1 else 0 end as converted
from customers as c
join history as h using (profile_id)
where h.last_order_at < dateadd(day, -{{ w.lapsed_days }}, {{ start }})
