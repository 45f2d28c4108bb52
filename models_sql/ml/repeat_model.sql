-- Repeat-purchase propensity: will a one-time buyer order again within 90 days?
{{ config(
    materialized='ml_model',
    target='purchased_again',
    function='predict_repeat',
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
    {{ repeat_inputs() }},
    purchased_again
from {{ ref('training_ltv') }}
where frequency = 1
