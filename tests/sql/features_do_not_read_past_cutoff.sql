-- No leakage: features at the cutoff computed from every event equal features computed
-- from only the events before the cutoff. Returns the rows where they differ.
{%- set before_cutoff -%}
(select * from {{ ref('resolved_events') }} where event_at < cast('{{ var("cutoff") }}' as timestamp))
{%- endset %}
with all_events as (
    {{ profile_features(var('cutoff')) }}
),
only_past as (
    {{ profile_features(var('cutoff'), events=before_cutoff) }}
)
(select * from all_events except select * from only_past)
union all
(select * from only_past except select * from all_events)
