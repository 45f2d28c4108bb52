-- RFM segments as KMeans clusters (Redshift ML's MODEL_TYPE KMEANS), on today's customers.
{{ config(
    materialized='ml_model',
    function='predict_rfm_cluster',
    problem_type='clustering',
    model_type='kmeans',
    k=5,
    tags=['ml']
) }}
select recency_days, frequency, monetary
from {{ ref('profile_traits') }}
where frequency > 0
