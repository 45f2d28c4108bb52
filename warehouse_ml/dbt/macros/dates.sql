{#- dbt's cross-database date macros (dbt-adapters' utils/), as dbt-duckdb specialises
    them. Each public macro dispatches in namespace 'dbt', so a project's own
    default__<name> or duckdb__<name> wins, as in dbt. -#}

{% macro date_trunc(datepart, date) -%}
  {{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}
{%- endmacro %}

{% macro default__date_trunc(datepart, date) -%}
date_trunc('{{ datepart }}', {{ date }})
{%- endmacro %}

{% macro dateadd(datepart, interval, from_date_or_timestamp) -%}
  {{ return(adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp)) }}
{%- endmacro %}

{% macro default__dateadd(datepart, interval, from_date_or_timestamp) -%}
dateadd({{ datepart }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}

{#- DuckDB adds an interval multiplied by the amount, so the amount may be an
    expression; quarters are three months, weeks seven days. -#}
{% macro duckdb__dateadd(datepart, interval, from_date_or_timestamp) -%}
{%- set unit = datepart | string | lower | trim -%}
{%- set per = {'quarter': ('3', 'month'), 'week': ('7', 'day')}.get(unit, ('1', unit)) -%}
({{ from_date_or_timestamp }} + cast({{ interval }} as bigint) * {{ per[0] }} * interval 1 {{ per[1] }})
{%- endmacro %}

{% macro datediff(first_date, second_date, datepart) -%}
  {{ return(adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart)) }}
{%- endmacro %}

{% macro default__datediff(first_date, second_date, datepart) -%}
datediff({{ datepart }}, {{ first_date }}, {{ second_date }})
{%- endmacro %}

{#- Weeks count the Sunday-started week boundaries crossed (dbt-duckdb's result); other
    parts are DuckDB's date_diff on timestamps. -#}
{% macro duckdb__datediff(first_date, second_date, datepart) -%}
{%- set unit = datepart | string | lower | trim -%}
{%- if unit == 'week' -%}
(date_diff('day', cast({{ first_date }} as date) - cast(dayofweek(cast({{ first_date }} as date)) as integer), cast({{ second_date }} as date) - cast(dayofweek(cast({{ second_date }} as date)) as integer)) // 7)
{%- else -%}
date_diff('{{ unit }}', cast({{ first_date }} as timestamp), cast({{ second_date }} as timestamp))
{%- endif -%}
{%- endmacro %}

{% macro last_day(date, datepart) -%}
  {{ return(adapter.dispatch('last_day', 'dbt')(date, datepart)) }}
{%- endmacro %}

{% macro default_last_day(date, datepart) -%}
cast({{ dbt.dateadd('day', '-1', dbt.dateadd(datepart, '1', dbt.date_trunc(datepart, date))) }} as date)
{%- endmacro %}

{% macro default__last_day(date, datepart) -%}
{{ dbt.default_last_day(date, datepart) }}
{%- endmacro %}

{% macro date(year, month, day) -%}
  {{ return(adapter.dispatch('date', 'dbt')(year, month, day)) }}
{%- endmacro %}

{% macro default__date(year, month, day) -%}
to_date('{{ modules.datetime.date(year, month, day).isoformat() }}', 'YYYY-MM-DD')
{%- endmacro %}

{% macro duckdb__date(year, month, day) -%}
make_date({{ year }}, {{ month }}, {{ day }})
{%- endmacro %}

{% macro current_timestamp() -%}
  {{ return(adapter.dispatch('current_timestamp', 'dbt')()) }}
{%- endmacro %}

{% macro default__current_timestamp() -%}
current_timestamp
{%- endmacro %}

{% macro duckdb__current_timestamp() -%}
now()
{%- endmacro %}

{% macro current_timestamp_backcompat() -%}
  {{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}
{%- endmacro %}

{% macro default__current_timestamp_backcompat() -%}
current_timestamp::timestamp
{%- endmacro %}

{% macro current_timestamp_in_utc_backcompat() -%}
  {{ return(adapter.dispatch('current_timestamp_in_utc_backcompat', 'dbt')()) }}
{%- endmacro %}

{% macro default__current_timestamp_in_utc_backcompat() -%}
{{ return(adapter.dispatch('current_timestamp_backcompat', 'dbt')()) }}
{%- endmacro %}

{% macro snapshot_get_time() -%}
  {{ return(adapter.dispatch('snapshot_get_time', 'dbt')()) }}
{%- endmacro %}

{% macro default__snapshot_get_time() -%}
{{ dbt.current_timestamp() }}
{%- endmacro %}

{% macro duckdb__snapshot_get_time() -%}
{{ dbt.current_timestamp() }}::timestamp
{%- endmacro %}

{#- How many datepart intervals lie between two dates: asks the database. -#}
{% macro get_intervals_between(start_date, end_date, datepart) -%}
  {{ return(adapter.dispatch('get_intervals_between', 'dbt')(start_date, end_date, datepart)) }}
{%- endmacro %}

{% macro default__get_intervals_between(start_date, end_date, datepart) -%}
{%- call statement('get_intervals_between', fetch_result=True) -%}
select {{ dbt.datediff(start_date, end_date, datepart) }}
{%- endcall -%}
{%- set result = load_result('get_intervals_between') -%}
{%- if result and result['data'] -%}
{{ return(result['data'][0][0]) }}
{%- else -%}
{{ return(1) }}
{%- endif -%}
{%- endmacro %}

{% macro date_spine(datepart, start_date, end_date) -%}
  {{ return(adapter.dispatch('date_spine', 'dbt')(datepart, start_date, end_date)) }}
{%- endmacro %}

{#- One row per datepart from start_date (inclusive) to end_date (exclusive), in a
    column named date_<datepart>. -#}
{% macro default__date_spine(datepart, start_date, end_date) -%}
with rawdata as (
{{ dbt.generate_series(dbt.get_intervals_between(start_date, end_date, datepart)) }}
),
all_periods as (
    select ({{ dbt.dateadd(datepart, 'row_number() over (order by generated_number) - 1', start_date) }}) as date_{{ datepart }}
    from rawdata
),
filtered as (
    select * from all_periods where date_{{ datepart }} <= {{ end_date }}
)
select * from filtered
{%- endmacro %}
