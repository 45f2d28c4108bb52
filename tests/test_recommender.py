"""Recommenders end to end: declare, train, evaluate against popularity, serve as SQL."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest
from conftest import PROFILE, Project, assert_clean_error

from warehouse_ml.ml.recs import evaluate
from warehouse_ml.ml.recs.synthetic import interactions

MODEL = """\
{{ config(materialized='ml_model', model_type='recommender', user_column='user_id',
   item_column='item_id', event_column='event', timestamp_column='ts', half_life_days=60,
   event_weights={'Order Completed': 5, 'Product Viewed': 1}, k=5, ALGO) }}
select * from {{ ref('events') }}
"""


def make(root, algorithm: str = "algorithm='item_knn'", rows: int = 12_000) -> Project:
    p = Project(root)
    p.root.mkdir(parents=True, exist_ok=True)
    p.write({
        "profiles.yml": PROFILE, "wml_project.yml": "name: test\n",
        "models_sql/events.sql": "{{ config(materialized='view') }}\nselect * from {{ ref('raw_events') }}\n",
        "models_sql/recs.sql": MODEL.replace("ALGO", algorithm),
    })  # fmt: skip
    table = interactions(600, 120, rows, groups=6, seed=3)
    (p.root / "seeds").mkdir()
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, p.root / "seeds" / "raw_events.csv")
    return p


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    p = make(tmp_path_factory.mktemp("recs") / "proj")
    result = p.wml("build")
    assert result.exit_code == 0, result.output
    return p


def seen_items(p: Project, user: int) -> set[int]:
    rows = p.query(f"select distinct item_id from raw_events where user_id = {user}")
    return {r[0] for r in rows}


def test_recommends_unseen_similar_items_and_beats_popularity(recs):
    rows = recs.query("select item_id, score, rank, reason from recommend_recs(7, 5)")
    assert [r[2] for r in rows] == [1, 2, 3, 4, 5]
    assert {r[3] for r in rows} == {"similar"}
    assert not {r[0] for r in rows} & seen_items(recs, 7)
    assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)
    with_seen = recs.query("select item_id from recommend_recs(7, 50, exclude_seen := false)")
    assert {r[0] for r in with_seen} & seen_items(recs, 7)
    similar = recs.query("select item_id, rank, reason from similar_recs(3, 4)")
    assert len(similar) == 4 and 3 not in {r[0] for r in similar}
    out = recs.wml("show", "recs").output
    assert "popularity baseline" in out and "ndcg_at_5" in out and "[" in out
    import json

    card = json.loads(recs.wml("show", "recs", "--format", "json").output)
    m = card["metrics"]
    assert m["ndcg_at_5"] > m["baseline"]["ndcg_at_5"] * 1.5, m
    lo, hi = m["intervals"]["ndcg_at_5"]
    assert lo <= m["ndcg_at_5"] <= hi
    assert m["split"]["method"] == "temporal per user"
    assert card["metrics"]["catalog_coverage"] > m["baseline"]["catalog_coverage"]


def test_the_same_items_in_the_top_table_and_the_macro(recs):
    top = recs.query('select item_id from wml."recs__v1__top" where user_id = 11 order by rank')
    live = recs.query("select item_id from recommend_recs(11, 5)")
    assert [r[0] for r in top] == [r[0] for r in live]


def test_every_user_in_one_statement_matches_the_per_user_macro(recs):
    every = recs.query("select user_id, item_id, rank, reason from recommend_recs_all(5) "
                       "where user_id in (7, 11) order by user_id, rank")
    one = [(u, *r) for u in (7, 11)
           for r in recs.query(f"select item_id, rank, reason from recommend_recs({u}, 5)")]
    assert every == one
    n_users = recs.scalar("select count(distinct user_id) from raw_events")
    assert recs.scalar("select count(*) from recommend_recs_all(3)") == 3 * n_users


def test_compile_model_for_redshift_emits_tables_and_serving_sql(recs):
    import sqlglot

    out = recs.wml("compile-model", "recs", "--dialect", "redshift").output
    statements = [s.strip() for s in out.split(";\n") if s.strip()]
    creates = [s for s in statements if s.startswith("CREATE TABLE")]
    assert len(creates) == 3 and 'wml."recs__v1__neighbors"' in out
    assert "PREPARE recommend_recs (BIGINT, INTEGER)" in out and "PREPARE similar_recs" in out
    for s in creates:
        sqlglot.parse_one(s, read="redshift")
    duck = recs.wml("compile-model", "recs").output
    assert duck.count("create or replace macro") == 3


def test_a_new_event_changes_the_next_answer_without_retraining(tmp_path):
    p = make(tmp_path / "p", rows=6000)
    assert p.wml("build").exit_code == 0
    before = p.query("select item_id from recommend_recs(5, 5)")
    con = duckdb.connect(str(p.root / "warehouse.duckdb"))
    for item in (100, 101, 102):  # another taste group, bought today
        con.execute("insert into raw_events values (5, ?, 'Order Completed', timestamp '2026-07-01')",
                    [item])
    con.close()
    after = p.query("select item_id from recommend_recs(5, 5)")
    assert after != before
    assert not {r[0] for r in after} & {100, 101, 102}  # bought: excluded
    assert p.scalar("select count(*) from wml.models") == 1  # no retraining happened


def test_cold_start_and_bad_k(recs):
    popular = recs.query('select item_id from wml."recs__v1__popular" order by rank limit 3')
    unknown = recs.query("select item_id, reason from recommend_recs(-999, 3)")
    assert [r[0] for r in unknown] == [r[0] for r in popular]
    assert {r[1] for r in unknown} == {"popular"}
    unknown_item = recs.query("select reason from similar_recs(-5, 2)")
    assert [r[0] for r in unknown_item] == ["popular", "popular"]
    for k in ("0", "-1", "null"):
        with pytest.raises(duckdb.Error, match="k must be 1 or more"):
            recs.query(f"select * from recommend_recs(7, {k})")
    with pytest.raises(duckdb.Error, match="k must be 1 or more"):
        recs.query("select * from similar_recs(7, 0)")
    for k in ("0", "null"):  # our message, not DuckDB's own from the top-k aggregate
        with pytest.raises(duckdb.Error, match=r"recommend_recs_all\(k\): k must be 1 or more"):
            recs.query(f"select * from recommend_recs_all({k})")


def test_the_plain_duckdb_cli_calls_the_macros(recs):
    from adversarial.test_plain_duckdb import cli

    done = cli(recs.root / "warehouse.duckdb", "select count(*) from recommend_recs(7, 5)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"


def test_retrain_rollback_and_drop(tmp_path):
    p = make(tmp_path / "p", rows=4000)
    assert p.wml("build").exit_code == 0
    p.write({"models_sql/recs.sql": MODEL.replace("ALGO", "algorithm='als'")})
    assert p.wml("build").exit_code == 0
    assert p.query("select version, model_type, deployed from wml.models order by 1") == [
        (1, "item_knn", False), (2, "als", True)]
    comment = "select comment from duckdb_functions() where function_name = 'recommend_recs'"
    assert p.scalar(comment) == "wml:recs:2"
    result = p.wml("deploy", "recs", "--version", "1")
    assert result.exit_code == 0, result.output
    assert p.scalar(comment) == "wml:recs:1"
    assert p.query("select count(*) from recommend_recs(7, 3)") == [(3,)]
    assert p.wml("sql", "DROP MODEL recs").exit_code == 0
    assert p.query("select table_name from information_schema.tables where table_schema = 'wml' "
                   "and table_name like 'recs%'") == []
    assert p.query("select 1 from duckdb_functions() where function_name like '%recs%'") == []


def test_create_model_in_the_bigquery_ml_form(tmp_path):
    p = make(tmp_path / "p", rows=4000)
    sql = ("CREATE MODEL mf OPTIONS(model_type='matrix_factorization', feedback_type='implicit', "
           "user_col='user_id', item_col='item_id', num_factors=8, timestamp_col='ts', k=5) "
           "AS SELECT user_id, item_id, ts FROM raw_events")
    assert p.wml("seed").exit_code == 0
    result = p.wml("sql", sql)
    assert result.exit_code == 0, result.output
    assert p.scalar("select model_type from wml.models where name = 'mf'") == "als"
    assert p.query("select count(*) from similar_mf(3, 2)") == [(2,)]
    bad = p.wml("sql", sql.replace("user_col", "usr_col"))
    assert_clean_error(bad, 2, "unknown option USR_COL", "USER_COL")


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        ("user_column='user_id'", ["missing item_column"]),
        ("user_column='user_id', item_column='item_id', algorithm='svd'", ["unknown algorithm 'svd'"]),
        ("user_column='user_id', item_column='item_id', event_column='event'",
         ["event_column and event_weights go together"]),
        ("user_column='user_id', item_column='item_id', target='x'", ["'target' belongs to supervised"]),
        ("user_column='user_id', item_column='item_id', k=0", ["k must be at least 1"]),
        ("user_column='user_id', item_column='item_id', event_column='event', "
         "event_weights={'Order Completed': -1}", ["must not be negative"]),
        ("user_column='user_id', item_column='item_id', half_life_days=30", ["needs timestamp_column"]),
        ("user_column='user_id', item_column='nope'", ["no column 'nope'"]),
    ],
)
def test_config_errors_name_the_model(project, config, fragments):
    project.write({
        "models_sql/ev.sql": "select 1 as user_id, 2 as item_id, 'x' as event",
        "models_sql/r.sql": f"{{{{ config(materialized='ml_model', model_type='recommender', {config}) }}}}\n"
                            "select * from {{ ref('ev') }}",
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code in (1, 2), result.output
    assert "r" in result.output and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ("select 1 as user_id, 2 as item_id, 1.0 as w where false", "no usable interactions"),
        ("select null::int as user_id, 2 as item_id, 1.0 as w", "no usable interactions"),
        ("select 1 as user_id, range as item_id, 1.0 as w from range(5)", "1 user(s)"),
        ("select range as user_id, 7 as item_id, 1.0 as w from range(5)", "1 item(s)"),
        ("select range as user_id, range % 2 as item_id, range - 3.0 as w from range(5)",
         "negative weight"),
    ],
)
def test_bad_interactions_fail_clearly_and_write_nothing(project, rows, fragment):
    project.write({
        "models_sql/ev.sql": rows,
        "models_sql/r.sql": "{{ config(materialized='ml_model', model_type='recommender', "
                            "user_column='user_id', item_column='item_id', weight_column='w') }}\n"
                            "select * from {{ ref('ev') }}",
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 1 and fragment in result.output, result.output
    assert "recommender 'r'" in result.output
    assert project.query("select table_name from information_schema.tables "
                         "where table_schema = 'wml' and table_name like 'r\\_\\_%' escape '\\'") == []
    assert project.query("select 1 from duckdb_functions() where function_name = 'recommend_r'") == []


def test_null_ids_are_skipped_and_duplicates_count_once(project):
    project.write({
        "models_sql/ev.sql": (
            "select * from (values (1, 10, 1.0), (1, 10, 1.0), (1, 10, 1.0), (1, 11, 1.0), "
            "(2, 10, 1.0), (2, 12, 1.0), (null, 10, 1.0), (3, null, 1.0), (3, 11, 2.0)) "
            "as t(user_id, item_id, w)"),
        "models_sql/r.sql": "{{ config(materialized='ml_model', model_type='recommender', "
                            "user_column='user_id', item_column='item_id', weight_column='w', "
                            "algorithm='popularity') }}\nselect * from {{ ref('ev') }}",
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    # Popularity: item 10 = 1 (deduplicated) + 1, item 11 = 1 + 2, item 12 = 1.
    assert project.query('select item_id, score from wml."r__v1__popular" order by rank') == [
        (11, 3.0), (10, 2.0), (12, 1.0)]
    assert "2 rows with a NULL id skipped" in project.wml("show", "r").output
    assert project.query("select item_id, reason from recommend_r(2, 5)") == [(11, "popular")]


def test_a_folders_supervised_keys_warn_that_they_do_not_apply(project):
    # A recommender in a folder of supervised models inherits their split keys: each one
    # is said to be ignored (and why), and the model still trains on its own holdout.
    project.write({
        "wml_project.yml": "name: test\nmodels:\n  test:\n    ml:\n      +split_column: is_test\n"
                           "      +label_horizon: 30\n      +calibration: sigmoid\n",
        "models_sql/ml/ev.sql": "select range % 20 as user_id, range % 5 as item_id, 1.0 as w from range(60)",
        "models_sql/ml/r.sql": "{{ config(materialized='ml_model', model_type='recommender', "
                               "user_column='user_id', item_column='item_id', weight_column='w', "
                               "algorithm='popularity') }}\nselect * from {{ ref('ev') }}",
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code == 0, result.output
    said = result.output + result.stderr
    for key in ("split_column", "label_horizon", "calibration"):
        assert f"recommender 'r' (models_sql/ml/r.sql): config '{key}' is ignored" in said, said
    assert "holdout_fraction" in said and "eval_fraction" not in said
    assert project.query("select count(*) from recommend_r(1, 3)") == [(3,)]


def test_metrics_on_a_hand_example():
    recs = np.array([[1, 2, 3], [4, 5, 6]])
    truth = [np.array([2, 9]), np.array([7])]
    v = evaluate.per_user(recs, truth, 3)
    assert v["precision"].tolist() == [1 / 3, 0.0]
    assert v["recall"].tolist() == [0.5, 0.0]
    assert v["hit_rate"].tolist() == [1.0, 0.0]
    ideal = 1 + 1 / np.log2(3)
    assert v["ndcg"][0] == pytest.approx((1 / np.log2(3)) / ideal)
    assert v["map"][0] == pytest.approx((1 / 2) / 2)


def test_export_and_predict_say_a_recommender_is_sql(recs):
    assert_clean_error(recs.wml("export", "recs", "--output", str(recs.root / "r.onnx")), 2,
                       "is a recommender", "compile-model")
    assert_clean_error(recs.wml("predict", "recs", "--input", "raw_events", "--output", "x"), 2,
                       "is a recommender", "recommend_recs_all")


CATALOG = """\
select range as item_id, 'group ' || (range % 6) as category, 10.0 + range % 6 as price
from range(120)
union all  -- new products, in the catalog before anyone saw them
select 1000 + range, 'group ' || (range % 6), 10.0 + range % 6 from range(12)
"""


def test_cold_items_get_neighbours_from_the_catalog(tmp_path):
    p = make(tmp_path / "p", algorithm="algorithm='item_knn', catalog=ref('catalog'), "
                                       "content_columns=['category', 'price']", rows=6000)
    p.write({"models_sql/catalog.sql": CATALOG})
    result = p.wml("build")
    assert result.exit_code == 0, result.output
    # A new product's similar items share its category (the generator's taste groups).
    rows = p.query("select item_id, reason from similar_recs(1003, 5)")
    assert len(rows) == 5 and {r[1] for r in rows} == {"similar"}
    assert {r[0] % 6 for r in rows} == {3}
    # The other way: new products reach the viewers of warm ones. A warm item lists its best
    # cold matches (same category, nearest price) mid-list, never ahead of every warm one.
    offered = p.query("select item_id, rank from similar_recs(3, 50) where item_id >= 1000")
    assert offered and {(r[0] - 1000) % 6 for r in offered} == {3} and min(r[1] for r in offered) > 1
    (cold_first,) = p.query("select min(rank) from similar_recs(3, 50) where item_id >= 1000")[0:1]
    (warm_last,) = p.query("select max(rank) from similar_recs(3, 50) where item_id < 1000")[0:1]
    assert cold_first[0] < warm_last[0], (cold_first, warm_last)
    # A user who views only new products gets that category's items, with no retrain.
    con = duckdb.connect(str(p.root / "warehouse.duckdb"))
    con.execute("insert into raw_events values (99999, 1004, 'Product Viewed', timestamp '2026-07-01')")
    con.execute("insert into raw_events values (99998, 3, 'Product Viewed', timestamp '2026-07-01')")
    con.close()
    warm_viewer = p.query("select item_id, rank from recommend_recs(99998, 40) where item_id >= 1000")
    assert warm_viewer and {(r[0] - 1000) % 6 for r in warm_viewer} == {3}, warm_viewer
    recs = p.query("select item_id, reason from recommend_recs(99999, 5)")
    assert {r[1] for r in recs} == {"similar"} and {r[0] % 6 for r in recs} == {4}
    assert p.scalar("select count(*) from wml.models") == 1
    # A product added to the catalog is data the model is trained on: the next build retrains.
    p.write({"models_sql/catalog.sql": CATALOG + "union all select 2000, 'group 1', 11.0\n"})
    assert p.wml("build").exit_code == 0
    assert p.scalar("select count(*) from wml.models") == 2
    assert {r[0] % 6 for r in p.query("select item_id from similar_recs(2000, 3)")} == {1}


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ("catalog=ref('catalog')", "catalog and content_columns go together"),
        ("catalog=ref('catalog'), content_columns=['colour']", "cannot read the catalog"),
        ("catalog=ref('catalog'), content_columns='item_id'", "must not include the item column"),
    ],
)
def test_catalog_config_errors(project, config, fragment):
    project.write({
        "models_sql/ev.sql": "select range % 3 as user_id, range % 4 as item_id from range(20)",
        "models_sql/catalog.sql": "select range as item_id, 'a' as category from range(6)",
        "models_sql/r.sql": "{{ config(materialized='ml_model', model_type='recommender', "
                            f"user_column='user_id', item_column='item_id', {config}) }}}}\n"
                            "select * from {{ ref('ev') }}",
    })  # fmt: skip
    result = project.wml("build")
    assert result.exit_code in (1, 2) and fragment in result.output, result.output
    assert "Traceback" not in result.output
    assert project.query("select 1 from duckdb_functions() where function_name = 'recommend_r'") == []


@pytest.mark.parametrize(
    ("budget", "ran", "stopped_by"), [(0.001, 1, "max_runtime"), (600, 4, "exhausted")]
)
def test_auto_searches_within_max_runtime_and_says_what_stopped_it(tmp_path, budget, ran, stopped_by):
    p = make(tmp_path / "p", algorithm=f"algorithm='auto', max_runtime={budget}", rows=4000)
    result = p.wml("build")
    assert result.exit_code == 0, result.output
    (metrics, board) = p.query("select metrics, leaderboard from wml.models where name = 'recs'")[0]
    search, board = json.loads(metrics)["search"], json.loads(board)
    assert (search["run"], search["stopped_by"], len(board)) == (ran, stopped_by, ran), search
    assert len(search["skipped"]) == 4 - ran
    # A skipped candidate was never fitted; the first (popularity) always runs.
    expected = {"popularity"} if ran == 1 else {"popularity", "item_knn", "als", "bpr"}
    assert {r["model_type"] for r in board} == expected
    shown = p.wml("show", "recs").output
    assert f"{ran} of 4 candidates, stopped by {stopped_by}" in shown, shown
