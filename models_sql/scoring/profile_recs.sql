-- Each profile's next best products, in one statement: recommend_recs_all() scores every
-- profile with product events from those events as they are now (popular products fill
-- in), and profiles without any get the popular list (recommend_recs of nobody). Names and
-- prices come from the catalog. For one profile: select * from recommend_recs('<id>', 5).
with scored as (
    select profile_id, product_id, rank, reason from recommend_recs_all(5)
), popular as (
    select product_id, rank, reason from recommend_recs(null, 5)
), everyone as (
    select distinct profile_id from {{ ref('profile_traits') }}
)
select s.profile_id, s.rank, s.product_id, c.name, c.category, c.price, s.reason
from scored as s
join {{ ref('products') }} as c on c.product_id = s.product_id
union all
select e.profile_id, p.rank, p.product_id, c.name, c.category, c.price, p.reason
from everyone as e
cross join popular as p
join {{ ref('products') }} as c on c.product_id = p.product_id
where e.profile_id not in (select profile_id from scored)
