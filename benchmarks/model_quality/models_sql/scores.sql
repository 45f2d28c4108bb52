{{ config(materialized='table') }}
select customer_id, holdout_spend, bought_again,
       predict_spend_auto({{ feature_columns() }}) as auto_spend,
       predict_repeat_auto_prob({{ feature_columns() }}) as auto_repeat,
       predict_clv(frequency, recency, "T", monetary_value) as clv_spend,
       predict_clv_purchases(frequency, recency, "T") as clv_purchases,
       predict_clv_prob(frequency, recency, "T") as clv_alive
from {{ ref('customers') }} where split = 'test'
