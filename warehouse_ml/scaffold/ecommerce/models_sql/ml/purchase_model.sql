-- Likelihood to purchase (a Segment prediction): binary classification. Building it
-- deploys the SQL functions predict_purchase(...) and predict_purchase_prob(...).
{{ config(target='purchased', function='predict_purchase', problem_type='binary_classification', objective='auc') }}
select {{ purchase_inputs() }}, purchased
from {{ ref('training_purchase') }}
