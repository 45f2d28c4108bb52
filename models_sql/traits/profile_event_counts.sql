-- Lifetime event counts per profile, kept up to date incrementally: a rerun recomputes
-- only the profiles whose events or identity changed, and merges them in on profile_id
-- (tests/test_demo_project.py proves it equals a full rebuild after new events,
-- late-arriving events and identity merges).
--
-- Which profiles changed: events are append-only but may arrive late (with timestamps
-- before the last run's newest event), and an identify can move a device's past events
-- to another profile. Neither shows in event_at, and the events carry no load time, so a
-- profile is re-processed when the identity graph gives it a different number of
-- identifiers than the stored row, or its event count or first / last event time
-- differ from the stored row: a count-only pass instead of every trait. The post_hook
-- deletes the rows of profiles that no longer exist (merged into another one).
{{ config(
    materialized='incremental',
    unique_key='profile_id',
    on_schema_change='sync_all_columns',
    post_hook="delete from {{ this }} where profile_id not in (select profile_id from {{ ref('resolved_events') }} where profile_id is not null)",
) }}
with events as (
    select * from {{ ref('resolved_events') }} where profile_id is not null
),
identities as (
    select profile_id, count(*) as identifiers
    from {{ ref('identity_map') }}
    group by profile_id
)
{%- if is_incremental() %},
signatures as (
    select profile_id, count(*) as events, min(event_at) as first_event_at, max(event_at) as last_event_at
    from events
    group by profile_id
),
changed as (
    select s.profile_id
    from signatures as s
    left join identities as i using (profile_id)
    left join {{ this }} as old using (profile_id)
    where old.profile_id is null
       or old.events <> s.events
       or old.first_event_at <> s.first_event_at
       or old.last_event_at <> s.last_event_at
       or old.identifiers is distinct from i.identifiers
)
{%- endif %}
select
    e.profile_id,
    count(*) as events,
    sum(case when e.event = 'Order Completed' then 1 else 0 end) as orders,
    {{ money_sum("e.event in ('Order Completed', 'Store Purchase')") }} as revenue,
    sum(case when e.event = 'Email Link Clicked' then 1 else 0 end) as emails_clicked,
    sum(case when e.event = 'Product Added' then 1 else 0 end) as products_added,
    min(e.event_at) as first_event_at,
    max(e.event_at) as last_event_at,
    max(i.identifiers) as identifiers
from events as e
left join identities as i using (profile_id)
{%- if is_incremental() %}
where e.profile_id in (select profile_id from changed)
{%- endif %}
group by e.profile_id
