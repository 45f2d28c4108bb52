-- Every event with the profile of its highest-priority known identifier: one profile per
-- event, so traits count an event once however many emails and devices a person has.
{{ wml.resolve_events(ref('stg_events'), ref('identity_map')) }}
