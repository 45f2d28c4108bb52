-- Every event with the profile of its highest-priority known identifier.
{{ wml.resolve_events(ref('stg_events'), ref('identity_map')) }}
