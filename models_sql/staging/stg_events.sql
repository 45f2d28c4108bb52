-- Every behavioural event in one shape: online tracks and in-store sales (keyed by email).
select
    message_id as event_id,
    "timestamp" as event_at,
    event,
    nullif(trim(user_id), '') as user_id,
    nullif(trim(anonymous_id), '') as anonymous_id,
    nullif(lower(trim(email)), '') as email,
    order_id,
    product_id,
    category,
    price,
    quantity,
    revenue,
    campaign_id,
    channel
from {{ ref('tracks') }}
union all
select
    sale_id,
    "timestamp",
    'Store Purchase',
    null,
    null,
    nullif(lower(trim(email)), ''),
    null,
    null,
    null,
    null,
    items,
    revenue,
    null,
    'store'
from {{ ref('store_sales') }}
