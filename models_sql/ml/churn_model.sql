-- Likelihood to churn: customers with an order before the snapshot who place none in
-- the 90 days after it. Binary classification, evaluated by AUC on the latest snapshot.
{{ config(
    target='churned',
    function='predict_churn',
    problem_type='binary_classification',
    objective='auc'
) }}
select
    snapshot_date,
    {{ model_inputs() }},
    churned
from {{ ref('training_ltv') }}
where frequency > 0
