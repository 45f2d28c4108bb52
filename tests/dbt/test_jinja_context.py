"""dbt's Jinja context in wml models: execute, return(), run_query, statement/load_result,
adapter (dispatch and introspection), the context members and global-macro overrides.

Small projects of our own, built through the real CLI into real DuckDB files.
"""

from __future__ import annotations

import pytest
from conftest import assert_clean_error

from warehouse_ml.run.session import open_session

PEOPLE = {"seeds/people.csv": "id,name,amount\n1,ada,10.5\n2,bob,20\n3,cy,\n"}


def test_return_gives_macros_non_string_values(project):
    project.write({
        "macros/m.sql": """
            {% macro pair() %}{{ return({'a': [1, 2], 'b': none}) }}{% endmacro %}
            {% macro first_even(xs) %}{% for x in xs %}{% if x % 2 == 0 %}{% do return(x) %}{% endif %}{% endfor %}{{ return(-1) }}{% endmacro %}
            {% macro plain() %}text{% endmacro %}
        """,
        "models_sql/m.sql": """
            {% set p = pair() %}
            select {{ p['a'] | sum }} as s, {{ p['b'] is none }} as b_is_none,
                   {{ first_even([1, 3, 4, 6]) }} as e, {{ first_even([1]) }} as none_even,
                   '{{ plain() }}' as t
        """,
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.query("select * from main.m") == [(3, True, 4, -1, "text")]


def test_execute_is_false_while_parsing_and_true_when_running(project):
    project.write({
        **PEOPLE,
        "models_sql/counted.sql": """
            {% if execute %}
              {% set n = run_query('select count(*) from ' ~ ref('people')).columns[0].values()[0] %}
            {% else %}
              {% set n = -1 %}{% do ref('people') %}
            {% endif %}
            select {{ n }} as n, {{ execute }} as executing
        """,
        "models_sql/plain.sql": "select 1 as x from {{ ref('people') }}",
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.query("select * from main.counted") == [(3, True)]
    # The fast path: only the node that read `execute` renders again at run time.
    session = open_session(project.root)
    try:
        session.renderer.parse()
        parsed = session.renderer._parsed
        assert "model.plain" in parsed and "model.counted" not in parsed
        assert session.nodes["model.counted"].depends_on == ["seed.people"]
        assert "-1 as n" in session.nodes["model.counted"].compiled_sql
    finally:
        session.close()


def test_run_query_table_and_statement_results(project):
    project.write({
        **PEOPLE,
        "macros/m.sql": """
            {% macro names_of(rel) %}
              {% set t = run_query('select name, amount from ' ~ rel ~ ' order by id') %}
              {% if not execute %}{{ return([]) }}{% endif %}
              {% set out = [] %}
              {% for row in t %}{% do out.append(row['name'] ~ ':' ~ (row[1] is not none)) %}{% endfor %}
              {{ return(out + [t.column_names | join('/'), t.rows | length | string]) }}
            {% endmacro %}
        """,
        "models_sql/s.sql": """
            {% call statement('stats', fetch_result=True) %}
              select count(*) as n, sum(amount) as total from {{ ref('people') }}
            {% endcall %}
            {% set r = load_result('stats') %}
            {% set names = names_of(ref('people')) %}
            select
              {{ r['data'][0][0] if execute else 0 }} as n,
              {{ r['table'].columns['total'].values()[0] if execute else 0 }} as total,
              '{{ r['response'].code if execute else '' }}' as code,
              '{{ names | join(',') }}' as names
        """,
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.query("select * from main.s") == [
        (3, 30.5, "SELECT", "ada:True,bob:True,cy:False,name/amount,3")
    ]


def test_load_result_twice_is_an_error_as_in_dbt(project):
    project.write({
        "models_sql/twice.sql": """
            {% call statement('x', fetch_result=True) %}select 1{% endcall %}
            {% set a = load_result('x') %}{% set b = load_result('x') %}
            select 1 as one
        """,
    })
    result = project.wml("build")
    assert_clean_error(result, 1, "already loaded", "twice")


def test_adapter_introspection(project):
    project.write({
        **PEOPLE,
        "models_sql/v.sql": "{{ config(materialized='view') }} select id from {{ ref('people') }}",
        "models_sql/intro.sql": """
            -- depends_on: {{ ref('v') }} {{ ref('people') }}
            {% set people = adapter.get_relation(database=this.database, schema=this.schema, identifier='people') %}
            {% set view = adapter.get_relation(this.database, this.schema, 'V') %}
            {% set missing = adapter.get_relation(this.database, this.schema, 'nope') %}
            {% set cols = adapter.get_columns_in_relation(ref('people')) if execute else [] %}
            select
              '{{ people.type if people else '' }}' as people_type,
              '{{ view.type if view else '' }}' as view_type,
              {{ missing is none }} as missing_is_none,
              '{{ cols | map(attribute='name') | join(',') }}' as names,
              '{{ cols | selectattr('is_string') | list | length if false else cols | map(attribute='dtype') | join(',') }}' as dtypes,
              {{ (cols | selectattr('name', 'equalto', 'id') | first).is_number() if execute else 'null' }} as id_is_number,
              {{ (cols | selectattr('name', 'equalto', 'name') | first).is_string() if execute else 'null' }} as name_is_string,
              '{{ (cols | selectattr('name', 'equalto', 'name') | first).quoted if execute else '' }}' as quoted,
              {{ adapter.check_schema_exists(this.database, 'main') }} as main_exists,
              {{ adapter.check_schema_exists(this.database, 'no_such') }} as other_exists,
              '{{ adapter.type() }}' as kind,
              '{{ adapter.quote('we"ird') }}' as q,
              {{ adapter.list_relations(this.database, 'main') | map(attribute='identifier') | select('equalto', 'people') | list | length }} as listed
        """,
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    row = project.query("select * from main.intro")[0]
    assert row == (
        "table", "view", True, "id,name,amount", "BIGINT,VARCHAR,DOUBLE", True, True,
        '"name"', True, False, "duckdb", '"we""ird"', 1,
    )


def test_dispatch_finds_adapter_then_default_and_project_overrides(project):
    project.write({
        "macros/m.sql": """
            {% macro greet() %}{{ return(adapter.dispatch('greet')()) }}{% endmacro %}
            {% macro default__greet() %}'default'{% endmacro %}
            {% macro duckdb__greet() %}'duckdb'{% endmacro %}
            {% macro only() %}{{ return(adapter.dispatch('only', 'test')()) }}{% endmacro %}
            {% macro default__only() %}'only default'{% endmacro %}
            {# the project's default__ for a dbt macro wins (dispatch searches the root first) #}
            {% macro default__string_literal(value) %}'root:{{ value }}'{% endmacro %}
            {# a project macro named like a global one wins when called bare #}
            {% macro any_value(expression) %}max({{ expression }}){% endmacro %}
        """,
        "models_sql/d.sql": """
            select {{ greet() }} as g, {{ only() }} as o, {{ dbt.string_literal('x') }} as lit,
                   {{ any_value('n') }} as bare, {{ dbt.any_value('n') }} is not null as qualified
            from (values (1), (5)) as t(n)
        """,
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.query("select * from main.d") == [("duckdb", "only default", "root:x", 5, True)]


def test_dispatch_search_order_from_project_settings(project):
    project.write({
        "macros/m.sql": """
            {% macro pick() %}{{ return(adapter.dispatch('pick', 'shim')()) }}{% endmacro %}
            {% macro default__pick() %}'root'{% endmacro %}
        """,
        "models_sql/p.sql": "select {{ pick() }} as p",
    })
    session = open_session(project.root)
    try:
        settings = session.project.settings
        dbt = session.renderer.dbt
        dbt.macros.add_package("shim", {"default__pick": lambda: "'shim'"})
        settings.dispatch = [{"macro_namespace": "shim", "search_order": ["shim", "test"]}]
        dbt.adapter._dispatch = settings.dispatch
        session.renderer.parse()
        assert "'shim' as p" in session.compiled_sql(session.nodes["model.p"])
        dbt.adapter._dispatch = []  # default: the root project first, then the package
        assert "'root'" in str(dbt.adapter.dispatch("pick", "shim")())
    finally:
        session.close()


def test_dispatch_names_what_it_searched(project):
    project.write({"models_sql/x.sql": "select {{ adapter.dispatch('nothing_here', 'dbt')() }}"})
    result = project.wml("build")
    assert_clean_error(result, 2, "nothing_here", "duckdb__nothing_here", "default__nothing_here")


def test_context_members(project):
    project.write({
        **PEOPLE,
        "wml_project.yml": "name: test\nvars:\n  k: 1\n",
        "models_sql/eph.sql": "{{ config(materialized='ephemeral') }} select 1 as one",
        "models_sql/ctx.sql": """
            {{ config(materialized='table', tags=['t1']) }}
            {% set j = fromjson('{"a": [1, 2]}') %}
            {% set y = fromyaml('b: 2') %}
            select
              {{ j['a'][1] }} as from_json, '{{ tojson({'x': 1}) }}' as to_json, {{ y['b'] }} as from_yaml,
              '{{ toyaml({'c': 3}) | trim }}' as to_yaml,
              '{{ local_md5('abc') }}' as md5,
              {{ zip([1, 2], ['a', 'b']) | length }} as zipped, {{ set([1, 1, 2]) | length }} as uniq,
              {{ zip(1, 2) is none }} as zip_default,
              '{{ modules.datetime.date(2020, 1, 2).isoformat() }}' as iso,
              '{{ modules.re.sub('[^a-z]', '', 'a1b2') }}' as re_sub,
              {{ modules.itertools.chain([1], [2]) | list | length }} as chained,
              '{{ modules.datetime.datetime(2020, 1, 1, 12, tzinfo=modules.pytz.utc).astimezone(modules.pytz.timezone('Europe/Paris')).hour }}' as paris_hour,
              '{{ model.unique_id }}' as uid, '{{ model.config.materialized }}' as mat,
              '{{ model.package_name }}' as pkg, '{{ model.tags | join(',') }}' as tags,
              '{{ this.identifier }}' as ident, '{{ this.database }}' as db,
              '{{ this.include(database=true) }}' as full_name,
              '{{ target.database }}' as target_db, '{{ target.schema }}' as target_schema,
              '{{ api.Relation.create(schema='s', identifier='t') }}' as created,
              {{ ref('people') is mapping }} as rel_is_mapping,
              '{{ ref('people').get('metadata').get('type') }}' as rel_type,
              {{ ref('eph').is_cte }} as eph_is_cte,
              '{{ dbt_version }}' as version,
              {{ invocation_id | length }} as inv_len,
              {{ var.has_var('k') }} as has_k, {{ var.has_var('nope') }} as has_nope,
              {{ 'true' | as_bool }} as as_bool, {{ '7' | as_number + 1 }} as as_number,
              '{{ flags.WHICH }}' as which, {{ flags.FULL_REFRESH }} as full_refresh,
              {{ builtins.ref('people') is not none }} as builtins_ref,
              {{ api.Column('c', 'VARCHAR').is_string() }} as col_is_string,
              '{{ api.Column('n', 'DECIMAL', numeric_precision=18, numeric_scale=3).data_type }}' as col_type
            from {{ ref('eph') }}
        """,
    })
    result = project.wml("build", "--full-refresh")
    assert result.exit_code == 0, result.output
    cols = [c[0] for c in project.query("describe main.ctx")]
    row = dict(zip(cols, project.query("select * from main.ctx")[0], strict=True))
    assert row == {
        "from_json": 2, "to_json": '{"x": 1}', "from_yaml": 2, "to_yaml": "c: 3",
        "md5": "900150983cd24fb0d6963f7d28e17f72", "zipped": 2, "uniq": 2, "zip_default": True,
        "iso": "2020-01-02", "re_sub": "ab", "chained": 2, "paris_hour": "13",
        "uid": "model.test.ctx", "mat": "table", "pkg": "test", "tags": "t1",
        "ident": "ctx", "db": "warehouse", "full_name": '"warehouse"."main"."ctx"',
        "target_db": "warehouse", "target_schema": "main", "created": '"s"."t"',
        "rel_is_mapping": True, "rel_type": "DuckDBRelation", "eph_is_cte": True,
        "version": "1.11.0", "inv_len": 36, "has_k": True, "has_nope": False,
        "as_bool": True, "as_number": 8, "which": "build", "full_refresh": True,
        "builtins_ref": True, "col_is_string": True, "col_type": "DECIMAL(18,3)",
    }


def test_graph_lists_nodes_with_dbt_ids(project):
    project.write({
        **PEOPLE,
        "models_sql/a.sql": "select * from {{ ref('people') }}",
        "models_sql/g.sql": """
            -- depends_on: {{ ref('a') }}
            {% set ids = [] %}
            {% if execute %}
              {% for node in graph.nodes.values() | sort(attribute='unique_id') %}
                {% do ids.append(node.unique_id ~ '<' ~ node.depends_on.nodes | join('+')) %}
              {% endfor %}
            {% endif %}
            select '{{ ids | join(' ') }}' as ids
        """,
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.scalar("select ids from main.g") == (
        "model.test.a<seed.test.people model.test.g<model.test.a seed.test.people<"
    )


def test_log_print_and_warn(project):
    project.write({
        "models_sql/l.sql": """
            {% do log('quiet one') %}{% do log('loud one', info=true) %}
            {% do print('printed') %}{% do exceptions.warn('careful') %}
            select 1 as x
        """,
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "loud one" in out and "printed" in out and "careful" in out
    assert "quiet one" not in out


def test_raise_compiler_error_names_the_model(project):
    project.write({"models_sql/bad.sql": "{{ exceptions.raise_compiler_error('no good: ' ~ 1) }}select 1"})
    assert_clean_error(project.wml("build"), 2, "no good: 1", "bad")


def test_ref_seen_only_at_run_time_asks_for_depends_on(project):
    project.write({
        **PEOPLE,
        "models_sql/late.sql": "{% if execute %}select * from {{ ref('people') }}{% else %}select 1 as x{% endif %}",
    })
    result = project.wml("build")
    assert_clean_error(result, 1, "depends_on", "ref('people')")


def test_materialization_helpers(project):
    project.write({
        **PEOPLE,
        "models_sql/h.sql": """
            {{ config(materialized='table', full_refresh=false, where='id > 1') }}
            {% set tmp = make_temp_relation(this) %}
            {% set cols = get_columns_in_query('select 1 as a, 2 as b') %}
            select
              {{ should_full_refresh() }} as sfr,
              '{{ tmp.identifier }}' as tmp_name,
              '{{ cols | join(',') }}' as cols,
              '{{ get_where_subquery(ref('people')) }}' as filtered,
              {{ load_relation(ref('people')) is not none }} as people_loaded,
              {{ is_incremental() }} as inc
        """,
    })
    result = project.wml("build", "--full-refresh")
    assert result.exit_code == 0, result.output
    assert project.query("select * from main.h") == [(
        False, "h__dbt_tmp", "a,b", '(select * from "main"."people" where id > 1) dbt_subquery', True, False,
    )]


@pytest.mark.parametrize("command", ["compile", "ls"])
def test_parse_only_commands_do_not_need_the_database(project, command):
    """`wml ls` parses (execute false) and runs no query; compile renders with a connection."""
    project.write({**PEOPLE, "models_sql/q.sql": "select {{ run_query('select 41 + 1').columns[0].values()[0] if execute else 0 }} as x"})
    assert project.wml("seed").exit_code == 0
    result = project.wml(command)
    assert result.exit_code == 0, result.output
    if command == "compile":
        assert "select 42 as x" in (project.root / "target/compiled/models_sql/q.sql").read_text()


def test_macros_call_macros_of_later_files_and_private_ones_by_package(project):
    """dbt resolves macro names when they run: a.sql may call b.sql's macros, and a
    package's `_private` macros are reachable as `<package>._name()` (dbt_utils does both)."""
    project.write({
        "macros/a.sql": "{% macro outer() %}{{ return(test._inner() ~ '+' ~ later()) }}{% endmacro %}",
        "macros/b.sql": """
            {% macro _inner() %}inner{% endmacro %}
            {% macro later() %}later{% endmacro %}
        """,
        "models_sql/m.sql": "select '{{ outer() }}' as v",
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.scalar("select v from main.m") == "inner+later"


def test_a_query_result_that_parsing_lacks_defers_errors_to_run_time(project):
    """Parsing has no query results (dbt parses leniently): a node that queried renders,
    and reports errors, when it runs."""
    project.write({
        **PEOPLE,
        "macros/m.sql": """
            {% macro as_dict(sql) %}
              {% set out = {} %}
              {% if execute %}{% for name, col in run_query(sql).columns.items() %}{% do out.update({name: col.values()}) %}{% endfor %}{% endif %}
              {{ return(out) }}
            {% endmacro %}
        """,
        "models_sql/d.sql": """
            select '{{ as_dict('select name from ' ~ ref('people') ~ ' order by id')['name'] | join(',') }}' as names
        """,
        "models_sql/broken.sql": """
            select '{{ as_dict('select 1 as x')['missing'] | join(',') }}' as v
        """,
    })
    result = project.wml("build")
    assert result.exit_code == 1, result.output
    assert project.scalar("select names from main.d") == "ada,bob,cy"
    assert "broken" in result.output and "missing" in result.output


def test_dbt_projects_write_three_part_relation_names_and_print_undefined_as_empty(project):
    """dbt-duckdb renders "database"."schema"."name", and dbt prints an undefined name as
    '' (packages rely on it); a wml_project.yml project keeps both as they were."""
    files = {
        **PEOPLE,
        "models_sql/m.sql": "select '{{ ref('people') }}' as rel, '{{ not_set_anywhere }}' as blank",
    }
    project.write(files)
    assert_clean_error(project.wml("build"), 2, "not_set_anywhere")
    project.remove("wml_project.yml")
    project.write({
        "dbt_project.yml": "name: test\nprofile: test\nmodel-paths: [models_sql]\n",
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.query("select * from main.m") == [('"warehouse"."main"."people"', "")]


def test_adapter_drop_and_rename_in_a_hook_run_in_the_models_transaction(project):
    project.write({
        "models_sql/junk.sql": "{{ config(materialized='table') }} select 1 as x",
        "models_sql/old.sql": "{{ config(materialized='table') }} select 2 as x",
        "models_sql/cleaner.sql": """
            {{ config(materialized='table', post_hook=[
                "{% do adapter.drop_relation(ref('junk')) %}select 1",
                "{% do adapter.rename_relation(ref('old'), api.Relation.create(schema='main', identifier='renamed')) %}select 1",
            ]) }}
            -- depends_on: {{ ref('junk') }} {{ ref('old') }}
            select 3 as x
        """,
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    tables = {r[0] for r in project.query("select table_name from information_schema.tables")}
    assert "junk" not in tables and "old" not in tables
    assert {"renamed", "cleaner"} <= tables
    assert project.scalar("select x from main.renamed") == 2


def test_ephemeral_ref_is_a_relation_to_is_relation_checks(project):
    """dbt_utils' `_is_relation` accepts an ephemeral model's ref (a mapping whose
    metadata type ends with Relation) and `_is_ephemeral` sees `is_cte`."""
    project.write({
        "macros/checks.sql": """
            {% macro kind_of(obj) %}
              {%- if not (obj is mapping and obj.get('metadata', {}).get('type', '').endswith('Relation')) -%}
                {{ return('not a relation') }}
              {%- endif -%}
              {{ return('cte' if obj.is_cte else 'relation') }}
            {% endmacro %}
        """,
        "models_sql/eph.sql": "{{ config(materialized='ephemeral') }} select 1 as one",
        "models_sql/base.sql": "select 2 as two",
        "models_sql/k.sql": "select '{{ kind_of(ref('eph')) }}' as e, '{{ kind_of(ref('base')) }}' as b, '{{ kind_of('x') }}' as s from {{ ref('eph') }}",
    })
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.query("select * from main.k") == [("cte", "relation", "not a relation")]


def test_a_post_hook_may_drop_the_relation_it_built(project):
    project.write({
        "seeds/gone.csv": "a\n1\n",
        "wml_project.yml": "name: test\nseeds:\n  +post_hook: \"{% do adapter.drop_relation(this) %}\"\n",
    })
    result = project.wml("seed")
    assert result.exit_code == 0, result.output
    assert project.query("select count(*) from information_schema.tables where table_name = 'gone'") == [(0,)]
