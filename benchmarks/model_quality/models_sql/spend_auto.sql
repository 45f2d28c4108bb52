{{ config(materialized='ml_model', target='holdout_spend', problem_type='regression',
          max_runtime=var('budget')) }}
select {{ feature_columns() }}, holdout_spend
from {{ ref('customers') }} where split = 'train'
