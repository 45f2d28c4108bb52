"""Seeds typed as dbt-duckdb types them (agate inference), and column_types / delimiter."""

from __future__ import annotations

DBT = "name: test\nschema_naming: dbt\nseed_type_inference: agate\n"
CSV = """\
id,amount,price,day,at,iso_at,flag,code,empty,note
1,10,1.50,2024-01-31,2024-01-31 10:00:00,2024-01-31T10:00:00,true,007,,x
2,20,2.00,2024-02-01,2024-02-01 11:30:00,2024-02-01T11:30:00.5,False,010,,
"""


def types(project, table: str) -> dict[str, str]:
    return dict(project.query(
        "select column_name, data_type from information_schema.columns "
        f"where table_name = '{table}' order by ordinal_position"
    ))  # fmt: skip


def test_types_are_the_ones_dbt_duckdb_gives(project):
    project.write({"wml_project.yml": DBT, "seeds/s.csv": CSV})
    result = project.wml("seed")
    assert result.exit_code == 0, result.output
    assert types(project, "s") == {
        "id": "INTEGER", "amount": "INTEGER", "price": "DOUBLE", "day": "DATE",
        "at": "TIMESTAMP", "iso_at": "TIMESTAMP", "flag": "BOOLEAN", "code": "INTEGER",
        "empty": "INTEGER", "note": "VARCHAR",
    }  # fmt: skip
    rows = project.query("select id, price, iso_at, flag, code, note from s order by id")
    assert [r[:2] for r in rows] == [(1, 1.5), (2, 2.0)]
    assert str(rows[1][2]) == "2024-02-01 11:30:00.500000" and rows[1][3] is False
    assert rows[0][4] == 7 and rows[1][5] is None


def test_column_types_override_and_timestamps_with_t_load(project):
    project.write({
        "wml_project.yml": DBT + "seeds:\n  test:\n    s:\n      +column_types: {code: varchar, price: 'decimal(10,2)', at: timestamp}\n",
        "seeds/s.csv": CSV,
    })  # fmt: skip
    result = project.wml("seed")
    assert result.exit_code == 0, result.output
    got = types(project, "s")
    assert (got["code"], got["price"], got["at"]) == ("VARCHAR", "DECIMAL(10,2)", "TIMESTAMP")
    assert project.query("select code from s order by id") == [("007",), ("010",)]


def test_our_format_also_takes_a_declared_timestamp_with_t(project):
    project.write({
        "seeds/e.csv": "id,at\n1,2024-01-31T10:00:00\n2,2024-02-01T11:30:00\n",
        "seeds/e.yml": "seeds:\n  - name: e\n    config:\n      column_types: {at: timestamp}\n",
    })  # fmt: skip
    result = project.wml("seed")
    assert result.exit_code == 0, result.output
    assert types(project, "e") == {"id": "BIGINT", "at": "TIMESTAMP"}  # wml keeps BIGINT


def test_delimiter_and_a_header_only_file(project):
    project.write({
        "wml_project.yml": DBT + "seeds:\n  +delimiter: ';'\n",
        "seeds/semis.csv": "a;b\n1;x,y\n",
        "seeds/header_only.csv": "a;b\n",
    })  # fmt: skip
    result = project.wml("seed")
    assert result.exit_code == 0, result.output
    assert project.query("select a, b from semis") == [(1, "x,y")]
    assert project.scalar("select count(*) from header_only") == 0
    assert types(project, "header_only") == {"a": "INTEGER", "b": "INTEGER"}


def test_a_value_that_breaks_a_declared_type_fails_and_keeps_the_old_table(project):
    project.write({"wml_project.yml": DBT, "seeds/s.csv": "id\n1\n"})
    assert project.wml("seed").exit_code == 0
    project.write({
        "wml_project.yml": DBT + "seeds:\n  +column_types: {id: integer}\n",
        "seeds/s.csv": "id\n1\nabc\n",
    })  # fmt: skip
    result = project.wml("seed")
    assert result.exit_code == 1
    assert "column_types" in result.output
    assert project.query("select id from s") == [(1,)]


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(project):
    """Excel writes UTF-8 CSVs with a BOM; dbt-duckdb's seed has a plain first column."""
    for fmt in (DBT, "name: test\n"):
        project.write({"wml_project.yml": fmt, "seeds/bom.csv": "\ufeffid,name\n1,a\n2,b\n"})
        result = project.wml("seed")
        assert result.exit_code == 0, result.output
        assert list(types(project, "bom")) == ["id", "name"]
        assert project.query("select sum(id) from bom") == [(3,)]


def test_values_are_read_as_dbt_duckdbs_copy_reads_them(project):
    # dbt_utils' data_nullcheck_table: DuckDB's COPY sniffs ' as the quote, so '' is NULL;
    # a file quoted with " keeps its commas inside quotes.
    project.write({
        "wml_project.yml": DBT,
        "seeds/single.csv": "field_1,field_2,field_3\na,'',1\n'',b,2\n'','',3\n",
        "seeds/double.csv": 'id,note\n1,"a, b"\n2,""\n',
    })  # fmt: skip
    result = project.wml("seed")
    assert result.exit_code == 0, result.output
    assert project.query("select * from single order by field_3") == [
        ("a", None, 1), (None, "b", 2), (None, None, 3),
    ]  # fmt: skip
    assert project.query("select id, note from double order by id") == [(1, "a, b"), (2, None)]


def test_an_empty_cell_does_not_stop_a_column_being_a_date(project):
    # dbt_utils' data_test_mutually_exclusive_ranges_with_gaps: the last valid_to is empty
    project.write({"wml_project.yml": DBT, "seeds/ranges.csv": "id,valid_from,valid_to,at\n1,2019-01-01,2019-02-01,\n2,2019-07-03,,\n"})
    result = project.wml("seed")
    assert result.exit_code == 0, result.output
    assert types(project, "ranges") == {"id": "INTEGER", "valid_from": "DATE", "valid_to": "DATE", "at": "INTEGER"}
    assert project.query("select valid_to from ranges order by id") == [(__import__("datetime").date(2019, 2, 1),), (None,)]
