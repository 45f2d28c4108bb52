-- Events with the profile they belong to. An event carries up to three identifiers; they
-- all map to one profile (identity_map guarantees it), the highest-priority one is used.
select
    e.*,
    coalesce(u.profile_id, m.profile_id, a.profile_id) as profile_id
from {{ ref('stg_events') }} as e
left join {{ ref('identity_map') }} as u
    on u.identifier_type = 'user_id' and u.identifier_value = e.user_id
left join {{ ref('identity_map') }} as m
    on m.identifier_type = 'email' and m.identifier_value = e.email
left join {{ ref('identity_map') }} as a
    on a.identifier_type = 'anonymous_id' and a.identifier_value = e.anonymous_id
