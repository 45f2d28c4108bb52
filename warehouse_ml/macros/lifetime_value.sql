{#- Lifetime value (warehouse_ml/ml/clv/): the RFM table a model_type='clv' model is fitted on,
    in lifetimes' conventions, and its three SQL functions as traits. -#}
{#- @args
  @arg model: the CLV model's name (its functions are predict_<model>, ..._prob, ..._purchases)
  @arg frequency: the column of repeat purchases
  @arg recency: the column of the customer's age at the last purchase
  @arg T: the column of the customer's age at the cutoff
  @arg function: the model's function name when its config sets function=...; none: predict_<model>
-#}

{#- @doc One row per customer in lifetimes' RFM conventions, from a transactions relation: frequency
    (days with a purchase after the first), recency (first to last purchase day) and "T" (first
    purchase day to the cutoff) in `unit`s, monetary_value (the mean spend of the repeat purchase
    days; 0 for one-time buyers). Only transactions before the cutoff are read; purchases on one
    day are one purchase. T counts to the cutoff (lifetimes' observation_period_end is the last day
    read, so its T is one day less).
  @arg relation: transactions, one row each: a ref(), a source() or a SELECT
  @arg id_col: the customer id column
  @arg timestamp: the column of the purchase time (or date)
  @arg monetary_col: the column of the purchase amount
  @arg cutoff: the end of the calibration period: a date literal ('1997-10-01') or a SQL expression
  @arg unit: 'day' or 'week': the time unit of recency, T (and the model's horizon)
  @example {{ wml.rfm_summary(ref('orders'), 'customer_id', 'ordered_at', 'amount', cutoff='2026-07-01', unit='week') }}
-#}
{% macro rfm_summary(relation, id_col, timestamp, monetary_col, cutoff, unit='day') -%}
{%- if unit not in ['day', 'week'] -%}
{{ exceptions.raise_compiler_error("rfm_summary unit='" ~ unit ~ "' must be 'day' or 'week'.") }}
{%- endif -%}
{%- set key, ts, amount = quote_column(id_col), quote_column(timestamp), quote_column(monetary_col) -%}
{%- set src = ('(' ~ relation ~ ')') if (relation is string and (relation | trim | lower).startswith(('select', 'with'))) else relation -%}
{%- set at = ("cast('" ~ cutoff ~ "' as date)") if (cutoff is string and cutoff[:1].isdigit()) else ('cast(' ~ cutoff ~ ' as date)') -%}
{%- set per = '7.0' if unit == 'week' else '1.0' -%}
select
    {{ key }},
    count(*) - 1 as frequency,
    (max(wml_day) - min(wml_day)) / {{ per }} as recency,
    ({{ at }} - min(wml_day)) / {{ per }} as "T",
    coalesce(avg(case when wml_n > 1 then wml_amount end), 0) as monetary_value
from (
    select {{ key }}, wml_day, wml_amount,
           row_number() over (partition by {{ key }} order by wml_day) as wml_n
    from (
        select {{ key }}, cast({{ ts }} as date) as wml_day, sum({{ amount }}) as wml_amount
        from {{ src }} as wml_src
        where {{ ts }} is not null and {{ key }} is not null and cast({{ ts }} as date) < {{ at }}
        group by {{ key }}, cast({{ ts }} as date)
    ) as wml_days
) as wml_numbered
group by {{ key }}
{%- endmacro %}

{#- @doc Expected purchases over the model's horizon for each customer: a call of the CLV model's
    predict_<model>_purchases(frequency, recency, T) (BG/NBD's conditional expectation).
  @example {{ wml.expected_purchases('ltv') }} as purchases_next_39w
-#}
{% macro expected_purchases(model, frequency='frequency', recency='recency', T='T', function=none) -%}
{{ function or ('predict_' ~ model) }}_purchases({{ quote_column(frequency) }}, {{ quote_column(recency) }}, {{ quote_column(T) }})
{%- endmacro %}

{#- @doc The probability that the customer is still active (BG/NBD's P(alive)): a call of
    predict_<model>_prob(frequency, recency, T); 1 for a customer with no repeat purchase.
  @example {{ wml.p_alive('ltv') }} as p_alive
-#}
{% macro p_alive(model, frequency='frequency', recency='recency', T='T', function=none) -%}
{{ function or ('predict_' ~ model) }}_prob({{ quote_column(frequency) }}, {{ quote_column(recency) }}, {{ quote_column(T) }})
{%- endmacro %}

{#- @doc Expected spend over the model's horizon: expected purchases times Gamma-Gamma's expected
    average value, a call of predict_<model>(frequency, recency, T, monetary_value).
  @arg monetary: the column of the mean repeat purchase value
  @example {{ wml.expected_spend('ltv') }} as spend_next_39w
-#}
{% macro expected_spend(model, frequency='frequency', recency='recency', T='T', monetary='monetary_value', function=none) -%}
{{ function or ('predict_' ~ model) }}({{ quote_column(frequency) }}, {{ quote_column(recency) }}, {{ quote_column(T) }}, {{ quote_column(monetary) }})
{%- endmacro %}
