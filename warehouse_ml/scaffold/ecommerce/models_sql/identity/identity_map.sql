-- Identity resolution (Segment Unify's rules): identifiers seen on one event are linked;
-- user_id outranks email outranks anonymous_id; junk ids ('anonymous', '-1', ...) are blocked.
-- `wml macros identity_graph` lists every argument.
{{ wml.identity_graph(
    relations=[ref('identifies'), ref('tracks'), {'relation': ref('store_sales'), 'identifiers': ['email']}],
    blocked=['test@test.com'],
) }}
