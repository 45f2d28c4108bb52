-- Each profile's next best products, as its arm of the recommender experiment
-- (var recs_experiment, assigned by wml.ab_variant) shows them:
-- - 'recommender': recommend_recs_all() scores every profile with product events from
--   those events as they are now (popular products fill in);
-- - 'popular', and profiles without product events: the most popular products the
--   profile has not viewed or added yet (recommend_recs of nobody, ranked again).
-- Names and prices come from the catalog. For one profile: select * from recommend_recs('<id>', 5).
{%- set x = var('recs_experiment') %}
with everyone as (
    select profile_id,
           {{ wml.ab_variant('profile_id', x.experiment, x.variants, holdout=0) }} as arm
    from {{ ref('profile_traits') }}
), scored as (
    select profile_id, product_id, rank, reason from recommend_recs_all(5)
), seen as (
    select distinct profile_id, product_id
    from {{ ref('resolved_events') }}
    where product_id is not null and event_at < '{{ var("as_of") }}'
), popular as (
    select e.profile_id, p.product_id, p.reason,
           row_number() over (partition by e.profile_id order by p.rank) as rank
    from everyone as e
    cross join recommend_recs(null, 30) as p
    where (e.arm = 'popular' or e.profile_id not in (select profile_id from scored))
      and not exists (select 1 from seen as s
                      where s.profile_id = e.profile_id and s.product_id = p.product_id)
), shown as (
    select s.profile_id, s.product_id, s.rank, s.reason
    from scored as s
    join everyone as e on e.profile_id = s.profile_id and e.arm = 'recommender'
    union all
    select profile_id, product_id, rank, reason from popular where rank <= 5
)
select r.profile_id, e.arm, r.rank, r.product_id, c.name, c.category, c.price, r.reason
from shown as r
join everyone as e on e.profile_id = r.profile_id
join {{ ref('products') }} as c on c.product_id = r.product_id
