-- Lifetime event counts per profile, kept up to date incrementally: a rerun recomputes only
-- the profiles with events newer than the table's high-water mark and merges them in.
{{ config(materialized='incremental', unique_key='profile_id') }}
select
    profile_id,
    count(*) as events,
    count(case when event = 'Order Completed' then 1 end) as orders,
    max(event_at) as last_event_at
from {{ ref('resolved_events') }}
where profile_id is not null
{% if is_incremental() %}
  and profile_id in (
      select profile_id from {{ ref('resolved_events') }}
      where event_at > (select max(last_event_at) from {{ this }})
  )
{% endif %}
group by profile_id
