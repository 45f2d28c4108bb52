-- The next win-back audience (scored today): customers in the top quarter of predicted 90-day value whose churn
-- probability is high. Each member gets a stable experiment arm; 10% are held out so the
-- campaign's lift can be measured (campaign_results).
select
    profile_id,
    predicted_ltv_90d,
    churn_probability,
    rfm_cluster,
    {{ wml.ab_variant('profile_id', 'winback_2026_07', ['email', 'discount'], holdout=0.1) }} as arm
from {{ ref('customer_scores') }}
where ltv_percentile >= 0.75
  and churn_probability >= 0.5
