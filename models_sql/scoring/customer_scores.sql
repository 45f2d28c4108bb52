-- Every profile scored in SQL by the trained models, with Segment-style cohorts:
-- purchase-intent tiers and LTV percentiles (0.85 = top 15%), and the next best products
-- from the recommender (profile_recs: "id name (price)", best first).
-- Each score column holds the model's own output (ltv_score may be negative: a linear
-- model), so wml records its distribution for the drift tests in models_sql/schema.yml;
-- predicted_ltv_90d is the spend forecast clamped at 0.
with raw as (
    select
        profile_id,
        recency_days,
        frequency,
        monetary,
        predict_ltv({{ model_inputs() }}) as ltv_score,
        case when frequency > 0 then predict_churn_prob({{ model_inputs() }}) end as churn_probability,
        case when frequency = 1 then predict_repeat_prob({{ repeat_inputs() }}) end as repeat_probability,
        case when frequency > 0 then predict_rfm_cluster(recency_days, frequency, monetary) end as rfm_cluster
    from {{ ref('profile_traits') }}
), scored as (
    select
        profile_id, recency_days, frequency, monetary,
        greatest(ltv_score, 0) as predicted_ltv_90d,
        churn_probability, repeat_probability, rfm_cluster, ltv_score
    from raw
)
select
    scored.*,
    {{ wml.percentile('predicted_ltv_90d') }} as ltv_percentile,
    -- Intent from the churn model: likely to keep buying = high; prospects have no score.
    {{ wml.intent_tier('1 - churn_probability', thresholds=[0.6, 0.3], missing='prospect') }} as purchase_intent,
    {{ wml.percentile_cohort('predicted_ltv_90d', buckets=[0.9, 0.75, 0.5]) }} as ltv_cohort,
    recs.product_recs,
    -- The recommender experiment's arm (var recs_experiment): which list product_recs is.
    recs.recs_arm
from scored
left join (
    select
        profile_id,
        listagg(product_id || ' ' || name || ' (' || cast(price as varchar) || ')', '; ')
            within group (order by rank) as product_recs,
        max(arm) as recs_arm
    from {{ ref('profile_recs') }}
    group by profile_id
) as recs using (profile_id)
