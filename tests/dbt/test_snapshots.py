"""dbt snapshots: timestamp and check strategies, hard deletes, meta column names, YAML."""

from __future__ import annotations

import pytest

DBT = "name: test\nschema_naming: dbt\nseed_type_inference: agate\n"
V1 = "id,name,updated_at\n1,ada,2024-01-01 00:00:00\n2,bob,2024-01-01 00:00:00\n"
V2 = "id,name,updated_at\n1,ada,2024-01-01 00:00:00\n2,bo,2024-02-01 00:00:00\n3,cy,2024-02-01 00:00:00\n"
V3 = "id,name,updated_at\n1,ada,2024-01-01 00:00:00\n3,cy,2024-02-01 00:00:00\n"
TIMESTAMP = """
{% snapshot people_snap %}
{{ config(target_schema='snapshots', unique_key='id', strategy='timestamp', updated_at='updated_at'
          HARD) }}
select * from {{ ref('people') }}
{% endsnapshot %}
"""


def history(project, table: str = "snapshots.people_snap", extra: str = "") -> list[tuple]:
    return project.query(
        f"select id, name, dbt_valid_from::varchar, dbt_valid_to::varchar{extra} from {table} "
        "order by id, dbt_valid_from"
    )


def snap(project, seed: str) -> None:
    project.write({"seeds/people.csv": seed})
    assert project.wml("seed").exit_code == 0
    result = project.wml("snapshot")
    assert result.exit_code == 0, result.output


def test_timestamp_strategy_closes_changed_rows_and_adds_new_ones(project):
    project.write({"wml_project.yml": DBT, "snapshots/people.sql": TIMESTAMP.replace("HARD", "")})
    snap(project, V1)
    assert project.query("select column_name from information_schema.columns where table_name = 'people_snap' order by ordinal_position") == [
        ("id",), ("name",), ("updated_at",), ("dbt_scd_id",), ("dbt_updated_at",), ("dbt_valid_from",), ("dbt_valid_to",),
    ]  # fmt: skip
    snap(project, V2)
    snap(project, V2)  # nothing changed: no new versions
    assert history(project) == [
        (1, "ada", "2024-01-01 00:00:00", None),
        (2, "bob", "2024-01-01 00:00:00", "2024-02-01 00:00:00"),
        (2, "bo", "2024-02-01 00:00:00", None),
        (3, "cy", "2024-02-01 00:00:00", None),
    ]
    scd = project.scalar("select dbt_scd_id from snapshots.people_snap where name = 'ada'")
    assert scd == project.scalar("select md5('1|2024-01-01 00:00:00')")
    snap(project, V3)  # a deleted row is ignored by default
    assert project.scalar("select count(*) from snapshots.people_snap where dbt_valid_to is null") == 3


def test_invalidate_hard_deletes_closes_the_deleted_key(project):
    project.write({
        "wml_project.yml": DBT,
        "snapshots/people.sql": TIMESTAMP.replace("HARD", ", invalidate_hard_deletes=true"),
    })  # fmt: skip
    snap(project, V2)
    snap(project, V3)
    open_rows = project.query("select id from snapshots.people_snap where dbt_valid_to is null order by id")
    assert open_rows == [(1,), (3,)]


def test_hard_deletes_new_record_marks_the_deletion(project):
    project.write({
        "wml_project.yml": DBT,
        "snapshots/people.sql": TIMESTAMP.replace("HARD", ", hard_deletes='new_record'"),
    })  # fmt: skip
    snap(project, V2)
    snap(project, V3)
    snap(project, V3)  # already marked deleted: no second deletion record
    rows = project.query(
        "select id, dbt_is_deleted, dbt_valid_to is null from snapshots.people_snap where id = 2 order by dbt_valid_from"
    )
    assert rows == [(2, "False", False), (2, "True", True)]


def test_check_strategy_with_a_list_key_and_custom_meta_names(project):
    project.write({
        "wml_project.yml": DBT,
        "snapshots/people.sql": """
            {% snapshot people_check %}
            {{ config(schema='hist', unique_key=['id', 'kind'], strategy='check', check_cols=['name'],
                      snapshot_meta_column_names={'dbt_valid_from': 'valid_from', 'dbt_valid_to': 'valid_to'},
                      dbt_valid_to_current="'9999-12-31'::timestamp") }}
            select id, 'p' as kind, name from {{ ref('people') }}
            {% endsnapshot %}
        """,
    })  # fmt: skip
    snap(project, V1)
    snap(project, V2)
    rows = project.query(
        "select id, name, valid_to::varchar from main_hist.people_check order by id, valid_from"
    )
    assert [r[:2] for r in rows] == [(1, "ada"), (2, "bob"), (2, "bo"), (3, "cy")]
    assert [r[2] == "9999-12-31 00:00:00" for r in rows] == [True, False, True, True]


def test_check_all_and_yaml_snapshot_with_relation(project):
    project.write({
        "wml_project.yml": DBT,
        "snapshots/people.yml": """
            snapshots:
              - name: people_all
                relation: ref('people')
                config: {unique_key: id, strategy: check, check_cols: all}
                columns:
                  - name: id
                    tests: [not_null]
        """,
        "models_sql/current.sql": "select * from {{ ref('people_all') }} where dbt_valid_to is null",
    })  # fmt: skip
    snap(project, V1)
    snap(project, V2)
    assert project.scalar("select count(*) from main.people_all") == 4  # 1, 2 (old and new), 3
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.scalar("select count(*) from main.current") == 3
    listed = project.wml("ls", "--resource-type", "snapshot")
    assert listed.output.split() == ["people_all"]


def test_a_failing_snapshot_changes_nothing(project):
    project.write({"wml_project.yml": DBT, "snapshots/people.sql": TIMESTAMP.replace("HARD", "")})
    snap(project, V1)
    before = history(project)
    project.write({"seeds/people.csv": V2, "snapshots/people.sql": TIMESTAMP.replace(
        "HARD", ", post_hook='select * from no_such_table'")})  # fmt: skip
    assert project.wml("seed").exit_code == 0
    result = project.wml("snapshot")
    assert result.exit_code == 1
    assert history(project) == before


@pytest.mark.parametrize("config,message", [
    ("strategy='timestamp', unique_key='id'", "the timestamp strategy needs updated_at"),
    ("strategy='check', unique_key='id', check_cols='name'", "check_cols must be 'all' or a list"),
    ("unique_key='id'", "a snapshot needs strategy"),
])  # fmt: skip
def test_incomplete_config_is_a_clear_error(project, config, message):
    project.write({
        "wml_project.yml": DBT,
        "seeds/people.csv": V1,
        "snapshots/s.sql": f"{{% snapshot s %}}{{{{ config({config}) }}}} select * from {{{{ ref('people') }}}}{{% endsnapshot %}}",
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 1
    assert message in result.output


def test_hooks_on_seeds_and_snapshots_and_outside_the_transaction(project):
    """dbt's {sql, transaction: false} / after_commit() run after COMMIT: a failing one
    leaves the committed build in place; in-transaction hooks roll it back."""
    project.write({
        "wml_project.yml": DBT + "seeds:\n  +post_hook: \"create or replace table main.seed_log as select count(*) as n from {{ this }}\"\n",
        "snapshots/people.sql": TIMESTAMP.replace(
            "HARD", ", post_hook=[after_commit('create or replace table main.snap_log as select count(*) as n from {{ this }}')],"
            " pre_hook={'sql': 'create table if not exists main.pre_log as select 1 as x', 'transaction': false}"),
        "seeds/people.csv": V1,
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    assert project.scalar("select n from main.seed_log") == 2
    assert project.scalar("select n from main.snap_log") == 2
    assert project.scalar("select x from main.pre_log") == 1
    project.write({"snapshots/people.sql": TIMESTAMP.replace(
        "HARD", ", post_hook=[after_commit('select * from no_such_table')]")})  # fmt: skip
    project.write({"seeds/people.csv": V2})
    result = project.wml("build")
    assert result.exit_code == 1
    assert "committed before this hook ran" in result.output
    assert project.scalar("select count(*) from snapshots.people_snap") == 4  # the snapshot stands


def test_two_snapshot_blocks_in_one_file_are_two_snapshots(project):
    project.write({
        "wml_project.yml": DBT,
        "snapshots/both.sql": TIMESTAMP.replace("HARD", "") + """
            {% snapshot people_check %}
            {{ config(target_schema='snapshots', unique_key='id', strategy='check', check_cols=['name'],
                      hard_deletes='new_record') }}
            select id, name from {{ ref('people') }}
            {% endsnapshot %}
        """,
    })  # fmt: skip
    snap(project, V1)
    cols = [r[0] for r in project.query(
        "select column_name from information_schema.columns where table_name = 'people_check' order by ordinal_position")]  # fmt: skip
    assert cols == ["id", "name", "dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to", "dbt_is_deleted"]
    assert project.scalar("select count(*) from snapshots.people_snap") == 2
