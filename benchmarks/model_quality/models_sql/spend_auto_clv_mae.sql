{{ config(materialized='ml_model', target='holdout_spend', problem_type='regression',
          objective='mae', max_runtime=var('budget')) }}
-- Selected on MAE, with the BG/NBD model's outputs as three more features.
select {{ feature_columns() }}, {{ clv_feature_columns() }}, holdout_spend
from {{ ref('customers') }} where split = 'train'
