{{ config(materialized='table') }}
-- One purchase per customer and day, as lifetimes counts them.
select customer_id, order_date, sum(amount) as amount, sum(cds) as cds
from {{ ref('transactions') }}
group by customer_id, order_date
