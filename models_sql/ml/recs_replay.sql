-- The demo recommender as it was on var('recs_experiment').start: trained only on events
-- before that day, so recs_experiment can measure its lists on the days after.
{%- set x = var('recs_experiment') %}
{{ config(
    model_type='recommender',
    user_column='profile_id',
    item_column='product_id',
    event_column='event',
    event_weights={'Product Added': 3, 'Product Viewed': 1},
    timestamp_column='event_at',
    half_life_days=90,
    algorithm='item_knn',
    k=5
) }}
select profile_id, product_id, event, event_at
from {{ ref('resolved_events') }}
where product_id is not null and event_at < '{{ x.start }}'
