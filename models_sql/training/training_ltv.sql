-- One row per profile and snapshot: features as of the snapshot, and the revenue of the
-- 90 days after it as the label. Earlier snapshots train; the latest one evaluates.
{% for snapshot in var('snapshots') %}
select
    cast('{{ snapshot }}' as date) as snapshot_date,
    f.*,
    nvl(l.ltv_90d, 0) as ltv_90d,
    case when nvl(l.orders_next_90d, 0) = 0 then true else false end as churned,
    case when nvl(l.orders_next_90d, 0) > 0 then true else false end as purchased_again
from ({{ profile_features(snapshot) }}) as f
left join ({{ profile_labels(snapshot, var('label_days')) }}) as l using (profile_id)
{% if not loop.last %}union all{% endif %}
{% endfor %}
