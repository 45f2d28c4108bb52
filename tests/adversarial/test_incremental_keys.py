"""Incremental unique keys: NULL-safe matching, and a batch with duplicate keys writes nothing."""

from __future__ import annotations

import pytest
from conftest import assert_clean_error

CLEAN = "id,region,val\n1,eu,a\n,eu,b\n2,,c\n"
CASES = {
    # id: (key, seed after the first build, fragments of the expected error)
    "null-key-twice": ("'id'", "id,region,val\n,eu,b\n,us,c\n", ["unique_key (id)", "id=NULL", "2 times"]),
    "value-key-twice": ("'id'", "id,region,val\n1,eu,a\n1,us,z\n", ["unique_key (id)", "id=1", "2 times"]),
    "composite-null-twice": (
        "['id', 'region']",
        "id,region,val\n,eu,b\n,eu,c\n2,,c\n",
        ["unique_key (id, region)", "id=NULL, region='eu'", "2 times"],
    ),
}


def _model(strategy: str, key: str) -> str:
    return f"""
        {{{{ config(materialized='incremental', incremental_strategy='{strategy}', unique_key={key}) }}}}
        select id, region, val from {{{{ ref('src') }}}}
    """


def _setup(project, strategy: str, key: str) -> list[tuple]:
    project.write(
        {
            "seeds/src.csv": CLEAN,
            "models_sql/inc.sql": _model(strategy, key),
            "models_sql/other.sql": "{{ config(materialized='table') }}\nselect 42 as answer\n",
        }
    )
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    return _rows(project)


def _rows(project) -> list[tuple]:
    return project.query("select id, region, val from main.inc order by all nulls last")


@pytest.mark.parametrize("strategy", ["merge", "delete+insert"])
@pytest.mark.parametrize("case", list(CASES))
def test_duplicate_keys_in_batch_fail_and_write_nothing(project, strategy, case):
    key, seed, fragments = CASES[case]
    before = _setup(project, strategy, key)
    project.write({"seeds/src.csv": seed})
    result = project.wml("build")
    assert_clean_error(result, 1, "models_sql/inc.sql", "model 'inc'", "nothing was written", *fragments)
    assert _rows(project) == before  # the target table is unchanged
    assert project.scalar("select count(*) from main.other") == 1


@pytest.mark.parametrize("case", list(CASES))
def test_full_refresh_with_duplicate_keys_keeps_the_old_table(project, case):
    key, seed, fragments = CASES[case]
    before = _setup(project, "merge", key)
    project.write({"seeds/src.csv": seed})
    assert project.wml("seed").exit_code == 0
    result = project.wml("run", "--full-refresh")
    assert_clean_error(result, 1, "model 'inc'", *fragments)
    assert _rows(project) == before
    assert project.scalar("select count(*) from main.other") == 1


@pytest.mark.parametrize("strategy", ["merge", "delete+insert"])
def test_null_keys_match_null_safely_and_stay_distinct(project, strategy):
    _setup(project, strategy, "['id', 'region']")
    # (NULL, eu) and (2, NULL) are updated in place; (NULL, us) is a new, distinct key.
    project.write({"seeds/src.csv": "id,region,val\n,eu,B\n2,,C\n,us,d\n"})
    for _ in range(2):  # idempotent reruns never duplicate NULL-keyed rows
        result = project.wml("build")
        assert result.exit_code == 0, result.output
    assert _rows(project) == [(1, "eu", "a"), (2, None, "C"), (None, "eu", "B"), (None, "us", "d")]
