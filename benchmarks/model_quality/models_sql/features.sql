{{ config(materialized='table') }}
-- Everything known at the cutoff, per customer: RFM in lifetimes' conventions (weeks),
-- and what an analyst adds (gaps between purchases, recent activity).
with cal as (
    select o.*,
           row_number() over (partition by customer_id order by order_date) as n,
           datediff('day', lag(order_date) over (partition by customer_id order by order_date),
                    order_date) as gap
    from {{ ref('orders') }} as o
    where order_date < date '{{ var("cutoff") }}'
), per as (
    select
        customer_id,
        min(order_date) as first_date,
        max(order_date) as last_date,
        count(*) - 1 as frequency,
        sum(amount) as total_spend,
        max(case when n = 1 then amount end) as first_spend,
        avg(case when n > 1 then amount end) as repeat_mean,
        avg(cds) as mean_cds,
        avg(gap) as mean_gap_days,
        max(gap) as max_gap_days,
        stddev_pop(gap) / nullif(avg(gap), 0) as gap_cv,
        count(*) filter (where order_date >= date '{{ var("cutoff") }}' - interval 28 day) as orders_last_4w,
        count(*) filter (where order_date >= date '{{ var("cutoff") }}' - interval 91 day) as orders_last_13w,
        coalesce(sum(amount) filter (where order_date >= date '{{ var("cutoff") }}' - interval 91 day), 0)
            as spend_last_13w
    from cal
    group by customer_id
)
select
    customer_id,
    frequency,
    datediff('day', first_date, last_date) / 7.0 as recency,
    datediff('day', first_date, date '{{ var("cutoff") }}') / 7.0 as "T",
    coalesce(repeat_mean, 0) as monetary_value,
    total_spend,
    first_spend,
    mean_cds,
    datediff('day', first_date, date '{{ var("cutoff") }}') as tenure_days,
    datediff('day', last_date, date '{{ var("cutoff") }}') as days_since_last,
    mean_gap_days,
    max_gap_days,
    gap_cv,
    orders_last_4w,
    orders_last_13w,
    spend_last_13w,
    -- how late in the customer's life the last purchase came (1: at the cutoff)
    datediff('day', first_date, last_date) / greatest(datediff('day', first_date, date '{{ var("cutoff") }}'), 1)
        as days_ratio
from per
