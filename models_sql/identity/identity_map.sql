-- Identifier -> profile_id. (Placeholder until the wml identity macro lands: a person is a
-- user_id; devices and emails join the user_id they were seen with most.)
with observed as (
    select user_id, anonymous_id, email
    from {{ ref('stg_events') }}
    union all
    select nullif(trim(user_id), ''), nullif(trim(anonymous_id), ''), nullif(lower(trim(email)), '')
    from {{ ref('identifies') }}
),
clean as (
    select
        user_id,
        case when anonymous_id in ('anonymous', '0', '-1', '00000000') then null else anonymous_id end as anonymous_id,
        case when email in ('null', 'test@test.com') then null else email end as email
    from observed
),
links as (
    select 'anonymous_id' as identifier_type, anonymous_id as identifier_value, user_id, count(*) as n
    from clean where anonymous_id is not null and user_id is not null group by 1, 2, 3
    union all
    select 'email', email, user_id, count(*) from clean where email is not null and user_id is not null group by 1, 2, 3
),
best as (
    select identifier_type, identifier_value, user_id,
           row_number() over (partition by identifier_type, identifier_value order by n desc, user_id) as rn
    from links
)
select distinct 'user_id' as identifier_type, user_id as identifier_value, user_id as profile_id
from clean where user_id is not null
union all
select identifier_type, identifier_value, user_id from best where rn = 1
union all
select distinct 'anonymous_id', anonymous_id, 'anon:' || anonymous_id
from clean
where anonymous_id is not null
  and anonymous_id not in (select identifier_value from best where identifier_type = 'anonymous_id')
union all
select distinct 'email', email, 'email:' || email
from clean
where email is not null
  and email not in (select identifier_value from best where identifier_type = 'email')
