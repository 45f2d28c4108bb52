-- Identity resolution with Segment Unify's rules (the package's wml.identity_graph):
-- identifiers seen on one event are linked; user_id outranks email outranks anonymous_id;
-- a profile keeps at most one user_id (a shared family device does not merge two people);
-- junk values ('anonymous', '0', '-1', '00000000', 'null', test@test.com) are blocked.
{{ wml.identity_graph(
    relations=[
        ref('identifies'),
        ref('tracks'),
        {'relation': ref('store_sales'), 'identifiers': ['email']},
    ],
    identifiers=['user_id', 'email', 'anonymous_id'],
    blocked=['test@test.com'],
) }}
