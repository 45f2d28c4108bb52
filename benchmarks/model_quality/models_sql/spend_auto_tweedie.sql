{{ config(materialized='ml_model', target='holdout_spend', problem_type='regression',
          loss='tweedie', max_runtime=var('budget')) }}
-- AUTO with a Tweedie loss (a point mass at $0 and a long tail: what spend looks like), its
-- power searched, over the same features plus the BG/NBD model's outputs.
select {{ feature_columns() }}, {{ clv_feature_columns() }}, holdout_spend
from {{ ref('customers') }} where split = 'train'
