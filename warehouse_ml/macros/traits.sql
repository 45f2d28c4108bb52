{#-
  Segment-style computed traits (https://segment.com/docs/unify/traits/computed-traits/)
  as aggregate EXPRESSIONS, so any number of traits compute in one scan of the events:

      select profile_id,
             {{ wml.event_counter('Order Completed', within='90 days') }} as orders_90d,
             {{ wml.aggregation('sum', 'revenue', event='Order Completed') }} as revenue,
             {{ wml.unique_list('category', event='Product Viewed') }} as categories_viewed
      from {{ ref('resolved_events') }}
      group by profile_id

  Shared keyword arguments of every trait:
    event      an event name or a list of names (None: every event)
    within     a window before as_of: '90 days', '12 hours', '2 weeks', '6 months', or a
               number of days; the trait reads timestamp >= as_of - window and < as_of
    where      a raw SQL condition or a list of them (ANDed), e.g. "category = 'shoes'",
               or the helpers equals / one_of / contains / before / after below
    as_of      the reference time: a date/timestamp literal ('2026-07-01') or a SQL
               expression; default var('as_of') when set, else the current timestamp.
               When as_of is known, events at or after it are never read.
    event_column, timestamp   column names (defaults 'event' and 'timestamp')
  most_frequent cannot be a plain aggregate; it is a macro returning a relation (below).
-#}

{#- @args
  @arg event: an event name or a list of names; none reads every event
  @arg within: a window before as_of: '90 days', '12 hours', '2 weeks', '6 months', or a number of days; none: all history before as_of
  @arg where: a SQL condition or a list of them (ANDed), e.g. "category = 'shoes'" or wml.equals('channel', 'web')
  @arg as_of: the reference time, a date/timestamp literal ('2026-07-01') or a SQL expression; none: var('as_of') when set, else now. Events at or after it are never read
  @arg event_column: the column holding the event name
  @arg timestamp: the column holding the event time
  @arg property: the column (or SQL expression) whose values the trait reads
  @arg column: the column (or SQL expression) to test
-#}

{% macro _tr_lit(value) -%}
{%- if value is none -%}null
{%- elif value is boolean -%}{{ 'true' if value else 'false' }}
{%- elif value is number -%}{{ value }}
{%- else -%}'{{ value | string | replace("'", "''") }}'
{%- endif -%}
{%- endmacro %}

{#- Text type for property values: Redshift's bare VARCHAR is VARCHAR(256). -#}
{% macro _tr_text() -%}
{{ 'varchar(65535)' if sql_dialect == 'redshift' else 'varchar' }}
{%- endmacro %}

{% macro _tr_now() -%}
{#- Now in UTC, as a timestamp without time zone (what event tables store). #}
{%- if sql_dialect == 'redshift' -%}getdate(){%- else -%}(current_timestamp at time zone 'UTC'){%- endif -%}
{%- endmacro %}

{#- The reference time as SQL, or '' when neither as_of nor var('as_of') is set. -#}
{% macro _tr_as_of(as_of) -%}
{%- set value = as_of if as_of is not none else var('as_of', '') -%}
{%- if value is none or (value | string | trim) == '' -%}
{%- elif value is not string or (value | trim)[:1] in '0123456789' -%}
cast({{ _tr_lit(value | string | trim) }} as timestamp)
{%- else -%}
({{ value }})
{%- endif -%}
{%- endmacro %}

{#- '90 days' / 90 / '12 hours' -> an interval literal both dialects read. -#}
{% macro _tr_interval(within) -%}
{%- set units = {'minute': 'minutes', 'minutes': 'minutes', 'hour': 'hours', 'hours': 'hours', 'day': 'days', 'days': 'days', 'week': 'weeks', 'weeks': 'weeks', 'month': 'months', 'months': 'months', 'year': 'years', 'years': 'years'} -%}
{%- set parts = [within, 'days'] if within is number else (within | string | trim | lower).split() -%}
{%- if parts | length != 2 or not (parts[0] | string).isdigit() or parts[1] not in units -%}
{{ exceptions.raise_compiler_error("trait window within=" ~ within ~ " is not understood; write a whole number of days (90) or '<n> <unit>' with unit minutes, hours, days, weeks, months or years, e.g. within='90 days'.") }}
{%- endif -%}
interval '{{ parts[0] }} {{ units[parts[1]] }}'
{%- endmacro %}

{#- The condition of a trait (SQL), or '' when it reads every event. -#}
{% macro _tr_cond(event=none, within=none, where=none, as_of=none, event_column='event', timestamp='timestamp') -%}
{%- set conds = [] -%}
{%- set ts = quote_column(timestamp) -%}
{%- if event is not none -%}
{%- if event is string -%}
{%- do conds.append(quote_column(event_column) ~ ' = ' ~ _tr_lit(event)) -%}
{%- else -%}
{%- do conds.append(quote_column(event_column) ~ ' in (' ~ _tr_list(event) ~ ')') -%}
{%- endif -%}
{%- endif -%}
{%- set t = _tr_as_of(as_of) -%}
{%- if within is not none -%}
{%- set t = t if t != '' else _tr_now() -%}
{%- do conds.append(ts ~ ' >= ' ~ t ~ ' - ' ~ _tr_interval(within)) -%}
{%- endif -%}
{%- if t != '' -%}
{%- do conds.append(ts ~ ' < ' ~ t) -%}
{%- endif -%}
{%- if where is not none -%}
{%- for w in ([where] if where is string else where) -%}
{%- do conds.append('(' ~ w ~ ')') -%}
{%- endfor -%}
{%- endif -%}
{{ conds | join(' and ') }}
{%- endmacro %}

{% macro _tr_list(values) -%}
{%- for v in values %}{{ _tr_lit(v) }}{% if not loop.last %}, {% endif %}{% endfor -%}
{%- endmacro %}

{#- `expr` where the trait's condition holds, else NULL. -#}
{% macro _tr_when(expr, cond) -%}
{%- if cond == '' -%}{{ expr }}{%- else -%}case when {{ cond }} then {{ expr }} end{%- endif -%}
{%- endmacro %}

{#- Property filters: SQL conditions for where=. -#}

{#- @doc Filter for where=: the column equals a value (none: is null).
  @arg value: a string, number, boolean or none
  @example {{ wml.event_counter('Order Completed', where=wml.equals('channel', 'web')) }}
-#}
{% macro equals(column, value) -%}
{%- if value is none -%}{{ quote_column(column) }} is null{%- else -%}{{ quote_column(column) }} = {{ _tr_lit(value) }}{%- endif -%}
{%- endmacro %}

{#- @doc Filter for where=: the column is one of the values.
  @arg values: a list of strings or numbers
  @example {{ wml.event_counter('Product Viewed', where=wml.one_of('category', ['shoes', 'bags'])) }}
-#}
{% macro one_of(column, values) -%}
{{ quote_column(column) }} in ({{ _tr_list(values) }})
{%- endmacro %}

{#- @doc Filter for where=: the column contains a text.
  @arg text: the text to look for
  @arg case_sensitive: false compares lower-cased
  @example {{ wml.event_counter('Product Viewed', where=wml.contains('category', 'Shoe', case_sensitive=false)) }}
-#}
{% macro contains(column, text, case_sensitive=true) -%}
{%- if case_sensitive -%}
strpos({{ quote_column(column) }}, {{ _tr_lit(text) }}) > 0
{%- else -%}
strpos(lower({{ quote_column(column) }}), lower({{ _tr_lit(text) }})) > 0
{%- endif -%}
{%- endmacro %}

{#- @doc Filter for where=: the event time is before a date or timestamp.
  @arg value: a date or timestamp literal, e.g. '2026-01-01'
  @example {{ wml.event_counter('Order Completed', where=wml.before('2026-01-01', column='event_at')) }}
-#}
{% macro before(value, column='timestamp') -%}
{{ quote_column(column) }} < cast({{ _tr_lit(value | string) }} as timestamp)
{%- endmacro %}

{#- @doc Filter for where=: the event time is at or after a date or timestamp.
  @arg value: a date or timestamp literal, e.g. '2026-01-01'
  @example {{ wml.event_counter('Order Completed', where=wml.after('2026-01-01', column='event_at')) }}
-#}
{% macro after(value, column='timestamp') -%}
{{ quote_column(column) }} >= cast({{ _tr_lit(value | string) }} as timestamp)
{%- endmacro %}

{#- @doc Event Counter (an aggregate expression): the number of matching events.
  @example {{ wml.event_counter('Order Completed', within='90 days') }} as orders_90d
-#}
{% macro event_counter(event=none, within=none, where=none, as_of=none, event_column='event', timestamp='timestamp') -%}
{%- set cond = _tr_cond(event, within, where, as_of, event_column, timestamp) -%}
{%- if cond == '' -%}count(*){%- else -%}count(case when {{ cond }} then 1 end){%- endif -%}
{%- endmacro %}

{#- @doc Aggregation (an aggregate expression): sum / avg / min / max / count of a numeric property
    of the matching events. avg is computed in double precision on both engines (Redshift's
    AVG of integers truncates).
  @arg fn: 'sum', 'avg', 'min', 'max' or 'count'
  @example {{ wml.aggregation('sum', 'revenue', event='Order Completed', within=90) }} as revenue_90d
-#}
{% macro aggregation(fn, property, event=none, within=none, where=none, as_of=none, event_column='event', timestamp='timestamp') -%}
{%- set f = fn | lower -%}
{%- if f not in ['sum', 'avg', 'min', 'max', 'count'] -%}
{{ exceptions.raise_compiler_error("aggregation fn='" ~ fn ~ "' is not one of sum, avg, min, max, count.") }}
{%- endif -%}
{%- set value = _tr_when(quote_column(property), _tr_cond(event, within, where, as_of, event_column, timestamp)) -%}
{%- if f == 'avg' -%}avg(cast({{ value }} as double precision)){%- else -%}{{ f }}({{ value }}){%- endif -%}
{%- endmacro %}

{#- First / last value. On DuckDB: arg_min/arg_max keyed by (timestamp, value), which
    skip NULL values and rows outside the condition. Elsewhere (Redshift has no arg_min):
    the min/max of the timestamp's sortable text (26 characters) followed by the value.
    Ties at one timestamp take the smallest/largest value on both. -#}
{% macro _tr_stamped(property, timestamp) -%}
{%- if sql_dialect == 'redshift' -%}
to_char(cast({{ quote_column(timestamp) }} as timestamp), 'YYYY-MM-DD HH24:MI:SS.US') || cast({{ quote_column(property) }} as {{ _tr_text() }})
{%- else -%}
strftime(cast({{ quote_column(timestamp) }} as timestamp), '%Y-%m-%d %H:%M:%S.%f') || cast({{ quote_column(property) }} as varchar)
{%- endif -%}
{%- endmacro %}

{% macro _tr_edge_value(agg, property, event, within, where, as_of, event_column, timestamp, cast) -%}
{%- set cond = _tr_cond(event, within, where, as_of, event_column, timestamp) -%}
{%- if output_dialect() == 'duckdb' -%}
{%- set text = 'cast(' ~ quote_column(property) ~ ' as ' ~ _tr_text() ~ ')' -%}
{%- set value = 'arg_' ~ agg ~ '(' ~ _tr_when(text, cond) ~ ', (cast(' ~ quote_column(timestamp) ~ ' as timestamp), ' ~ text ~ '))' -%}
{%- else -%}
{%- set value = 'substring(' ~ agg ~ '(' ~ _tr_when(_tr_stamped(property, timestamp), cond) ~ '), 27, 65535)' -%}
{%- endif -%}
{%- if cast is none -%}{{ value }}{%- else -%}cast({{ value }} as {{ cast }}){%- endif -%}
{%- endmacro %}

{#- @doc First (an aggregate expression): the property of the earliest matching event with a
    value, as text. Ties at one timestamp take the smallest value.
  @arg cast: a SQL type to convert the text to, e.g. 'double precision'; none keeps text
  @example {{ wml.first_value('channel', event='Order Completed') }} as first_order_channel
-#}
{% macro first_value(property, event=none, within=none, where=none, as_of=none, event_column='event', timestamp='timestamp', cast=none) -%}
{{ _tr_edge_value('min', property, event, within, where, as_of, event_column, timestamp, cast) }}
{%- endmacro %}

{#- @doc Last (an aggregate expression): the property of the latest matching event with a value,
    as text. Ties at one timestamp take the largest value.
  @arg cast: a SQL type to convert the text to, e.g. 'double precision'; none keeps text
  @example {{ wml.last_value('category', event='Product Viewed') }} as last_category
-#}
{% macro last_value(property, event=none, within=none, where=none, as_of=none, event_column='event', timestamp='timestamp', cast=none) -%}
{{ _tr_edge_value('max', property, event, within, where, as_of, event_column, timestamp, cast) }}
{%- endmacro %}

{#- Unique List: distinct values, sorted, joined by `separator`. On Redshift this is
    LISTAGG(DISTINCT ...) WITHIN GROUP (ORDER BY ...) written with marker characters
    chr(30)/chr(31) and no delimiter, because sqlglot 30 mis-transpiles LISTAGG(DISTINCT x,
    ',') to DuckDB; the markers make both engines return the same string. -#}

{#- @doc Unique List (an aggregate expression): the distinct property values of the matching
    events, sorted and joined. On Redshift a LISTAGG result is limited to 64 KB.
  @arg separator: the text between values
  @example {{ wml.unique_list('category', event=['Product Viewed', 'Product Added'], within=30) }} as categories_30d
-#}
{% macro unique_list(property, event=none, within=none, where=none, as_of=none, event_column='event', timestamp='timestamp', separator=',') -%}
{%- set value = _tr_when('cast(' ~ quote_column(property) ~ ' as ' ~ _tr_text() ~ ')', _tr_cond(event, within, where, as_of, event_column, timestamp)) -%}
{%- if sql_dialect == 'redshift' -%}
{%- set marked = 'chr(30) || ' ~ value ~ ' || chr(31)' -%}
replace(replace(replace(replace(listagg(distinct {{ marked }}) within group (order by {{ marked }}), chr(31) || ',' || chr(30), chr(31) || chr(30)), chr(31) || chr(30), {{ _tr_lit(separator) }}), chr(30), ''), chr(31), '')
{%- else -%}
string_agg(distinct {{ value }}, {{ _tr_lit(separator) }} order by {{ value }})
{%- endif -%}
{%- endmacro %}

{#- @doc Unique List Count (an aggregate expression): the number of distinct property values of the
    matching events.
  @example {{ wml.unique_list_count('product_id', event='Product Viewed', within='30 days') }} as products_viewed_30d
-#}
{% macro unique_list_count(property, event=none, within=none, where=none, as_of=none, event_column='event', timestamp='timestamp') -%}
count(distinct {{ _tr_when(quote_column(property), _tr_cond(event, within, where, as_of, event_column, timestamp)) }})
{%- endmacro %}

{#- Most Frequent: a SELECT of (by, <name>, <name>_count) with each profile's most frequent
    property value among matching events; a value needs min_count occurrences (Segment: 2),
    ties go to the alphabetically first value. Profiles with no such value have no row:
    LEFT JOIN it to your traits. -#}

{#- @doc Most Frequent (a SELECT, not an aggregate): per profile, the most frequent property value of
    the matching events, as columns by, <name>, <name>_count. A value needs min_count occurrences
    (Segment: 2); ties go to the alphabetically first value; profiles without one have no row,
    so LEFT JOIN it to your traits.
  @arg relation: the events: a ref(), a source() or a SELECT
  @arg by: the profile column to group by
  @arg min_count: the fewest occurrences a value needs
  @arg name: the name of the value column (its count is <name>_count)
  @example left join ({{ wml.most_frequent(ref('resolved_events'), 'category', event='Product Viewed') }}) as fav using (profile_id)
-#}
{% macro most_frequent(relation, property, by='profile_id', event=none, within=none, where=none, as_of=none, event_column='event', timestamp='timestamp', min_count=2, name='most_frequent') -%}
{%- set cond = _tr_cond(event, within, where, as_of, event_column, timestamp) -%}
{%- set src = ('(' ~ relation ~ ')') if (relation is string and (relation | trim | lower).startswith(('select', 'with'))) else relation -%}
select {{ quote_column(by) }}, value as {{ quote_column(name) }}, n as {{ quote_column(name ~ '_count') }}
from (
    select {{ quote_column(by) }}, value, n, row_number() over (partition by {{ quote_column(by) }} order by n desc, value) as rn
    from (
        select {{ quote_column(by) }}, {{ quote_column(property) }} as value, count(*) as n
        from {{ src }} as wml_src
        where {{ quote_column(property) }} is not null{% if cond != '' %} and {{ cond }}{% endif %}
        group by {{ quote_column(by) }}, {{ quote_column(property) }}
    ) as counts
    where n >= {{ min_count | int }}
) as ranked
where rn = 1
{%- endmacro %}
