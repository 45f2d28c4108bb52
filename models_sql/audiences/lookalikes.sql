-- Prospects (no order yet) who behave like the best customers: the 10% of prospects
-- nearest, in standardized browsing and email engagement, to the centroid of the customers
-- in the top decile of predicted 90-day value. Each gets a stable ad-test arm.
with traits as (
    select t.profile_id, s.frequency, s.ltv_percentile, t.product_viewed_90d, t.product_added_90d,
           t.emails_opened_90d, t.emails_clicked_90d, t.active_days_90d
    from {{ ref('profile_traits') }} as t
    join {{ ref('customer_scores') }} as s using (profile_id)
),
scale as (
    select
        avg(product_viewed_90d) as v_mean, nullif(stddev_samp(product_viewed_90d), 0) as v_sd,
        avg(product_added_90d) as a_mean, nullif(stddev_samp(product_added_90d), 0) as a_sd,
        avg(emails_opened_90d) as o_mean, nullif(stddev_samp(emails_opened_90d), 0) as o_sd,
        avg(emails_clicked_90d) as c_mean, nullif(stddev_samp(emails_clicked_90d), 0) as c_sd,
        avg(active_days_90d) as d_mean, nullif(stddev_samp(active_days_90d), 0) as d_sd
    from traits
),
standardized as (
    select
        t.profile_id, t.frequency, t.ltv_percentile,
        (t.product_viewed_90d - s.v_mean) / s.v_sd as v,
        (t.product_added_90d - s.a_mean) / s.a_sd as a,
        (t.emails_opened_90d - s.o_mean) / s.o_sd as o,
        (t.emails_clicked_90d - s.c_mean) / s.c_sd as c,
        (t.active_days_90d - s.d_mean) / s.d_sd as d
    from traits as t
    cross join scale as s
),
centroid as (
    select avg(v) as v, avg(a) as a, avg(o) as o, avg(c) as c, avg(d) as d
    from standardized
    where frequency > 0 and ltv_percentile >= 0.9
),
distances as (
    select
        p.profile_id,
        sqrt(power(p.v - c.v, 2) + power(p.a - c.a, 2) + power(p.o - c.o, 2)
             + power(p.c - c.c, 2) + power(p.d - c.d, 2)) as distance
    from standardized as p
    cross join centroid as c
    where p.frequency = 0
),
ranked as (
    select profile_id, distance, percent_rank() over (order by distance) as nearness
    from distances
)
select
    profile_id,
    distance,
    {{ wml.ab_variant('profile_id', 'lookalike_2026_07', ['ads'], holdout=0.2) }} as arm
from ranked
where nearness <= 0.1
