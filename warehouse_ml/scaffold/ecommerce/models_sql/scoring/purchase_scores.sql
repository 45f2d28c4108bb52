-- Every profile scored in SQL by the trained model, with Segment-style percentile cohorts.
select
    profile_id,
    orders,
    monetary,
    predict_purchase_prob({{ purchase_inputs() }}) as purchase_probability,
    percent_rank() over (order by predict_purchase_prob({{ purchase_inputs() }})) as purchase_percentile
from {{ ref('profile_traits') }}
