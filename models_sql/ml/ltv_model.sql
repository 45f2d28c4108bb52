-- Predicted spend over the next 90 days (Segment's Predicted LTV), regression.
{{ config(
    target='ltv_90d',
    function='predict_ltv',
    problem_type='regression',
    objective='mse'
) }}
select
    snapshot_date,
    {{ model_inputs() }},
    ltv_90d
from {{ ref('training_ltv') }}
