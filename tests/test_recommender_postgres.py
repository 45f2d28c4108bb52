"""A recommender's Redshift SQL (`wml compile-model --dialect redshift`) runs on a real
PostgreSQL server, the Redshift stand-in, and answers as the DuckDB macros do."""

from __future__ import annotations

from test_recommender import make

DIALECT = "redshift"  # what wml prints for Redshift, run as printed


def _copy(p, con, duck_table: str, pg_table: str, columns: str) -> None:
    """The rows of a DuckDB relation into a PostgreSQL table (bound values)."""
    rows = p.query(f"select * from {duck_table}")
    with con.cursor() as cur:
        if columns:
            cur.execute(f"create table if not exists {pg_table} ({columns})")
        if rows:
            marks = ", ".join(["%s"] * len(rows[0]))
            cur.executemany(f"insert into {pg_table} values ({marks})", rows)


def test_the_redshift_statements_serve_the_same_answers_on_postgres(tmp_path, pg):
    p = make(tmp_path / "p", rows=4000)
    assert p.wml("build").exit_code == 0
    out = p.wml("compile-model", "recs", "--dialect", DIALECT).output
    statements = [s.strip() for s in out.split(";\n") if s.strip() and not s.strip().startswith("--")]
    # The live query reads the training query's relations, as they are now.
    with pg.cursor() as cur:
        cur.execute("create schema if not exists main")
    _copy(p, pg, "main.events", "main.events",
          "user_id bigint, item_id bigint, event text, ts timestamp")
    with pg.cursor() as cur:
        for sql in statements:
            cur.execute(sql)  # DDL and PREPAREs, as printed
    for part in ("neighbors", "popular", "top"):
        _copy(p, pg, f'wml."recs__v1__{part}"', f'wml."recs__v1__{part}"', "")  # created above
    with pg.cursor() as cur:
        known = [r[0] for r in p.query("select distinct user_id from events order by 1 limit 4")]
        for user in (*known, -999):
            want = p.query(f"select item_id, rank, reason from recommend_recs({user}, 5) order by rank")
            cur.execute(f"execute recommend_recs_live({user}, 5)")
            live = [(r[0], r[2], r[3]) for r in cur.fetchall()]
            assert live == want, (user, live, want)
            cur.execute(f"execute recommend_recs({user}, 5)")
            top = cur.fetchall()
            # the precomputed table: the same lists at training time; none for an unknown user
            assert [r[0] for r in top] == ([r[0] for r in want] if user in known else [])
        want = p.query("select item_id, rank from similar_recs(3, 4) order by rank")
        cur.execute("execute similar_recs(3, 4)")
        assert [(r[0], r[2]) for r in cur.fetchall()] == want
