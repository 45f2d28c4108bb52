{#-
  Identity resolution in SQL, after Segment Unify's rules
  (https://segment.com/docs/unify/identity-resolution/identity-resolution-settings/).

  identity_graph(...) returns ONE SELECT statement (no recursion, valid in Redshift and
  DuckDB) with a row per non-blocked identifier:
      identifier_type, identifier_value, profile_id, first_seen_at, drop_reason

  Algorithm (priority-tiered merging; R = number of identifier types, in priority order):
    0. Normalize (trim; lower-case the case-insensitive types) and block junk values:
       null, '', anything matching ^[0-]*$ ('0', '00000000', '-0-'), 'anonymous', 'null',
       'none', 'undefined', 'nan', '-1', plus the `blocked` list. Identifiers seen on one
       event (or one row of a relation) are linked; links are aggregated to
       (identifier, identifier, first_at, n_events).
    1. Tier 1 (highest priority, e.g. user_id): each value starts its own profile
       (values of one type seen on one event, possible with pairs=, merge within the limit).
    2. Tier r: every type-r identifier finds its anchors, the profiles of the
       higher-priority identifiers it was seen with.
       - one anchor: it joins that profile;
       - several anchors: it merges them, unless the merged profile would exceed a
         higher-priority limit (two user_ids when user_id's limit is 1): then it is a
         conflict and joins only its home anchor (the one it was seen with first), so
         a shared family device never merges two people;
       - no anchor: it starts a profile.
       Merges are the connected components of (identifier, anchor) links, found by
       min-label propagation with hooking and pointer jumping, unrolled `max_rounds`
       times (O(log diameter) rounds) and checked to be a fixed point: if one more round
       would change a label the query fails with 'identity_graph: components did not
       converge' rather than return a wrong answer. A merged component that would break
       any limit is not merged (its identifiers go to their home anchors, 'conflict').
       Finally each profile keeps at most limit(r) type-r identifiers, earliest-joined
       first; the rest start their own profiles ('limit'), as in Segment, where the
       identifier that would exceed a limit is dropped from the merge.
    3. profile_id = md5('<type>:<value>') of the profile's highest-priority identifier
       (smallest value among equals), so a person's id stays put as devices come and go.
  Cost: one scan of the inputs per identifier column (plus one per column pair for links),
  group-bys over identifiers and links, then R tiers each O(identifiers) plus the
  propagation rounds over the small graph of multi-anchor links only. Measured on DuckDB
  (2 cores): 7 s for 100k profiles (2.7M events), 67 s for 1M (26M events); README.md.
  Differences from Segment, on purpose: batch, not event by event, so when one tier's
  links would together join two profiles that must stay apart (a chain, not one
  identifier), none of that component's multi-anchor links is used (Segment keeps the
  earliest); limits have no time window.
-#}

{#- Types whose values compare case-insensitively (emails). -#}

{#- @args
  @arg identifiers: the identifier types in priority order (a column of that name each); identifier_pairs also takes a mapping {type: column}
  @arg case_insensitive: the types whose values compare lower-cased
  @arg relation: the events: a ref(), a source() or a SELECT
  @arg timestamp: the column holding the event time
-#}
{% macro _id_norm(expr, type, case_insensitive) -%}
{%- if type in case_insensitive -%}
lower(trim(cast({{ expr }} as varchar)))
{%- else -%}
trim(cast({{ expr }} as varchar))
{%- endif -%}
{%- endmacro %}

{% macro _id_lit(value) -%}
'{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#- True when the normalized value `v` is not blocked (NULL when v is NULL). -#}
{% macro _id_keep(v, blocked) -%}
({{ v }} <> '' and ltrim({{ v }}, '0-') <> '' and lower({{ v }}) not in ({% for b in blocked %}{{ _id_lit(b | lower) }}{% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}

{#- (type, column) pairs of an `identifiers` argument: a list of column names (type = column)
    or a mapping {type: column or expression}. Appends to `out`. -#}
{% macro _id_columns(identifiers, out) -%}
{%- if identifiers is mapping -%}
{%- for type, col in identifiers.items() %}{% do out.append([type, col]) %}{% endfor -%}
{%- elif identifiers is string -%}
{%- do out.append([identifiers, identifiers]) -%}
{%- else -%}
{%- for col in identifiers %}{% do out.append([col, col]) %}{% endfor -%}
{%- endif -%}
{%- endmacro %}

{% macro _id_relation(rel) -%}
{%- if rel is string and (rel | trim | lower).startswith(('select', 'with', '(')) -%}
({{ rel }})
{%- else -%}
{{ rel }}
{%- endif -%}
{%- endmacro %}

{#-
  identifier_pairs(relation, identifiers, event_id='message_id', timestamp='timestamp', source=none)
  One row per (event, identifier) of `relation`: event_id, identifier_type,
  identifier_value, seen_at. Rows with one event_id are one event, across all the pairs
  given to identity_graph: give each relation its own `source` (a prefix of its event
  ids) when ids of different relations could collide. Values are neither normalized nor
  blocked here: identity_graph does it.
-#}
{#- @doc Identity pairs for identity_graph(pairs=...): one row per (event, identifier) of the relation,
    as event_id, identifier_type, identifier_value, seen_at. Values are neither normalized nor blocked here.
  @arg event_id: the column that identifies an event
  @arg source: a prefix for the event ids, when ids of different relations could collide
  @example {{ wml.identifier_pairs(ref('tracks'), ['user_id', 'anonymous_id'], source='tracks') }}
-#}
{% macro identifier_pairs(relation, identifiers, event_id='message_id', timestamp='timestamp', source=none) -%}
{%- set cols = [] -%}
{%- do _id_columns(identifiers, cols) -%}
{%- set prefix = (_id_lit(source ~ ':') ~ ' || ') if source is not none else '' -%}
{%- for type, col in cols %}
{% if not loop.first %}union all
{% endif -%}
select {{ prefix }}cast({{ quote_column(event_id) }} as varchar) as event_id, {{ _id_lit(type) }} as identifier_type, cast({{ quote_column(col) }} as varchar) as identifier_value, {{ quote_column(timestamp) }} as seen_at
from {{ _id_relation(relation) }} as wml_src
where {{ quote_column(col) }} is not null
{%- endfor %}
{%- endmacro %}

{#- Connected components of the undirected graph `edges`(a, b): CTEs ending in `name`(n, label),
    label = the smallest node of the component. Each round hooks every node and every
    neighbour's parent to the smallest label seen across an edge, then jumps pointers. -#}
{% macro _id_components(name, edges, rounds) -%}
{{ name }}_e as (
    select a, b from {{ edges }}
    union all
    select b, a from {{ edges }}
),
{{ name }}_0 as (select distinct a as n, a as label from {{ name }}_e),
{%- for i in range(1, rounds + 1) %}
{{ name }}_h{{ i }} as (
    select n, min(label) as label from (
        select n, label from {{ name }}_{{ i - 1 }}
        union all
        select e.b, pa.label from {{ name }}_e as e join {{ name }}_{{ i - 1 }} as pa on pa.n = e.a
        union all
        select pb.label, pa.label
        from {{ name }}_e as e
        join {{ name }}_{{ i - 1 }} as pa on pa.n = e.a
        join {{ name }}_{{ i - 1 }} as pb on pb.n = e.b
    ) as x
    group by n
),
{{ name }}_{{ i }} as (
    select h.n, j.label from {{ name }}_h{{ i }} as h join {{ name }}_h{{ i }} as j on j.n = h.label
),
{%- endfor %}
{{ name }}_chk as (
    select e.b as n, min(pa.label) as label
    from {{ name }}_e as e join {{ name }}_{{ rounds }} as pa on pa.n = e.a
    group by e.b
),
{#- A fixed point has equal labels across every edge; otherwise fail loudly. -#}
{{ name }} as (
    select p.n, p.label
    from {{ name }}_{{ rounds }} as p join {{ name }}_chk as c on c.n = p.n
    where coalesce(cast(case when c.label <> p.label then 'identity_graph: components did not converge in {{ rounds }} rounds; raise max_rounds' end as integer), 0) = 0
)
{%- endmacro %}

{#- Nodes and links from relations with one column per identifier type (one scan per
    column and per column pair, no self-join). -#}
{% macro _id_from_relations(relations, types, case_insensitive, blocked, timestamp) -%}
{%- set specs = [] -%}
{%- for rel in relations -%}
{%- set cols = [] -%}
{%- if rel is mapping and 'relation' in rel -%}
{%- do _id_columns(rel.get('identifiers', types), cols) -%}
{%- do specs.append({'relation': rel['relation'], 'cols': cols, 'ts': rel.get('timestamp', timestamp)}) -%}
{%- else -%}
{%- do _id_columns(types, cols) -%}
{%- do specs.append({'relation': rel, 'cols': cols, 'ts': timestamp}) -%}
{%- endif -%}
{%- endfor -%}
{%- set ranked = [] -%}
{%- for spec in specs -%}
{%- set rc = [] -%}
{%- for type in types -%}
{%- for t, col in spec.cols if t == type -%}
{%- do rc.append([type, col, types.index(type) + 1]) -%}
{%- endfor -%}
{%- endfor -%}
{%- for t, col in spec.cols if t not in types -%}
{{ exceptions.raise_compiler_error("identity_graph: identifier type '" ~ t ~ "' of relation " ~ spec.relation ~ " is not in identifiers=" ~ types ~ "; list it there (in priority order).") }}
{%- endfor -%}
{%- do ranked.append({'relation': spec.relation, 'cols': rc, 'ts': spec.ts}) -%}
{%- endfor -%}
wml_id_raw_node as (
{%- set first = namespace(yes=true) -%}
{%- for spec in ranked %}{% for type, col, rank in spec.cols %}
    {% if not first.yes %}union all
    {% endif %}{% set first.yes = false %}select {{ rank }} as id_rank, {{ _id_norm('raw', type, case_insensitive) }} as v, first_at from (
        select {{ quote_column(col) }} as raw, min({{ quote_column(spec.ts) }}) as first_at
        from {{ _id_relation(spec.relation) }} as wml_src
        where {{ quote_column(col) }} is not null
        group by {{ quote_column(col) }}
    ) as x
{%- endfor %}{% endfor %}
),
wml_id_node as (
    select id_rank, v, min(first_at) as first_at
    from wml_id_raw_node
    group by id_rank, v
    {#- The aggregate term keeps optimizers from pushing the test into every row of the scans. #}
    having {{ _id_keep('v', blocked) }} or count(*) = 0
),
wml_id_raw_link as (
{%- set ns = namespace(first=true) -%}
{%- for spec in ranked %}{% for ta, ca, ra in spec.cols %}{% for tb, cb, rb in spec.cols[loop.index:] %}
    {% if not ns.first %}union all
    {% endif %}{% set ns.first = false %}select {{ ra }} as a_rank, {{ _id_norm('raw_a', ta, case_insensitive) }} as a_v, {{ rb }} as b_rank, {{ _id_norm('raw_b', tb, case_insensitive) }} as b_v, first_at, n_events from (
        select {{ quote_column(ca) }} as raw_a, {{ quote_column(cb) }} as raw_b, min({{ quote_column(spec.ts) }}) as first_at, count(*) as n_events
        from {{ _id_relation(spec.relation) }} as wml_src
        where {{ quote_column(ca) }} is not null and {{ quote_column(cb) }} is not null
        group by {{ quote_column(ca) }}, {{ quote_column(cb) }}
    ) as x
{%- endfor %}{% endfor %}{% endfor %}
{%- if ns.first %}
    select 0 as a_rank, cast(null as varchar) as a_v, 0 as b_rank, cast(null as varchar) as b_v, cast(null as timestamp) as first_at, 0 as n_events
{%- endif %}
),
wml_id_link as (
    select a_rank, a_v, b_rank, b_v, min(first_at) as first_at, sum(n_events) as n_events
    from wml_id_raw_link
    group by a_rank, a_v, b_rank, b_v
    having ({{ _id_keep('a_v', blocked) }} and {{ _id_keep('b_v', blocked) }}) or count(*) = 0
),
{%- endmacro %}

{#- Nodes and links from (event_id, identifier_type, identifier_value, seen_at) rows:
    links need a self-join on event_id. -#}
{% macro _id_from_pairs(pairs, types, case_insensitive, blocked) -%}
{%- set items = pairs if (pairs is iterable and pairs is not string and pairs is not mapping and pairs is not none and not (pairs.schema is defined)) else [pairs] -%}
wml_id_src as (
{%- for item in items %}
    {% if not loop.first %}union all {% endif %}select cast(event_id as varchar) as event_id, identifier_type, identifier_value, seen_at from {{ _id_relation(item) }} as wml_src
{%- endfor %}
),
wml_id_obs as (
    select event_id, id_rank, v, seen_at from (
        select
            event_id,
            case identifier_type{% for type in types %} when {{ _id_lit(type) }} then {{ loop.index }}{% endfor %} end as id_rank,
            case when identifier_type in ({% for t in case_insensitive %}{{ _id_lit(t) }}, {% endfor %}'') then lower(trim(cast(identifier_value as varchar))) else trim(cast(identifier_value as varchar)) end as v,
            seen_at
        from wml_id_src
    ) as x
    where id_rank is not null and {{ _id_keep('v', blocked) }}
),
wml_id_node as (
    select id_rank, v, min(seen_at) as first_at from wml_id_obs group by id_rank, v
),
wml_id_link as (
    select a.id_rank as a_rank, a.v as a_v, b.id_rank as b_rank, b.v as b_v, min(b.seen_at) as first_at, count(*) as n_events
    from wml_id_obs as a
    join wml_id_obs as b
      on a.event_id = b.event_id and (a.id_rank < b.id_rank or (a.id_rank = b.id_rank and a.v < b.v))
    group by a.id_rank, a.v, b.id_rank, b.v
),
{%- endmacro %}

{#- One priority tier: CTEs wml_id_t<r>_* ending in wml_id_map<r>(node, id_rank, label, reason)
    and wml_id_stat<r>(label, c1..c<r>). -#}
{% macro _id_tier(r, last, limits, rounds) -%}
{%- set t = 'wml_id_t' ~ r -%}
{%- set prev_map = 'wml_id_map' ~ (r - 1) -%}
{%- set prev_stat = 'wml_id_stat' ~ (r - 1) -%}
{{ t }}_peer as (
    select a_node as a, b_node as b from wml_id_links where a_rank = {{ r }} and b_rank = {{ r }}
),
{%- if r > 1 %}
{{ t }}_anc as (
    select l.b_node as node, m.label as anchor, min(l.first_at) as first_at, sum(l.n_events) as n_events
    from wml_id_links as l join {{ prev_map }} as m on m.node = l.a_node
    where l.b_rank = {{ r }}
    group by l.b_node, m.label
),
{{ t }}_ranked as (
    select
        node, anchor, first_at,
        row_number() over (partition by node order by first_at, n_events desc, anchor) as pick,
        count(*) over (partition by node) as n_anchors
    from {{ t }}_anc
),
{{ t }}_bad as (
    select a.node
    from {{ t }}_ranked as a join {{ prev_stat }} as s on s.label = a.anchor
    where a.n_anchors > 1
    group by a.node
    having {% for k in range(1, r) %}sum(s.c{{ k }}) > {{ limits[k - 1] }}{% if not loop.last %} or {% endif %}{% endfor %}
),
{{ t }}_peer_node as (select a as node from {{ t }}_peer union select b from {{ t }}_peer),
{{ t }}_edge as (
    select a.node as a, a.anchor as b
    from {{ t }}_ranked as a left join {{ t }}_bad as x on x.node = a.node
    where a.n_anchors > 1 and x.node is null
    union all
    select h.node, h.anchor
    from {{ t }}_ranked as h join {{ t }}_peer_node as p on p.node = h.node
    where h.pick = 1
    union all
    select a, b from {{ t }}_peer
),
{%- else %}
{{ t }}_edge as (select a, b from {{ t }}_peer),
{%- endif %}
{{ _id_components(t ~ '_cc', t ~ '_edge', rounds) }},
{{ t }}_tent as (
    select
        x.node,
        {% if r > 1 %}h.anchor{% else %}cast(null as bigint){% endif %} as home,
        {% if r > 1 %}coalesce(h.first_at, x.first_at){% else %}x.first_at{% endif %} as joined_at,
        coalesce(c.label{% if r > 1 %}, ch.label, h.anchor{% endif %}, x.node) as label,
        c.n is not null as bridged
    from wml_id_nodes as x
    {%- if r > 1 %}
    left join {{ t }}_ranked as h on h.node = x.node and h.pick = 1
    left join {{ t }}_cc as ch on ch.n = h.anchor
    {%- endif %}
    left join {{ t }}_cc as c on c.n = x.node
    where x.id_rank = {{ r }}
),
{{ t }}_invalid as (
    select label from (
        {%- if r > 1 %}
        select c.label{% for k in range(1, r) %}, s.c{{ k }}{% endfor %}, 0 as c{{ r }}
        from {{ t }}_cc as c join {{ prev_stat }} as s on s.label = c.n
        union all
        {%- endif %}
        select label{% for k in range(1, r) %}, 0 as c{{ k }}{% endfor %}, 1 as c{{ r }} from {{ t }}_tent
    ) as x
    group by label
    having {% for k in range(1, r + 1) %}sum(c{{ k }}) > {{ limits[k - 1] }}{% if not loop.last %} or {% endif %}{% endfor %}
),
{{ t }}_fin as (
    select
        t.node, t.joined_at,
        case when i.label is null then t.label else coalesce(t.home, t.node) end as label,
        case when {% if r > 1 %}b.node is not null or {% endif %}(i.label is not null and t.bridged) then 'conflict' end as reason
    from {{ t }}_tent as t
    left join {{ t }}_invalid as i on i.label = t.label
    {%- if r > 1 %}
    left join {{ t }}_bad as b on b.node = t.node
    {%- endif %}
),
{{ t }}_new as (
    select
        node,
        {{ r }} as id_rank,
        case when seq > {{ limits[r - 1] }} then node else label end as label,
        case when seq > {{ limits[r - 1] }} then 'limit' else reason end as reason
    from (
        select f.*, row_number() over (partition by label order by joined_at, node) as seq
        from {{ t }}_fin as f
    ) as x
),
wml_id_map{{ r }} as (
    {%- if r > 1 %}
    select m.node, m.id_rank, coalesce(x.label, m.label) as label, m.reason
    from {{ prev_map }} as m
    left join (
        select c.n as old, c.label
        from {{ t }}_cc as c
        join {{ prev_stat }} as s on s.label = c.n
        left join {{ t }}_invalid as i on i.label = c.label
        where i.label is null
    ) as x on x.old = m.label
    union all
    {%- endif %}
    select node, id_rank, label, reason from {{ t }}_new
){% if not last %},
wml_id_stat{{ r }} as (
    select label{% for k in range(1, r + 1) %}, sum(case when id_rank = {{ k }} then 1 else 0 end) as c{{ k }}{% endfor %}
    from wml_id_map{{ r }}
    group by label
),{% endif %}
{%- endmacro %}

{#-
  identity_graph(relations=none, identifiers=['user_id', 'email', 'anonymous_id'], pairs=none,
                 limits=none, default_limit=5, blocked=none, case_insensitive=['email'],
                 timestamp='timestamp', max_rounds=16)
  Give `relations` (relations with one column per identifier type; an item may be a
  mapping {'relation': ..., 'identifiers': [...] or {type: column}, 'timestamp': ...})
  or `pairs` (a relation, subquery or list of them with event_id, identifier_type,
  identifier_value, seen_at, e.g. from identifier_pairs()).
  `identifiers` is the priority order. `limits` maps a type to its maximum identifiers per
  profile (user_id: 1 by default, others `default_limit`). `blocked` adds values to block.
-#}
{#- @doc Identity resolution after Segment Unify's rules: one SELECT of identifier_type,
    identifier_value, profile_id, first_seen_at, drop_reason for every non-blocked identifier.
    Identifiers seen on one event are linked, tier by tier in priority order, within the limits.
    Give exactly one of relations or pairs.
  @arg relations: a relation or a list of them, one column per identifier type; an item may be a mapping {'relation': ..., 'identifiers': [...] or {type: column}, 'timestamp': ...}
  @arg pairs: instead of relations: rows of event_id, identifier_type, identifier_value, seen_at (e.g. from identifier_pairs), or a list of them
  @arg limits: a mapping type -> the most identifiers of that type per profile (user_id 1, others default_limit)
  @arg default_limit: the limit of the types limits does not name
  @arg blocked: values never used as identifiers, besides the built-in NULL, '', ^[0-]*$, anonymous, null, none, undefined, nan, -1
  @arg max_rounds: propagation rounds before the query fails with 'components did not converge'
  @example {{ wml.identity_graph(relations=[ref('identifies'), ref('tracks'), {'relation': ref('store_sales'), 'identifiers': ['email']}], blocked=['test@test.com']) }}
-#}
{% macro identity_graph(relations=none, identifiers=['user_id', 'email', 'anonymous_id'], pairs=none, limits=none, default_limit=5, blocked=none, case_insensitive=['email'], timestamp='timestamp', max_rounds=16) -%}
{%- set types = [identifiers] if identifiers is string else (identifiers | list) -%}
{%- if (relations is none) == (pairs is none) -%}
{{ exceptions.raise_compiler_error("identity_graph: give exactly one of relations=[...] (one column per identifier type) or pairs=... (event_id, identifier_type, identifier_value, seen_at rows).") }}
{%- endif -%}
{%- if types | length == 0 or types | length != types | unique | list | length -%}
{{ exceptions.raise_compiler_error("identity_graph: identifiers must be a non-empty list of distinct identifier types in priority order, got " ~ types ~ ".") }}
{%- endif -%}
{%- set user_limits = limits if limits is not none else {} -%}
{%- for key in user_limits if key not in types -%}
{{ exceptions.raise_compiler_error("identity_graph: limits names '" ~ key ~ "', which is not in identifiers=" ~ types ~ ".") }}
{%- endfor -%}
{%- set lims = [] -%}
{%- for type in types -%}
{%- set lim = user_limits.get(type, 1 if type == 'user_id' else default_limit) -%}
{%- if lim is not number or lim < 1 -%}
{{ exceptions.raise_compiler_error("identity_graph: the limit of '" ~ type ~ "' must be a whole number of at least 1, got " ~ lim ~ ".") }}
{%- endif -%}
{%- do lims.append(lim | int) -%}
{%- endfor -%}
{%- if max_rounds is not number or max_rounds < 1 -%}
{{ exceptions.raise_compiler_error("identity_graph: max_rounds must be a positive whole number, got " ~ max_rounds ~ ".") }}
{%- endif -%}
{%- set block = ['anonymous', 'null', 'none', 'undefined', 'nan', '-1'] + ((blocked | list) if blocked is not none else []) -%}
{%- set ci = [case_insensitive] if case_insensitive is string else (case_insensitive | list) -%}
{%- set n = types | length -%}
with
{% if relations is not none -%}
{{ _id_from_relations([relations] if (relations is string or relations is mapping or relations.schema is defined) else relations, types, ci, block, timestamp) }}
{%- else -%}
{{ _id_from_pairs(pairs, types, ci, block) }}
{%- endif %}
{#- Integer node ids in (priority, value) order: the smallest id of a profile is its
    highest-priority identifier, and every later join compares integers, not text.
    (Numbering per type keeps the sort parallel.) #}
wml_id_nodes as (
    select id_rank * 1000000000000 + row_number() over (partition by id_rank order by v) as node, id_rank, v, first_at
    from wml_id_node
),
wml_id_links as (
    select na.node as a_node, l.a_rank, nb.node as b_node, l.b_rank, l.first_at, l.n_events
    from wml_id_link as l
    join wml_id_nodes as na on na.id_rank = l.a_rank and na.v = l.a_v
    join wml_id_nodes as nb on nb.id_rank = l.b_rank and nb.v = l.b_v
),
{%- for r in range(1, n + 1) %}
{{ _id_tier(r, r == n, lims, max_rounds | int) }}
{%- endfor %}
select
    case m.id_rank{% for type in types %} when {{ loop.index }} then {{ _id_lit(type) }}{% endfor %} end as identifier_type,
    x.v as identifier_value,
    md5(case lx.id_rank{% for type in types %} when {{ loop.index }} then {{ _id_lit(type ~ ':') }}{% endfor %} end || lx.v) as profile_id,
    x.first_at as first_seen_at,
    m.reason as drop_reason
from wml_id_map{{ n }} as m
join wml_id_nodes as x on x.node = m.node
join wml_id_nodes as lx on lx.node = m.label
{%- endmacro %}

{#-
  resolve_events(relation, graph, identifiers=['user_id', 'email', 'anonymous_id'],
                 case_insensitive=['email'], profile_column='profile_id', normalized=false)
  Every row of `relation` plus the profile_id of its highest-priority identifier found in
  `graph` (an identity_graph model). Each event gets one profile, so traits grouped by
  profile_id count an event once however many emails and devices the person has.

  Cost: made to be read through a view, so traits pay the join instead of a full-width
  copy of every event. Normalizing (trim, lower) every event's identifiers costs more than
  the lookups, so each type is looked up by its raw value among the graph's values that
  normalization leaves unchanged (the graph holds normalized values, so that is all of
  them for its own types). A raw hit v = norm(v) is the row the normalized lookup finds.
  On a miss, two ways to stay exact:
  - normalized=false (default): a second lookup by the normalized value, guarded so it
    only probes when the raw lookup missed (tests/test_resolve_events.py compares it with
    the plain normalize-everything joins). Exact for any input, but a second join per type.
  - normalized=true: the relation promises its identifiers are already normalized (the
    demo's stg_events trims and lower-cases them). A miss then cannot be found by the
    normalized value either (if norm(v) = v were in the graph, the raw lookup would have
    hit it), so no second join is needed. The promise is checked where it matters: when a
    raw lookup misses on a value with norm(v) <> v, the query fails naming the type,
    instead of returning another profile. COALESCE evaluates an argument only for rows the
    earlier ones left NULL, so the check costs nothing on rows a higher-priority raw lookup
    resolved. Measured with benchmarks/traits_scale.py: a join per type instead of two is
    what brings resolution + traits within 1.5x of the traits alone.
-#}
{#- @doc Every row of the relation plus the profile of its highest-priority identifier found in the
    graph: one profile per event, so traits grouped by profile count an event once.
    Cheap enough to read through a view (the demo's resolved_events is one).
  @arg graph: an identity_graph model, e.g. ref('identity_map')
  @arg profile_column: the name of the added profile column
  @arg normalized: true when the relation's identifiers are already trimmed (and lower-cased for case_insensitive types) as identity_graph normalizes them: one lookup per type instead of two; a value that is not fails the query rather than resolving wrongly
  @example {{ wml.resolve_events(ref('stg_events'), ref('identity_map')) }}
-#}
{% macro resolve_events(relation, graph, identifiers=['user_id', 'email', 'anonymous_id'], case_insensitive=['email'], profile_column='profile_id', normalized=false) -%}
{%- if normalized is not sameas true and normalized is not sameas false -%}
{{ exceptions.raise_compiler_error("resolve_events: normalized must be true or false, got " ~ normalized ~ ".") }}
{%- endif -%}
{%- set cols = [] -%}
{%- do _id_columns(identifiers, cols) -%}
{%- set ci = [case_insensitive] if case_insensitive is string else (case_insensitive | list) -%}
{%- set picks = [] -%}
{%- for type, col in cols -%}
{%- set raw = ('wml_ev.' ~ quote_column(col)) if (quote_column(col) != col) else col -%}
{%- if normalized -%}
{#- The cast of the message to an integer fails the query with the message in it (both engines). -#}
{%- do picks.append('wml_r' ~ loop.index ~ '.profile_id') -%}
{%- do picks.append('cast(cast(case when ' ~ raw ~ ' is not null and ' ~ _id_norm(raw, type, ci) ~ ' <> cast(' ~ raw ~ ' as varchar) then ' ~ _id_lit('resolve_events(normalized=true): a value of ' ~ type ~ ' is not trimmed' ~ (' and lower-cased' if type in ci else '') ~ ' as identity_graph normalizes it; normalize it in the relation or drop normalized=true') ~ ' end as integer) as varchar)') -%}
{%- else -%}
{%- do picks.append('wml_r' ~ loop.index ~ '.profile_id') -%}
{%- do picks.append('wml_g' ~ loop.index ~ '.profile_id') -%}
{%- endif -%}
{%- endfor -%}
select
    wml_ev.*,
    coalesce({{ picks | join(', ') }}) as {{ profile_column }}
from {{ _id_relation(relation) }} as wml_ev
{%- for type, col in cols %}
{%- set raw = ('wml_ev.' ~ quote_column(col)) if (quote_column(col) != col) else col %}
left join (
    select identifier_value, profile_id from {{ graph }}
    where identifier_type = {{ _id_lit(type) }} and identifier_value = {{ _id_norm('identifier_value', type, ci) }}
) as wml_r{{ loop.index }}
    on wml_r{{ loop.index }}.identifier_value = cast({{ raw }} as varchar)
{%- if not normalized %}
{#- Keyed on the raw lookup's profile_id (a column the join carries anyway, unlike its
    identifier_value): a row the raw lookup resolved probes with a NULL key. #}
left join {{ graph }} as wml_g{{ loop.index }}
    on wml_g{{ loop.index }}.identifier_type = {{ _id_lit(type) }}
   and wml_g{{ loop.index }}.identifier_value = case when wml_r{{ loop.index }}.profile_id is null then {{ _id_norm(raw, type, ci) }} end
{%- endif %}
{%- endfor %}
{%- endmacro %}
