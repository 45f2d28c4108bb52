{{ config(materialized='ml_model', model_type='clv', horizon=39) }}
-- Gamma-Gamma models positive spend: the one repeat buyer whose repeat orders were all $0
-- is left out of the fit (wml refuses the table otherwise, naming the row).
select frequency, recency, "T", monetary_value
from {{ ref('customers') }}
where split = 'train' and (frequency = 0 or monetary_value > 0)
