{#- The model inputs, in the order the trained functions take them. -#}
{% macro feature_columns() -%}
frequency, recency, "T", monetary_value, total_spend, first_spend, mean_cds, tenure_days,
days_since_last, mean_gap_days, max_gap_days, gap_cv, orders_last_4w, orders_last_13w,
spend_last_13w, days_ratio
{%- endmacro %}
