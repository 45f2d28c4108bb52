-- Every training row's label window starts where its features end: the label (ltv_90d)
-- must be computable from events on or after the snapshot date only.
select t.snapshot_date, t.profile_id
from {{ ref('training_ltv') }} as t
left join (
    select profile_id, sum(revenue) as revenue
    from {{ ref('resolved_events') }}
    where event_at >= cast('{{ var("cutoff") }}' as timestamp)
      and event in ('Order Completed', 'Store Purchase')
    group by profile_id
) as after_cutoff using (profile_id)
where t.snapshot_date = cast('{{ var("cutoff") }}' as date)
  and abs(t.ltv_90d - nvl(after_cutoff.revenue, 0)) > 0.01
