-- The recommender A/B test of var('recs_experiment'), replayed offline: each profile with
-- product events before `start` is assigned an arm by wml.ab_variant (as customer_scores
-- assigns recs_arm), gets that arm's five products as of `start` (recommend_recs_replay_all,
-- or the most popular products it had not interacted with), and converts when it adds one
-- of them to a cart in the `days` after. Nobody saw these lists: this measures how well
-- each arm predicts the next add, the offline stand-in for a live test.
{%- set x = var('recs_experiment') %}
{%- set start = "cast('" ~ x.start ~ "' as timestamp)" %}
with profiles as (
    select profile_id, product_id
    from {{ ref('resolved_events') }}
    where product_id is not null and event_at < {{ start }}
      and event in ('Product Added', 'Product Viewed')
),
arms as (
    select profile_id, {{ wml.ab_variant('profile_id', x.experiment, x.variants, holdout=0) }} as arm
    from (select distinct profile_id from profiles) as p
),
popular as (
    select a.profile_id, r.product_id,
           row_number() over (partition by a.profile_id order by r.rank) as position
    from arms as a
    cross join recommend_recs_replay(null, 30) as r
    where a.arm = 'popular'
      and not exists (select 1 from profiles as s where s.profile_id = a.profile_id and s.product_id = r.product_id)
),
shown as (
    select r.profile_id, r.product_id
    from recommend_recs_replay_all(5) as r
    join arms as a on a.profile_id = r.profile_id and a.arm = 'recommender'
    union all
    select profile_id, product_id from popular where position <= 5
),
added as (
    select distinct profile_id, product_id
    from {{ ref('resolved_events') }}
    where event = 'Product Added'
      and event_at >= {{ start }} and event_at < dateadd(day, {{ x.days }}, {{ start }})
)
select
    a.profile_id,
    a.arm,
    case when exists (
        select 1 from shown as s join added as d using (profile_id, product_id)
        where s.profile_id = a.profile_id
    ) then 1 else 0 end as converted
from arms as a
