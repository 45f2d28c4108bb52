"""``wml docs generate``'s site read as files: every node in the lineage SVG and data.js,
node pages with columns, SQL, tests and last results, sources with freshness, model
cards with their plots, hidden nodes, secrets, and a failed generate writing nothing."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from pathlib import Path

import duckdb
from conftest import Project, assert_clean_error

from docsite.conftest import SECRET, wml


def read(project: Project, rel: str) -> str:
    return (project.root / "target" / "docs" / rel).read_text(encoding="utf-8")


def site_data(project: Project) -> dict:
    text = read(project, "data.js")
    assert text.startswith("window.WML_DOCS = ") and text.rstrip().endswith(";")
    return json.loads(text[len("window.WML_DOCS = "):].rstrip().rstrip(";"))


def test_the_lineage_draws_every_node_of_the_manifest_and_its_edges(docs_project):
    manifest = json.loads((docs_project.root / "target" / "manifest.json").read_text())
    index = read(docs_project, "index.html")
    drawn = {uid: kind for kind, uid in re.findall(r'<g class="node kind-([a-z_]+)[^"]*" data-id="([^"]+)"', index)}
    expected = {*manifest["nodes"], *manifest["sources"]} - {"model.shop.hidden_helper"}
    assert set(drawn) == expected
    assert drawn["model.shop.buyer_model"] == "ml_model"
    assert drawn["source.shop.raw.signups"] == "source"
    assert drawn["seed.shop.people"] == "seed"
    assert sum(kind == "test" for kind in drawn.values()) == 3
    edges = set(re.findall(r'data-from="([^"]+)" data-to="([^"]+)"', index))
    assert ("model.shop.buyer_model", "model.shop.scores") in edges  # the predict_buyer() call
    assert ("source.shop.raw.signups", "model.shop.signup_days") in edges
    wanted = {(p, c) for c, ps in manifest["parent_map"].items() for p in ps if c in expected}
    assert edges == wanted
    data = site_data(docs_project)["nodes"]
    assert set(data) == expected
    assert data["model.shop.features"]["children"] and "segment" in data["model.shop.features"]["columns"]
    # the failing warn-severity test is marked on the graph
    assert re.search(r'class="node kind-test status-warn" data-id="test.shop.accepted_values', index)


def test_a_model_page_has_description_columns_sql_and_tests_with_last_results(docs_project):
    page = read(docs_project, "nodes/model.shop.features.html")
    assert "One row per <strong>person</strong>: the inputs of <code>buyer_model</code>." in page
    columns = page[page.index("id='columns'"):page.index("id='tests'")]
    assert "<code>segment</code>" in columns and "VARCHAR" in columns  # type from the warehouse
    assert "The person." in columns
    tests = page[page.index("id='tests'"):]
    assert re.search(r"accepted_values.*?badge warn\">warn<", tests, re.S)
    assert "got 1 failing rows" in tests
    assert len(re.findall(r'badge ok">pass<', tests)) == 2
    sql = page[page.index("id='code'"):]
    assert "&quot;main&quot;.&quot;people&quot;" in sql  # compiled: ref() resolved
    assert "{{ ref(&#x27;people&#x27;) }}" in sql  # and the source as written


def test_sources_show_their_freshness_from_the_last_check(docs_project):
    sources = read(docs_project, "sources.html")
    assert "raw.signups" in sources and "warn after 1 day" in sources
    assert 'badge ok">pass<' in sources
    page = read(docs_project, "nodes/source.shop.raw.signups.html")
    assert "Sign-ups as the app writes them." in page and "loaded_at" in page


def test_every_ml_version_has_a_card_with_the_plots_of_its_kind(docs_project):
    buyer = read(docs_project, "ml/buyer_model/v1.html")
    for label in ("ROC curve", "precision-recall curve", "calibration plot", "cumulative gains chart",
                  "feature importance"):
        assert f'aria-label="{label}"' in buyer, label
    assert re.search(r"The top 10% of scores capture <strong>\d+%</strong> of rows with bought = 1", buyer)
    metrics = buyer[buyer.index('id="held-out-metrics"'):buyer.index('id="leaderboard"')]
    auc = re.search(r"<strong>auc</strong> \(objective\)</td><td>([\d.]+) \[([\d.]+), ([\d.]+)\]</td><td>0.5", metrics)
    assert auc and float(auc[2]) <= float(auc[1]) <= float(auc[3])
    assert "Scored on held-out auc on" in buyer  # the leaderboard names its metric
    # The scoring model's run of predict_buyer, against the training profile (wml.monitoring)
    monitoring = buyer[buyer.index('id="monitoring"'):buyer.index('id="version-history"')]
    assert 'aria-label="drift"' in monitoring  # PSI per column beside its threshold
    assert "<td>Trained because</td><td>first version</td>" in buyer  # the retrain policy's reason
    assert re.search(r"<td>main.scores</td><td>buyer_score</td><td>prediction</td><td>psi</td>"
                     r"<td>[\d.e-]+</td><td>0.2</td><td>ok</td>.*training \(version 1\)", monitoring)
    assert re.search(r'id="version-history".*v1 \(this card\).*badge ok">deployed<', buyer, re.S)
    for feature, kind in (("x1", "DOUBLE"), ("segment", "VARCHAR")):
        assert f"<td>{feature}</td><td>{kind}</td>" in buyer
    spend = read(docs_project, "ml/spend_model/v1.html")
    assert "no monitoring runs recorded" in spend  # nothing calls its function
    assert 'aria-label="predicted versus actual"' in spend and 'aria-label="residual histogram"' in spend
    segments = read(docs_project, "ml/segments/v1.html")
    assert 'aria-label="cluster sizes"' in segments and 'aria-label="cluster profiles"' in segments
    assert "plot unavailable" not in buyer + spend + segments
    node = read(docs_project, "nodes/model.shop.buyer_model.html")
    assert 'href="../ml/buyer_model/v1.html"' in node


def test_hidden_nodes_and_secrets_never_reach_the_site(docs_project):
    folder = docs_project.root / "target" / "docs"
    assert not (folder / "nodes" / "model.shop.hidden_helper.html").exists()
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert SECRET not in text, path
            assert "hidden_helper" not in text, path
    assert "****" in read(docs_project, "nodes/model.shop.features.html")


def test_an_old_version_without_plot_data_says_to_retrain(docs_project, tmp_path):
    copy = Project(tmp_path / "old")
    shutil.copytree(docs_project.root, copy.root)
    con = duckdb.connect(str(copy.root / "warehouse.duckdb"))
    try:  # a registry row as wml wrote it before plots and intervals were recorded
        metrics = json.loads(con.execute("select metrics from wml.models where name = 'buyer_model'").fetchone()[0])
        for key in ("plots", "intervals", "baseline_intervals"):
            metrics.pop(key)
        con.execute("update wml.models set metrics = ? where name = 'buyer_model'", [json.dumps(metrics)])
    finally:
        con.close()
    assert wml(copy, "docs", "generate").exit_code == 0
    card = read(copy, "ml/buyer_model/v1.html")
    assert card.count("plot unavailable, retrain to record it") == 4
    assert "trained before wml recorded them" in card
    out = copy.root / "card.html"
    result = wml(copy, "show", "buyer_model", "--html", "--output", str(out))
    assert result.exit_code == 0, result.output
    single = out.read_text()
    assert "<style>" in single and "assets/site.css" not in single and "plot unavailable" in single


def test_show_html_writes_one_self_contained_card_and_a_bad_version_writes_nothing(docs_project, tmp_path):
    out = tmp_path / "buyer.html"
    result = wml(docs_project, "show", "buyer_model", "--html", "--version", "1", "--output", str(out))
    assert result.exit_code == 0, result.output
    card = out.read_text()
    assert 'aria-label="ROC curve"' in card and "<script" not in card and "<style>" in card
    default = wml(docs_project, "show", "spend_model", "--html")
    assert default.exit_code == 0 and (docs_project.root / "target/cards/spend_model_v1.html").exists()
    missing = tmp_path / "nope.html"
    bad = wml(docs_project, "show", "buyer_model", "--html", "--version", "9", "--output", str(missing))
    assert_clean_error(bad, 2, "has no version 9")
    assert not missing.exists()


def test_a_failed_generate_leaves_the_previous_site_and_manifest(docs_project, tmp_path):
    copy = Project(tmp_path / "broken")
    shutil.copytree(docs_project.root, copy.root)
    before = _outputs(copy.root / "target")
    copy.write({"models_sql/bad.sql": "select {{ undefined_macro() }}"})
    result = wml(copy, "docs", "generate")
    assert_clean_error(result, 2, "bad")
    assert _outputs(copy.root / "target") == before
    assert [p.name for p in (copy.root / "target").iterdir() if p.name.startswith(".docs")] == []


def _outputs(target: Path) -> dict[Path, bytes]:
    """Every file in target/ but the parse caches (a parse may refresh them)."""
    return {p: p.read_bytes() for p in target.rglob("*")
            if p.is_file() and not any(part.endswith("cache") for part in p.parts)}  # fmt: skip


def test_a_docs_mapping_with_an_unknown_key_warns_and_a_bad_one_fails(project):
    project.write({
        "models_sql/a.sql": "select 1 as id",
        "models_sql/schema.yml": "models:\n  - name: a\n    config:\n      docs: {show: true, colour: red}\n",
    })  # fmt: skip
    result = wml(project, "docs", "generate")
    assert result.exit_code == 0, result.output
    assert "docs.colour is not a dbt docs setting" in result.output
    assert "the warehouse is not built yet" in result.output  # nothing built: said, not hidden
    assert (project.root / "target/docs/nodes/model.test.a.html").exists()


def test_docs_serve_serves_the_site_on_loopback(docs_project):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "warehouse_ml", "docs", "serve", "--port", "0", "--project-dir",
         str(docs_project.root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line + proc.stderr.read()
        with urllib.request.urlopen(url[0] + "index.html", timeout=10) as response:
            assert response.status == 200 and b'id="lineage"' in response.read()
        with urllib.request.urlopen(url[0] + "ml/buyer_model/v1.html", timeout=10) as response:
            assert b'aria-label="ROC curve"' in response.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_docs_serve_without_a_site_says_to_generate(project):
    assert_clean_error(wml(project, "docs", "serve", "--port", "0"), 2, "wml docs generate")


def test_a_dbt_project_gets_the_same_site(tmp_path):
    from conftest import PROFILE

    p = Project(tmp_path / "dbtproj")
    p.root.mkdir()
    p.write({
        "profiles.yml": PROFILE.replace("test:", "jaffle:", 1),
        "dbt_project.yml": "name: jaffle\nprofile: jaffle\n",
        "seeds/raw_orders.csv": "id,amount\n1,5\n2,7\n",
        "models/orders.sql": "select id, amount from {{ ref('raw_orders') }}",
        "models/schema.yml": "models:\n  - name: orders\n    description: Orders.\n    columns:\n      - name: id\n        tests: [unique]\n",
    })  # fmt: skip
    assert wml(p, "build").exit_code == 0
    result = wml(p, "docs", "generate")
    assert result.exit_code == 0, result.output
    index = read(p, "index.html")
    assert 'data-id="model.jaffle.orders"' in index and 'data-id="seed.jaffle.raw_orders"' in index
    page = read(p, "nodes/model.jaffle.orders.html")
    assert "Orders." in page and 'badge ok">pass<' in page
    catalog = json.loads((p.root / "target" / "catalog.json").read_text())
    assert set(catalog["nodes"]["model.jaffle.orders"]["columns"]) == {"id", "amount"}


def test_generated_site_links_resolve(docs_project):
    folder = docs_project.root / "target" / "docs"
    for page in folder.rglob("*.html"):
        for href in re.findall(r'(?:href|src)="([^"#:]+)(?:#[^"]*)?"', page.read_text()):
            assert (page.parent / href).resolve().exists(), f"{page.relative_to(folder)} -> {href}"


