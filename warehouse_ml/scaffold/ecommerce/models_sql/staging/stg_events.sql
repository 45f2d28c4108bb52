-- Every behavioural event in one shape: online tracks and in-store sales (keyed by email).
select
    message_id as event_id, "timestamp" as event_at, event,
    nullif(trim(user_id), '') as user_id,
    nullif(trim(anonymous_id), '') as anonymous_id,
    nullif(lower(trim(email)), '') as email,
    category, revenue, channel
from {{ ref('tracks') }}
union all
select
    sale_id, "timestamp", 'Store Purchase', null, null,
    nullif(lower(trim(email)), ''), null, revenue, 'store'
from {{ ref('store_sales') }}
