-- Lift of the win-back campaign, treated arms against the holdout, on simulated outcomes:
-- a member converts when a stable per-member uniform draw falls under their predicted
-- retention (1 - churn probability), raised by 8 points for treated members.
-- (A real campaign would join the orders that followed; the measurement is the same.)
with outcomes as (
    select
        arm,
        case when arm = 'holdout' then 0 else 1 end as treated,
        case
            when {{ uniform_draw('profile_id', 'winback_outcome') }}
                 < (1 - churn_probability) + case when arm = 'holdout' then 0 else 0.08 end
            then 1 else 0
        end as converted
    from {{ ref('high_value_at_risk') }}
),
by_group as (
    select
        treated,
        count(*) as members,
        avg(cast(converted as double precision)) as conversion_rate
    from outcomes
    group by treated
)
select
    t.members as treated_members,
    h.members as holdout_members,
    t.conversion_rate as treated_conversion,
    h.conversion_rate as holdout_conversion,
    t.conversion_rate - h.conversion_rate as absolute_lift,
    case when h.conversion_rate > 0 then t.conversion_rate / h.conversion_rate - 1 end as relative_lift
from by_group as t
cross join by_group as h
where t.treated = 1 and h.treated = 0
