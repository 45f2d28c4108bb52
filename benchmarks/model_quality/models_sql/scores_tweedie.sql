{{ config(materialized='table') }}
-- The Tweedie model's holdout predictions alone: what `model_quality.py --only tweedie`
-- builds (with its ancestors) to measure that one row without training every model.
with scored as (
    select *, {{ clv_feature_columns() }}
    from {{ ref('customers') }} where split = 'test'
)
select customer_id, holdout_spend, bought_again,
       predict_spend_auto_tweedie({{ feature_columns() }}, clv_purchases, clv_alive, clv_spend) as tweedie_spend
from scored
