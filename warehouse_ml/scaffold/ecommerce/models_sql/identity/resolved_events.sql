-- Every event with the profile of its highest-priority known identifier. A view: the
-- profile is joined from identity_map at read time instead of copying every event.
{{ config(materialized='view') }}
{{ wml.resolve_events(ref('stg_events'), ref('identity_map')) }}
