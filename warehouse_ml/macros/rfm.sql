{#-
  rfm_scores(relation, recency_col, frequency_col, monetary_col, id_col, recency='days')

  A SELECT of id_col, the three input columns, r_score, f_score, m_score (quintiles 1-5,
  5 best, by NTILE(5) with id_col breaking ties so every run gives the same answer),
  rfm_score (text such as '545') and rfm_segment.
  recency='days'       recency_col counts days since the last purchase (fewer is better);
  recency='timestamp'  recency_col is the last purchase time (later is better).
  NULL recency (never bought) scores 1; NULL frequency or monetary scores lowest.

  rfm_segment reads r_score against fm = the mean of f_score and m_score rounded up:
      r 5,   fm 4-5  champions            r 3-4, fm 4-5  loyal_customers
      r 4-5, fm 2-3  potential_loyalists  r 5,   fm 1    new_customers
      r 4,   fm 1    promising            r 3,   fm 3    need_attention
      r 3,   fm 1-2  about_to_sleep       r 1-2, fm 5    cant_lose_them
      r 1-2, fm 3-4  at_risk              r 1-2, fm 1-2  hibernating
-#}

{#- @doc A SELECT of id_col, the three inputs, r_score, f_score, m_score (NTILE(5), 5 best, ties
    broken by id_col), rfm_score (text such as '545') and rfm_segment (champions, loyal_customers,
    ..., hibernating: see the comment above). NULL recency scores 1; NULL frequency or monetary lowest.
  @arg relation: one row per customer: a ref(), a source() or a SELECT
  @arg recency_col: days since the last purchase, or its time with recency='timestamp'
  @arg frequency_col: the number of purchases
  @arg monetary_col: the amount spent
  @arg id_col: the customer id column (also breaks ties)
  @arg recency: 'days' (fewer is better) or 'timestamp' (later is better)
  @example {{ wml.rfm_scores(ref('customer_totals'), 'days_since_order', 'orders', 'revenue', 'profile_id') }}
-#}
{% macro rfm_scores(relation, recency_col, frequency_col, monetary_col, id_col, recency='days') -%}
{%- if recency not in ['days', 'timestamp'] -%}
{{ exceptions.raise_compiler_error("rfm_scores recency='" ~ recency ~ "' must be 'days' (days since the last purchase) or 'timestamp' (the last purchase time).") }}
{%- endif -%}
{%- set rec, frq, mon, key = quote_column(recency_col), quote_column(frequency_col), quote_column(monetary_col), quote_column(id_col) -%}
{%- set src = ('(' ~ relation ~ ')') if (relation is string and (relation | trim | lower).startswith(('select', 'with'))) else relation -%}
select
    {{ key }}, {{ rec }}, {{ frq }}, {{ mon }},
    r_score, f_score, m_score,
    cast(r_score as varchar) || cast(f_score as varchar) || cast(m_score as varchar) as rfm_score,
    case
        when r_score = 5 and fm >= 4 then 'champions'
        when r_score >= 3 and fm >= 4 then 'loyal_customers'
        when r_score >= 4 and fm >= 2 then 'potential_loyalists'
        when r_score = 5 then 'new_customers'
        when r_score = 4 then 'promising'
        when r_score = 3 and fm = 3 then 'need_attention'
        when r_score = 3 then 'about_to_sleep'
        when fm = 5 then 'cant_lose_them'
        when fm >= 3 then 'at_risk'
        else 'hibernating'
    end as rfm_segment
from (
    select
        *,
        cast(floor((f_score + m_score + 1) / 2.0) as integer) as fm
    from (
        select
            {{ key }}, {{ rec }}, {{ frq }}, {{ mon }},
            ntile(5) over (order by {{ rec }} {{ 'desc' if recency == 'days' else 'asc' }} nulls first, {{ key }}) as r_score,
            ntile(5) over (order by {{ frq }} asc nulls first, {{ key }}) as f_score,
            ntile(5) over (order by {{ mon }} asc nulls first, {{ key }}) as m_score
        from {{ src }} as wml_src
    ) as scored
) as with_fm
{%- endmacro %}
