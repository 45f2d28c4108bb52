{#- dbt's relation and materialization helper macros that packages call (dbt_utils,
    dbt_expectations, audit_helper). wml's own materializations build the nodes; these
    are for macros that create, inspect or drop relations themselves. -#}

{% macro should_full_refresh() -%}
{%- set value = config.get('full_refresh') -%}
{{ return(flags.FULL_REFRESH if value is none else value) }}
{%- endmacro %}

{% macro should_store_failures() -%}
{%- set value = config.get('store_failures') -%}
{{ return(flags.STORE_FAILURES if value is none else value) }}
{%- endmacro %}

{% macro get_where_subquery(relation) -%}
  {{ return(adapter.dispatch('get_where_subquery', 'dbt')(relation)) }}
{%- endmacro %}

{#- A test's `where:` config filters the tested relation in a subquery. -#}
{% macro default__get_where_subquery(relation) -%}
{%- set where = config.get('where', '') -%}
{%- if where -%}
{{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') }}
{%- else -%}
{{ return(relation) }}
{%- endif -%}
{%- endmacro %}

{% macro get_empty_subquery_sql(select_sql, select_sql_header=none) -%}
  {{ return(adapter.dispatch('get_empty_subquery_sql', 'dbt')(select_sql, select_sql_header)) }}
{%- endmacro %}

{% macro default__get_empty_subquery_sql(select_sql, select_sql_header=none) -%}
{%- if select_sql_header is not none %}{{ select_sql_header }}{% endif -%}
select * from (
{{ select_sql }}
) as __dbt_sbq where false limit 0
{%- endmacro %}

{% macro get_column_schema_from_query(select_sql, select_sql_header=none) -%}
{{ return(adapter.get_column_schema_from_query(select_sql)) }}
{%- endmacro %}

{% macro get_columns_in_query(select_sql) -%}
  {{ return(adapter.dispatch('get_columns_in_query', 'dbt')(select_sql)) }}
{%- endmacro %}

{% macro default__get_columns_in_query(select_sql) -%}
{%- call statement('get_columns_in_query', fetch_result=True, auto_begin=False) -%}
{{ dbt.get_empty_subquery_sql(select_sql) }}
{%- endcall -%}
{%- set result = load_result('get_columns_in_query') -%}
{{ return(result['table'].column_names | list if result else []) }}
{%- endmacro %}

{% macro get_columns_in_relation(relation) -%}
{{ return(adapter.get_columns_in_relation(relation)) }}
{%- endmacro %}

{% macro sql_convert_columns_in_relation(table) -%}
{%- set columns = [] -%}
{%- for row in table -%}{%- do columns.append(api.Column(*row)) -%}{%- endfor -%}
{{ return(columns) }}
{%- endmacro %}

{% macro get_list_of_column_names(columns) -%}
{{ return(columns | map(attribute='name') | list) }}
{%- endmacro %}

{% macro make_temp_relation(base_relation, suffix='__dbt_tmp') -%}
  {{ return(adapter.dispatch('make_temp_relation', 'dbt')(base_relation, suffix)) }}
{%- endmacro %}

{% macro default__make_temp_relation(base_relation, suffix) -%}
{{ return(base_relation.incorporate(path={'identifier': base_relation.identifier ~ suffix})) }}
{%- endmacro %}

{% macro make_intermediate_relation(base_relation, suffix='__dbt_tmp') -%}
{{ return(dbt.default__make_temp_relation(base_relation, suffix)) }}
{%- endmacro %}

{% macro make_backup_relation(base_relation, backup_relation_type, suffix='__dbt_backup') -%}
{{ return(base_relation.incorporate(path={'identifier': base_relation.identifier ~ suffix}, type=backup_relation_type)) }}
{%- endmacro %}

{% macro load_cached_relation(relation) -%}
{{ return(adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier)) }}
{%- endmacro %}

{% macro load_relation(relation) -%}
{{ return(dbt.load_cached_relation(relation)) }}
{%- endmacro %}

{% macro get_or_create_relation(database, schema, identifier, type) -%}
{%- set found = adapter.get_relation(database=database, schema=schema, identifier=identifier) -%}
{%- if found -%}{{ return([true, found]) }}{%- endif -%}
{{ return([false, api.Relation.create(database=database, schema=schema, identifier=identifier, type=type)]) }}
{%- endmacro %}

{% macro get_create_table_as_sql(temporary, relation, sql) -%}
  {{ return(adapter.dispatch('get_create_table_as_sql', 'dbt')(temporary, relation, sql)) }}
{%- endmacro %}

{% macro default__get_create_table_as_sql(temporary, relation, sql) -%}
{{ return(dbt.create_table_as(temporary, relation, sql)) }}
{%- endmacro %}

{% macro create_table_as(temporary, relation, compiled_code, language='sql') -%}
  {{ return(adapter.dispatch('create_table_as', 'dbt')(temporary, relation, compiled_code, language)) }}
{%- endmacro %}

{% macro default__create_table_as(temporary, relation, sql, language='sql') -%}
create {% if temporary %}temporary {% endif %}table {{ relation.include(database=false, schema=not temporary) }} as (
{{ sql }}
)
{%- endmacro %}

{% macro get_create_view_as_sql(relation, sql) -%}
  {{ return(adapter.dispatch('get_create_view_as_sql', 'dbt')(relation, sql)) }}
{%- endmacro %}

{% macro default__get_create_view_as_sql(relation, sql) -%}
{{ return(dbt.create_view_as(relation, sql)) }}
{%- endmacro %}

{% macro create_view_as(relation, sql) -%}
  {{ return(adapter.dispatch('create_view_as', 'dbt')(relation, sql)) }}
{%- endmacro %}

{% macro default__create_view_as(relation, sql) -%}
create view {{ relation }} as (
{{ sql }}
)
{%- endmacro %}

{% macro drop_relation(relation) -%}
{{ return(adapter.drop_relation(relation)) }}
{%- endmacro %}

{% macro drop_relation_if_exists(relation) -%}
{%- if relation is not none -%}{{ adapter.drop_relation(relation) }}{%- endif -%}
{%- endmacro %}

{% macro rename_relation(from_relation, to_relation) -%}
{{ return(adapter.rename_relation(from_relation, to_relation)) }}
{%- endmacro %}

{% macro truncate_relation(relation) -%}
{{ return(adapter.truncate_relation(relation)) }}
{%- endmacro %}

{% macro create_schema(relation) -%}
{{ return(adapter.create_schema(relation)) }}
{%- endmacro %}

{% macro drop_schema(relation) -%}
{{ return(adapter.drop_schema(relation)) }}
{%- endmacro %}

{% macro check_schema_exists(information_schema, schema) -%}
{{ return(adapter.check_schema_exists(information_schema.database if information_schema is not string else none, schema)) }}
{%- endmacro %}

{% macro list_schemas(database) -%}
{{ return(adapter.list_schemas(database)) }}
{%- endmacro %}

{#- dbt returns an agate table: database, name, schema, type. -#}
{% macro list_relations_without_caching(schema_relation) -%}
{{ return(run_query("select table_catalog as database, table_name as name, table_schema as schema, case when table_type like '%VIEW%' then 'view' else 'table' end as type from information_schema.tables where lower(table_schema) = lower('" ~ (schema_relation.schema | replace("'", "''")) ~ "')")) }}
{%- endmacro %}
