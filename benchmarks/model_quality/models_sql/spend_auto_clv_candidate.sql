{#- AUTO with BG/NBD + Gamma-Gamma as one more candidate: the RFM columns carry lifetimes'
    names (frequency, recency, "T", monetary_value), so only the horizon is needed. -#}
{{ config(materialized='ml_model', target='holdout_spend', problem_type='regression',
          max_runtime=var('budget'), clv_horizon=39) }}
select {{ feature_columns() }}, holdout_spend
from {{ ref('customers') }} where split = 'train'
