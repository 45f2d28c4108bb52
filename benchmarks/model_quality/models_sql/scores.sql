{{ config(materialized='table') }}
with scored as (
    select *, {{ clv_feature_columns() }}
    from {{ ref('customers') }} where split = 'test'
)
select customer_id, holdout_spend, bought_again,
       predict_spend_auto({{ feature_columns() }}) as auto_spend,
       predict_repeat_auto_prob({{ feature_columns() }}) as auto_repeat,
       predict_spend_auto_clv({{ feature_columns() }}, clv_purchases, clv_alive, clv_spend) as stacked_spend,
       predict_repeat_auto_clv_prob({{ feature_columns() }}, clv_purchases, clv_alive, clv_spend) as stacked_repeat,
       predict_spend_auto_clv_candidate({{ feature_columns() }}) as candidate_spend,
       predict_spend_auto_clv_candidate_mae({{ feature_columns() }}) as candidate_mae_spend,
       predict_spend_auto_tweedie({{ feature_columns() }}, clv_purchases, clv_alive, clv_spend) as tweedie_spend,
       predict_spend_auto_mae({{ feature_columns() }}) as mae_spend,
       predict_spend_auto_clv_mae({{ feature_columns() }}, clv_purchases, clv_alive, clv_spend) as stacked_mae_spend,
       clv_spend, clv_purchases, clv_alive
from scored
