-- Predicted spend over the next 90 days (Segment's Predicted LTV), regression.
{{ config(
    materialized='ml_model',
    target='ltv_90d',
    function='predict_ltv',
    problem_type='regression',
    model_type='auto',
    objective='mse',
    split_column='snapshot_date',
    eval_fraction=0.34,
    max_runtime=300,
    tags=['ml']
) }}
select
    snapshot_date,
    {{ model_inputs() }},
    ltv_90d
from {{ ref('training_ltv') }}
