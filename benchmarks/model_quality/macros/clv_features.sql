{#- The CLV model's predictions as features (fitted on the calibration period only, so they
    carry no holdout information). -#}
{% macro clv_feature_columns() -%}
{{ wml.expected_purchases('clv') }} as clv_purchases, {{ wml.p_alive('clv') }} as clv_alive,
{{ wml.expected_spend('clv') }} as clv_spend
{%- endmacro %}
