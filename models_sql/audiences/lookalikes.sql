-- Prospects (no order yet) who behave like the best customers: the 10% of prospects
-- nearest, in standardized browsing and email engagement, to the centroid of the customers
-- in the top decile of predicted 90-day value (wml.lookalike). Each gets a stable ad-test arm.
{%- set traits -%}
select t.profile_id, s.frequency, s.ltv_percentile, t.product_viewed_90d, t.product_added_90d,
       t.emails_opened_90d, t.emails_clicked_90d, t.active_days_90d
from {{ ref('profile_traits') }} as t
join {{ ref('customer_scores') }} as s using (profile_id)
{%- endset %}
select
    profile_id,
    distance,
    {{ wml.ab_variant('profile_id', 'lookalike_2026_07', ['ads'], holdout=0.2) }} as arm
from ({{ wml.lookalike(
    traits,
    features=['product_viewed_90d', 'product_added_90d', 'emails_opened_90d', 'emails_clicked_90d', 'active_days_90d'],
    seeds='frequency > 0 and ltv_percentile >= 0.9',
    candidates='frequency = 0',
    top=0.1,
) }}) as nearest
