"""target/manifest.json and target/run_results.json in dbt's shapes (manifest v12, run
results v6), so that tools reading dbt's artifacts read ours: checked key by key against
what the published schemas require, on a small project built through the CLI."""

from __future__ import annotations

import json
import re

import pytest

FILES = {
    "wml_project.yml": "name: shop\nmodels:\n  +materialized: table\n",
    "seeds/raw_orders.csv": "id,amount\n1,10\n2,20\n",
    "macros/money.sql": (
        "{% macro cents(col) %}{{ col }} * 100{% endmacro %}\n"
        "{% macro twice(col) %}{{ cents(col) }} * 2{% endmacro %}\n"
    ),
    "models_sql/staging/stg_orders.sql": (
        "select id, {{ twice('amount') }} as cents from {{ ref('raw_orders') }}\n"
    ),
    "models_sql/orders.sql": "{{ config(tags=['daily']) }}\nselect count(*) as n from {{ ref('stg_orders') }}\n",
    "models_sql/bad.sql": "select * from {{ ref('orders') }} where n = 'not a number'\n",
    "models_sql/after_bad.sql": "select * from {{ ref('bad') }}\n",
    "tests/sql/orders_not_empty.sql": "select * from {{ ref('orders') }} where n = 0\n",
    "models_sql/schema.yml": """
        models:
          - name: stg_orders
            description: one row per order
            columns:
              - name: id
                description: the order id
                tests: [unique, not_null]
              - name: cents
                tests:
                  - accepted_values: {values: [2000], severity: warn}
    """,
}

TOP_LEVEL = {"metadata", "nodes", "sources", "macros", "docs", "exposures", "metrics", "groups",
             "selectors", "disabled", "parent_map", "child_map", "group_map", "saved_queries",
             "semantic_models", "unit_tests"}  # fmt: skip
# Required by https://schemas.getdbt.com/dbt/manifest/v12.json for every node.
NODE_REQUIRED = {"schema", "name", "resource_type", "package_name", "path", "original_file_path",
                 "unique_id", "fqn", "alias", "checksum"}  # fmt: skip
# Keys a model, test or snapshot node may have (the schema forbids others).
NODE_KEYS = NODE_REQUIRED | {
    "database", "config", "tags", "description", "columns", "meta", "group", "docs",
    "patch_path", "build_path", "unrendered_config", "created_at", "config_call_dict",
    "unrendered_config_call_dict", "relation_name", "raw_code", "doc_blocks", "language",
    "refs", "sources", "metrics", "functions", "depends_on", "compiled_path", "compiled",
    "compiled_code", "extra_ctes_injected", "extra_ctes", "_pre_injected_sql", "contract",
    "access", "constraints", "version", "latest_version", "deprecation_date",
    "defer_relation", "primary_key", "time_spine", "column_name", "file_key_name",
    "attached_node", "test_metadata",
}  # fmt: skip
SEED_KEYS = NODE_REQUIRED | {
    "database", "config", "tags", "description", "columns", "meta", "group", "docs",
    "patch_path", "build_path", "unrendered_config", "created_at", "config_call_dict",
    "unrendered_config_call_dict", "relation_name", "raw_code", "doc_blocks", "root_path",
    "depends_on", "defer_relation",
}  # fmt: skip
RESULT_KEYS = {"status", "timing", "thread_id", "execution_time", "adapter_response", "message",
               "failures", "unique_id", "compiled", "compiled_code", "relation_name",
               "batch_results", "overload_results"}  # fmt: skip
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def shop(project):
    project.write(FILES)
    result = project.wml("build")
    assert result.exit_code == 1, result.output  # `bad` fails, `after_bad` is skipped
    return project


def _load(project, name):
    return json.loads((project.root / "target" / name).read_text())


def test_manifest_has_dbt_v12_shape(shop):
    manifest = _load(shop, "manifest.json")
    assert set(manifest) == TOP_LEVEL
    meta = manifest["metadata"]
    assert meta["dbt_schema_version"] == "https://schemas.getdbt.com/dbt/manifest/v12.json"
    assert meta["dbt_version"].startswith("1.11.") and meta["project_name"] == "shop"
    assert meta["adapter_type"] == "duckdb" and TIMESTAMP.match(meta["generated_at"])
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["invocation_id"])
    nodes = manifest["nodes"]
    for uid, node in nodes.items():
        keys = SEED_KEYS if node["resource_type"] == "seed" else NODE_KEYS
        assert NODE_REQUIRED <= set(node) <= keys, (uid, set(node) ^ keys)
        assert node["unique_id"] == uid and uid.startswith(f"{node['resource_type']}.shop.")
        assert set(node["checksum"]) == {"name", "checksum"}
        if node.get("test_metadata"):  # generic tests have no file of their own (as in dbt)
            assert node["checksum"] == {"name": "none", "checksum": ""}
            assert node["raw_code"].startswith("{{ test_") and node["compiled_code"].startswith("select")
        else:
            assert node["checksum"]["name"] == "sha256" and len(node["checksum"]["checksum"]) == 64
        assert node["package_name"] == "shop" and node["fqn"][0] == "shop"
    ids = sorted(nodes)
    assert [i for i in ids if not i.startswith("test.")] == [
        "model.shop.after_bad", "model.shop.bad", "model.shop.orders", "model.shop.stg_orders",
        "seed.shop.raw_orders",
    ]  # fmt: skip
    # generic tests carry a hash of their arguments, as dbt's ids do; singular ones do not
    generic = [i for i in ids if i.startswith("test.shop.unique_stg_orders_id.")]
    assert len(generic) == 1 and re.fullmatch(r"test\.shop\.unique_stg_orders_id\.[0-9a-f]{10}", generic[0])
    assert "test.shop.orders_not_empty" in nodes


def test_manifest_model_node_fields(shop):
    manifest = _load(shop, "manifest.json")
    stg = manifest["nodes"]["model.shop.stg_orders"]
    assert stg["path"] == "staging/stg_orders.sql"
    assert stg["original_file_path"] == "models_sql/staging/stg_orders.sql"
    assert stg["fqn"] == ["shop", "staging", "stg_orders"]
    assert stg["raw_code"] == FILES["models_sql/staging/stg_orders.sql"]
    assert stg["compiled_code"] == 'select id, amount * 100 * 2 as cents from "main"."raw_orders"'
    assert stg["language"] == "sql" and stg["description"] == "one row per order"
    assert stg["patch_path"] == "shop://models_sql/schema.yml"  # dbt-checkpoint reads it
    assert manifest["nodes"]["model.shop.orders"]["patch_path"] is None
    assert stg["columns"]["id"]["description"] == "the order id"
    assert (stg["database"], stg["schema"], stg["alias"]) == ("warehouse", "main", "stg_orders")
    assert stg["relation_name"] == '"warehouse"."main"."stg_orders"'
    assert stg["config"]["materialized"] == "table" and stg["config"]["enabled"] is True
    assert stg["unrendered_config"] == {"materialized": "table"}
    assert stg["depends_on"] == {"macros": ["macro.shop.twice"], "nodes": ["seed.shop.raw_orders"]}
    assert stg["refs"] == [{"name": "raw_orders", "package": None, "version": None}]
    orders = manifest["nodes"]["model.shop.orders"]
    assert orders["tags"] == ["daily"] and orders["config"]["tags"] == ["daily"]
    # macros: the project's, each with its SQL and the macros it calls
    twice = manifest["macros"]["macro.shop.twice"]
    assert twice["macro_sql"].startswith("{% macro twice(col) %}")
    assert twice["depends_on"]["macros"] == ["macro.shop.cents"]
    assert twice["path"] == twice["original_file_path"] == "macros/money.sql"


def test_manifest_tests_seeds_and_graph_maps(shop):
    manifest = _load(shop, "manifest.json")
    nodes = manifest["nodes"]
    [accepted] = [n for uid, n in nodes.items() if uid.startswith("test.shop.accepted_values_")]
    assert accepted["test_metadata"]["name"] == "accepted_values"
    assert accepted["test_metadata"]["kwargs"]["values"] == [2000]
    assert accepted["test_metadata"]["kwargs"]["column_name"] == "cents"
    assert accepted["column_name"] == "cents" and accepted["attached_node"] == "model.shop.stg_orders"
    assert accepted["config"]["severity"] == "WARN" and accepted["config"]["materialized"] == "test"
    assert accepted["depends_on"]["nodes"] == ["model.shop.stg_orders"]
    seed = nodes["seed.shop.raw_orders"]
    import hashlib

    assert seed["checksum"]["checksum"] == hashlib.sha256(FILES["seeds/raw_orders.csv"].encode()).hexdigest()
    assert seed["config"]["materialized"] == "seed" and seed["path"] == "raw_orders.csv"
    parents, children = manifest["parent_map"], manifest["child_map"]
    assert set(parents) == set(children) == set(nodes)
    for child, ups in parents.items():
        assert ups == nodes[child].get("depends_on", {}).get("nodes", [])
        for parent in ups:
            assert child in children[parent]
    assert children["model.shop.orders"] == ["model.shop.bad", "test.shop.orders_not_empty"]


def test_run_results_have_dbt_v6_shape(shop):
    data = _load(shop, "run_results.json")
    assert set(data) == {"metadata", "results", "elapsed_time", "args"}
    assert data["metadata"]["dbt_schema_version"] == "https://schemas.getdbt.com/dbt/run-results/v6.json"
    manifest = _load(shop, "manifest.json")
    assert data["metadata"]["invocation_id"] == manifest["metadata"]["invocation_id"]
    assert data["args"]["which"] == "build" and data["args"]["target"] == "dev"
    by_id = {r["unique_id"]: r for r in data["results"]}
    assert set(by_id) == set(manifest["nodes"])  # every node ran or was skipped
    for result in data["results"]:
        assert {"status", "timing", "thread_id", "execution_time", "adapter_response",
                "unique_id"} <= set(result) <= RESULT_KEYS  # fmt: skip
        assert [t["name"] for t in result["timing"]] == ["compile", "execute"]
        assert all(TIMESTAMP.match(t["started_at"]) for t in result["timing"])
    statuses = {uid: r["status"] for uid, r in by_id.items()}
    assert statuses["model.shop.stg_orders"] == "success"
    assert statuses["model.shop.bad"] == "error" and "not a number" in by_id["model.shop.bad"]["message"]
    assert statuses["model.shop.after_bad"] == "skipped"
    assert statuses["test.shop.orders_not_empty"] == "pass"
    [accepted] = [r for uid, r in by_id.items() if uid.startswith("test.shop.accepted_values_")]
    assert accepted["status"] == "warn" and accepted["failures"] == 1
    stg = by_id["model.shop.stg_orders"]
    assert stg["adapter_response"]["rows_affected"] == 2
    assert stg["relation_name"] == '"warehouse"."main"."stg_orders"'
    assert stg["compiled_code"].startswith("select id, amount * 100 * 2")
    assert stg["thread_id"] != "MainThread"  # a worker ran it


def test_compile_records_the_compiled_sql_and_path(project):
    project.write({**FILES, "wml_project.yml": "name: shop\nsql_dialect: redshift\n",
                   "models_sql/late.sql": "select getdate() as at\n"})  # fmt: skip
    assert project.wml("compile").exit_code == 0
    late = _load(project, "manifest.json")["nodes"]["model.shop.late"]
    assert late["compiled"] is True and "current_timestamp" in late["compiled_code"].lower()
    assert late["compiled_path"] == "target/compiled/models_sql/late.sql"
    assert (project.root / late["compiled_path"]).is_file()


def test_parse_writes_the_manifest_without_a_database(project):
    project.write(FILES)
    result = project.wml("parse")
    assert result.exit_code == 0, result.output
    assert "manifest.json" in result.output
    assert not (project.root / "warehouse.duckdb").exists()
    assert "model.shop.orders" in _load(project, "manifest.json")["nodes"]


def test_ml_model_keeps_its_options_under_config(project):
    project.write({
        "models_sql/train.sql": "select range as x, range * 2.0 as y from range(50)\n",
        "models_sql/fit.sql": (
            "{{ config(materialized='ml_model', target='y', problem_type='regression', "
            "model_type='linear_regression') }}\nselect * from {{ ref('train') }}\n"
        ),
    })
    assert project.wml("parse").exit_code == 0
    fit = _load(project, "manifest.json")["nodes"]["model.test.fit"]
    assert fit["resource_type"] == "model"
    assert fit["config"]["materialized"] == "ml_model"
    assert (fit["config"]["target"], fit["config"]["model_type"]) == ("y", "linear_regression")


def test_ls_json_prints_dbt_keys(shop):
    result = shop.wml("ls", "-s", "+orders", "--output", "json", "--exclude", "resource_type:test")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["unique_id"] for r in rows] == [
        "seed.shop.raw_orders", "model.shop.stg_orders", "model.shop.orders"]  # fmt: skip
    assert {"name", "resource_type", "package_name", "original_file_path", "unique_id", "alias",
            "config", "tags", "depends_on"} <= set(rows[-1])  # fmt: skip
    assert rows[-1]["depends_on"]["nodes"] == ["model.shop.stg_orders"]
    keys = shop.wml("ls", "-s", "orders", "--resource-type", "model", "--output", "json",
                    "--output-keys", "unique_id,alias")
    assert json.loads(keys.output) == {"unique_id": "model.shop.orders", "alias": "orders"}
    selectors = shop.wml("ls", "-s", "stg_orders", "--output", "selector", "--resource-type", "model")
    assert selectors.output.split() == ["shop.staging.stg_orders"]


def test_a_manifest_written_from_the_cache_equals_a_fresh_one(project):
    """Unchanged nodes are written from target/manifest_cache.bin: the file must be the
    manifest as built from scratch, after no change and after changes."""
    from warehouse_ml.run.manifest import build_manifest
    from warehouse_ml.run.session import open_session

    def fresh():
        session = open_session(project.root, read_only=True)
        try:
            _ = session.graph
            return build_manifest(session)
        finally:
            session.close()

    def written():
        assert project.wml("parse").exit_code == 0
        return _load(project, "manifest.json")

    project.write(FILES)
    first = written()
    assert (project.root / "target/manifest_cache.bin").is_file()
    for change in (
        {},
        {"models_sql/orders.sql": "select 2 as n from {{ ref('stg_orders') }}\n"},
        {"wml_project.yml": "name: shop\nmodels:\n  +materialized: view\n"},
        {"macros/money.sql": "{% macro cents(col) %}{{ col }}{% endmacro %}\n"
                             "{% macro twice(col) %}{{ col }} * 2{% endmacro %}\n"},
    ):  # fmt: skip
        project.write(change)
        again, expected = written(), fresh()
        assert again["nodes"] == expected["nodes"] and again["child_map"] == expected["child_map"]
        assert again["macros"] == expected["macros"]
    assert again["nodes"]["model.shop.orders"]["raw_code"].startswith("select 2")
    assert again["nodes"]["model.shop.orders"]["config"]["materialized"] == "view"
    assert again["nodes"]["model.shop.stg_orders"]["depends_on"]["macros"] == ["macro.shop.twice"]
    assert first["nodes"]["model.shop.orders"]["config"]["materialized"] == "table"


def test_generic_test_ids_are_dbts_own(project):
    # Ids from dbt-core 1.11's manifest for the same files (the hash of the test's name and
    # metadata): state selection and dbt tools match them across the two tools.
    project.write({
        "dbt_project.yml": "name: bench\nprofile: test\n",
        "models/int_l1_000.sql": "select 1 as id, 'placed' as status",
        "models/schema.yml": (
            "version: 2\nmodels:\n  - name: int_l1_000\n    columns:\n      - name: id\n"
            "        data_tests: [not_null]\n"
        ),
    })
    (project.root / "wml_project.yml").unlink()  # the dbt project file is the project's
    result = project.wml("parse")
    assert result.exit_code == 0, result.output
    manifest = json.loads((project.root / "target/manifest.json").read_text())
    assert "test.bench.not_null_int_l1_000_id.3952b88785" in manifest["nodes"]


def test_fragments_built_while_a_compile_waits_are_written_only_under_the_same_fingerprint(project):
    """A cold compile builds manifest entries while it waits for the transpiling child
    (manifest_writer.FragmentsAhead); the file must be the one built at the end, and an
    entry whose node changed after it was built is built again."""
    from warehouse_ml.run.manifest_writer import FragmentsAhead, write_manifest
    from warehouse_ml.run.session import open_session

    project.write(FILES)
    manifest = project.root / "target/manifest.json"
    session = open_session(project.root, read_only=True)
    try:
        nodes = [n for n in session.graph.nodes.values() if n.kind.value in ("model", "test")]
        compiled = {n.unique_id: session.compiled_sql(n) for n in nodes}
        ahead = FragmentsAhead(session, compiled)
        for node in nodes:
            ahead.prepare(node.unique_id)
        assert set(ahead.ready) == set(compiled)
        def after_metadata() -> bytes:  # the metadata holds the time it was written
            return manifest.read_bytes().split(b',"nodes":', 1)[1]

        write_manifest(session, compiled)
        at_the_end = after_metadata()
        write_manifest(session, compiled, ahead)
        assert after_metadata() == at_the_end
        # What was built ahead is what is written (a marked entry shows it) ...
        uid = next(n.unique_id for n in nodes if n.name == "orders")
        key, fragment = ahead.ready[uid]
        ahead.ready[uid] = (key, fragment.replace('"name":"orders"', '"name":"marked"'))
        write_manifest(session, compiled, ahead)
        assert _load(project, "manifest.json")["nodes"]["model.shop.orders"]["name"] == "marked"
        # ... unless the node changed after: then it is built again.
        session.nodes[uid].description = "changed after its entry was built"
        write_manifest(session, compiled, ahead)
        entry = _load(project, "manifest.json")["nodes"]["model.shop.orders"]
        assert entry["name"] == "orders" and entry["description"] == "changed after its entry was built"
    finally:
        session.close()


def test_a_failure_while_building_ahead_leaves_the_node_to_the_end(project, monkeypatch):
    """A manifest entry that cannot be built while the loop waits (here: the macro index
    fails once) is built at the end; nothing half set up is used."""
    from warehouse_ml.run.manifest import ManifestBuilder
    from warehouse_ml.run.manifest_writer import FragmentsAhead, write_manifest
    from warehouse_ml.run.session import open_session

    project.write(FILES)
    session = open_session(project.root, read_only=True)
    try:
        nodes = [n for n in session.graph.nodes.values() if n.kind.value in ("model", "test")]
        compiled = {n.unique_id: session.compiled_sql(n) for n in nodes}
        nodes.sort(key=lambda n: n.name == "stg_orders")  # the one calling a macro, last
        index, calls = ManifestBuilder._index, []

        def failing_once(self):
            calls.append(1)
            if len(calls) == 1:
                raise OSError("a macro file vanished")
            return index(self)

        monkeypatch.setattr(ManifestBuilder, "_index", failing_once)
        ahead = FragmentsAhead(session, compiled)
        for node in nodes:
            ahead.prepare(node.unique_id)
        assert nodes[0].unique_id not in ahead.ready and len(ahead.ready) == len(nodes) - 1
        # Built after a set-up that did succeed: with the macro index.
        assert json.loads(ahead.ready[nodes[-1].unique_id][1])["depends_on"]["macros"] == ["macro.shop.twice"]
        write_manifest(session, compiled, ahead)
        written = _load(project, "manifest.json")["nodes"]
        write_manifest(session, compiled)
        assert written == _load(project, "manifest.json")["nodes"]
        assert written["model.shop.stg_orders"]["depends_on"]["macros"] == ["macro.shop.twice"]
    finally:
        session.close()
