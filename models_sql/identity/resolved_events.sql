-- Every event with the profile of its highest-priority known identifier: one profile per
-- event, so traits count an event once however many emails and devices a person has.
-- A view: the profile is joined from identity_map when a model reads it, which costs less
-- than writing a full-width copy of every event (benchmarks/traits_scale.py measures both).
-- normalized=true: stg_events trims and lower-cases the identifiers as identity_map does,
-- so one lookup per identifier suffices (a value that is not normalized fails the query).
{{ config(materialized='view') }}
{{ wml.resolve_events(ref('stg_events'), ref('identity_map'), normalized=true) }}
