"""The issue's "done when": the demo's docs site comes from `wml build && wml docs generate`,
with a card for every ML model showing the plots of its kind."""

from __future__ import annotations

import re

from click.testing import CliRunner

from warehouse_ml.cli.main import main

PLOTS = {
    "churn_model": {"ROC curve", "calibration plot", "cumulative gains chart"},
    "repeat_model": {"ROC curve", "precision-recall curve", "cumulative gains chart"},
    "ltv_model": {"predicted versus actual", "residual histogram"},
    "rfm_clusters": {"cluster sizes", "cluster profiles"},
    "recs": {"recommender metrics at K"},
}


def test_the_demo_site_has_the_lineage_and_a_card_per_ml_model(demo):
    env = {"WML_DUCKDB_PATH": str(demo / "warehouse.duckdb")}
    result = CliRunner().invoke(main, ["docs", "generate", "--project-dir", str(demo)], env=env)
    assert result.exit_code == 0, result.output
    site = demo / "target" / "docs"
    index = (site / "index.html").read_text()
    assert 'data-id="model.ecommerce_demo.churn_model"' in index
    assert len(re.findall(r'<g class="node kind-ml_model', index)) == 6
    # The demo's syncs sit downstream of the audience they send (no dbt resource, so not in
    # manifest.json), with their destination's type and never its URL.
    assert len(re.findall(r'<g class="node kind-sync', index)) == 2
    page = (site / "nodes" / "sync.ecommerce_demo.high_value_at_risk_file.html").read_text()
    assert "high_value_at_risk" in page and "WML_DEMO_HOOK_URL" not in index
    for name, labels in PLOTS.items():
        card = (site / "ml" / name / "v1.html").read_text()
        drawn = set(re.findall(r'<svg class="plot" role="img" aria-label="([^"]+)"', card))
        assert labels <= drawn, (name, drawn)
        assert "plot unavailable" not in card, name
