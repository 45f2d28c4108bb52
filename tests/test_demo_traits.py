"""The demo's trait-macro model reads its timestamp from vars.wml and agrees with hand SQL."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT

import warehouse_ml


def _query(demo: Path, sql: str) -> list[tuple]:
    con = warehouse_ml.connect(str(demo))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_demo_trait_calls_take_the_project_timestamp() -> None:
    sql = (ROOT / "models_sql/traits/segment_traits.sql").read_text()
    assert "wml.event_counter(" in sql and "timestamp=" not in sql
    assert "timestamp: event_at" in (ROOT / "wml_project.yml").read_text()


def test_demo_trait_macros_match_the_hand_written_features(demo: Path) -> None:
    """profile_traits (macros/demo_features.sql) computes the same 90-day traits by hand."""
    rows = _query(demo, """
        select count(*),
               count(*) filter (where s.orders_90d <> p.orders_90d
                                   or s.product_viewed_90d <> p.product_viewed_90d
                                   or abs(coalesce(s.revenue_90d, 0) - p.revenue_90d) > 1e-6),
               count(*) filter (where s.orders_90d > 0)
        from segment_traits as s join profile_traits as p using (profile_id)""")
    [(matched, differing, ordering)] = rows
    assert matched > 1000 and ordering > 100
    assert differing == 0
