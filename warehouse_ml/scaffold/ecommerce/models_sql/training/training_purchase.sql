-- One row per profile: features as of the cutoff, and the label: did they order in the
-- 90 days after it? (as_of may be any SQL expression.)
select f.*, coalesce(l.orders_next_90d, 0) > 0 as purchased
from ({{ profile_features(var('cutoff')) }}) as f
left join (
    select
        profile_id,
        {{ wml.event_counter('Order Completed', within='90 days',
                             as_of="cast('" ~ var('cutoff') ~ "' as timestamp) + interval '90 days'") }} as orders_next_90d
    from {{ ref('resolved_events') }}
    group by profile_id
) as l using (profile_id)
