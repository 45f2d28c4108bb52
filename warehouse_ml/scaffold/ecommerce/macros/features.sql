{#- Computed traits as of a point in time: the same features train (as_of = the cutoff) and
    score (as_of = today). Trait macros read only events before as_of; their `timestamp`
    argument comes from vars.wml in wml_project.yml. -#}
{% macro profile_features(as_of) -%}
select
    profile_id,
    {{ wml.event_counter('Order Completed', as_of=as_of) }} as orders,
    {{ wml.event_counter('Order Completed', within='90 days', as_of=as_of) }} as orders_90d,
    coalesce({{ wml.aggregation('sum', 'revenue', event=['Order Completed', 'Store Purchase'], as_of=as_of) }}, 0) as monetary,
    {{ wml.event_counter('Product Viewed', within='30 days', as_of=as_of) }} as product_viewed_30d,
    {{ wml.event_counter('Email Opened', within='90 days', as_of=as_of) }} as emails_opened_90d,
    {{ wml.unique_list_count('category', event='Product Viewed', within='90 days', as_of=as_of) }} as categories_viewed_90d,
    {{ wml.last_value('category', event='Product Viewed', as_of=as_of) }} as last_category
from {{ ref('resolved_events') }}
where profile_id is not null
group by profile_id
{%- endmacro %}

{#- The model's inputs, in one place, so training and scoring pass them in the same order. -#}
{% macro purchase_inputs() -%}
orders, orders_90d, monetary, product_viewed_30d, emails_opened_90d, categories_viewed_90d
{%- endmacro %}
