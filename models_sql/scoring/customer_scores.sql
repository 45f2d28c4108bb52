-- Every profile scored in SQL by the trained models, with Segment-style cohorts:
-- purchase-intent tiers and LTV percentiles (0.85 = top 15%).
with scored as (
    select
        profile_id,
        recency_days,
        frequency,
        monetary,
        greatest(predict_ltv({{ model_inputs() }}), 0) as predicted_ltv_90d,
        case when frequency > 0 then predict_churn_prob({{ model_inputs() }}) end as churn_probability,
        case when frequency = 1 then predict_repeat_prob({{ repeat_inputs() }}) end as repeat_probability,
        case when frequency > 0 then predict_rfm_cluster(recency_days, frequency, monetary) end as rfm_cluster
    from {{ ref('profile_traits') }}
)
select
    *,
    percent_rank() over (order by predicted_ltv_90d) as ltv_percentile,
    case
        when frequency = 0 then 'prospect'
        when churn_probability < 0.4 then 'high'
        when churn_probability < 0.7 then 'medium'
        else 'low'
    end as purchase_intent,
    case
        when percent_rank() over (order by predicted_ltv_90d) >= 0.9 then 'top 10%'
        when percent_rank() over (order by predicted_ltv_90d) >= 0.75 then 'top 25%'
        when percent_rank() over (order by predicted_ltv_90d) >= 0.5 then 'top 50%'
        else 'bottom 50%'
    end as ltv_cohort
from scored
