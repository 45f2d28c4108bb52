-- Likelihood to churn: customers with an order before the snapshot who place none in
-- the 90 days after it. Binary classification, evaluated by AUC on the latest snapshot.
{{ config(
    materialized='ml_model',
    target='churned',
    function='predict_churn',
    problem_type='binary_classification',
    model_type='auto',
    objective='auc',
    split_column='snapshot_date',
    eval_fraction=0.34,
    max_runtime=300,
    tags=['ml']
) }}
select
    snapshot_date,
    {{ model_inputs() }},
    churned
from {{ ref('training_ltv') }}
where frequency > 0
