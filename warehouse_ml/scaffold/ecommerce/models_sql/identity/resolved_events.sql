-- Every event with the profile of its highest-priority known identifier. A view: the
-- profile is joined from identity_map at read time instead of copying every event.
-- normalized=true: stg_events already trims and lower-cases the identifiers.
{{ config(materialized='view') }}
{{ wml.resolve_events(ref('stg_events'), ref('identity_map'), normalized=true) }}
