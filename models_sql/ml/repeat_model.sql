-- Repeat-purchase propensity: will a one-time buyer order again within 90 days?
{{ config(
    target='purchased_again',
    function='predict_repeat',
    problem_type='binary_classification',
    objective='auc'
) }}
select
    snapshot_date,
    {{ repeat_inputs() }},
    purchased_again
from {{ ref('training_ltv') }}
where frequency = 1
