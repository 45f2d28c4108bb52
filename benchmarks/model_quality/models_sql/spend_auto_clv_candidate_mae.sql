{#- The same search selected on MAE, the objective on which the probabilistic models lead. -#}
{{ config(materialized='ml_model', target='holdout_spend', problem_type='regression',
          objective='mae', max_runtime=var('budget'), clv_horizon=39) }}
select {{ feature_columns() }}, holdout_spend
from {{ ref('customers') }} where split = 'train'
