{{ config(materialized='ml_model', target='bought_again', problem_type='binary_classification',
          objective='AUC', max_runtime=var('budget')) }}
select {{ feature_columns() }}, {{ clv_feature_columns() }}, bought_again
from {{ ref('customers') }} where split = 'train'
