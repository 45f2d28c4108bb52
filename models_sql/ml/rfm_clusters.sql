-- RFM segments as KMeans clusters (Redshift ML's MODEL_TYPE KMEANS), on today's customers.
-- No snapshots here (split_column=none): the silhouette is measured on a random hold-out.
{{ config(
    materialized='ml_model',
    function='predict_rfm_cluster',
    problem_type='clustering',
    model_type='kmeans',
    k=5,
    split_column=none
) }}
select recency_days, frequency, monetary
from {{ ref('profile_traits') }}
where frequency > 0
