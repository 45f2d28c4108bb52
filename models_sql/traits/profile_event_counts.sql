-- Lifetime event counts per profile, kept up to date incrementally: a rerun recomputes
-- only the profiles with events newer than the table's high-water mark, and merges them
-- in on profile_id (tests/test_demo_project.py proves it equals a full rebuild).
{{ config(materialized='incremental', unique_key='profile_id', on_schema_change='sync_all_columns') }}
select
    profile_id,
    count(*) as events,
    sum(case when event = 'Order Completed' then 1 else 0 end) as orders,
    round(nvl(sum(case when event in ('Order Completed', 'Store Purchase') then revenue end), 0), 2) as revenue,
    sum(case when event = 'Email Link Clicked' then 1 else 0 end) as emails_clicked,
    sum(case when event = 'Product Added' then 1 else 0 end) as products_added,
    max(event_at) as last_event_at
from {{ ref('resolved_events') }}
where profile_id is not null
{% if is_incremental() %}
  and profile_id in (
      select profile_id
      from {{ ref('resolved_events') }}
      where event_at > (select max(last_event_at) from {{ this }})
  )
{% endif %}
group by profile_id
