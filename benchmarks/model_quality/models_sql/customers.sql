{{ config(materialized='table') }}
select f.*, l.holdout_spend, l.bought_again,
       case when f.customer_id % 2 = 0 then 'train' else 'test' end as split
from {{ ref('features') }} as f
join {{ ref('labels') }} as l using (customer_id)
