-- Segment-style computed traits from the package's macros, in one scan of the events (as of
-- var('as_of')). Their `timestamp` argument comes from vars.wml in wml_project.yml;
-- `wml macros` lists every trait and its arguments.
select
    profile_id,
    {{ wml.event_counter('Order Completed', within='90 days') }} as orders_90d,
    {{ wml.aggregation('sum', 'revenue', event='Order Completed', within='90 days') }} as revenue_90d,
    {{ wml.event_counter('Product Viewed', within='90 days') }} as product_viewed_90d,
    {{ wml.unique_list('category', event='Product Viewed', within='90 days') }} as categories_viewed_90d,
    {{ wml.unique_list_count('product_id', event='Product Added', within='30 days') }} as products_added_30d,
    {{ wml.first_value('channel', event='Order Completed') }} as first_order_channel,
    {{ wml.last_value('category', event='Product Viewed') }} as last_category_viewed
from {{ ref('resolved_events') }}
where profile_id is not null
group by profile_id
