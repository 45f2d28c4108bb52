{{ config(materialized='table') }}
-- The answer: spend in the 39 weeks after the cutoff (0 for customers who did not return).
select f.customer_id,
       coalesce(sum(o.amount), 0) as holdout_spend,
       cast(count(o.customer_id) > 0 as integer) as bought_again
from {{ ref('features') }} as f
left join {{ ref('orders') }} as o
  on o.customer_id = f.customer_id
 and o.order_date >= date '{{ var("cutoff") }}'
 and o.order_date < date '{{ var("cutoff") }}' + interval {{ var("horizon_days") }} day
group by f.customer_id
