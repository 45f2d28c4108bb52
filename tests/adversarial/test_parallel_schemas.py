"""Parallel builds into new schemas: every schema is created once, before the workers."""

from __future__ import annotations

import pytest


def _models(n: int) -> dict[str, str]:
    files = {"seeds/base.csv": "id\n1\n2\n3\n"}
    for i in range(n):
        schema = "s1" if i % 2 else "s2"
        files[f"models_sql/m{i:02d}.sql"] = (
            f"{{{{ config(materialized='table', schema='{schema}') }}}}\n"
            f"select id, {i} as k from {{{{ ref('base') }}}}\n"
        )
    return files


@pytest.mark.parametrize("round_", range(3), ids=lambda r: f"round{r}")
def test_sixteen_tables_in_two_new_schemas_with_8_threads(project, round_):
    project.write(_models(20))
    assert project.wml("seed").exit_code == 0
    base_rows = project.scalar("select count(*) from main.base")
    for attempt in range(3):  # the race hit 1-4 of 16 models per run; repeat to be sure
        result = project.wml("run", "--threads", "8")
        assert result.exit_code == 0, f"attempt {attempt}:\n{result.output}"
        assert "write-write conflict" not in result.output
        # drop the schemas so the next attempt has to create them again
        if attempt < 2:
            import duckdb

            con = duckdb.connect(str(project.root / "warehouse.duckdb"))
            con.execute("drop schema s1 cascade; drop schema s2 cascade")
            con.close()
    counts = project.query(
        "select table_schema, count(*) from information_schema.tables "
        "where table_schema in ('s1', 's2') group by 1 order by 1"
    )
    assert counts == [("s1", 10), ("s2", 10)]
    assert project.scalar("select count(*) from main.base") == base_rows
