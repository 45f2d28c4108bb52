"""The README's "Watching models" section runs as written, on a copy of the built demo.

Its YAML tests are the demo's own (models_sql/schema.yml, which every demo build runs),
its retrain policy is accepted by the demo's project file, and its shell lines run one by
one in bash with the installed `wml` (a line whose comment says "exits 1" must exit 1),
the failure it quotes appearing word for word. The Python block runs with the other README
examples (tests/test_readme_examples.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT

from warehouse_ml.ml.monitoring import retrain

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("\n## Watching models: drift tests and retraining", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", SECTION, re.S | re.M)
YAML = [yaml.safe_load(body) for lang, body in BLOCKS if lang == "yaml"]
SHELL = [line for lang, body in BLOCKS if lang == "shell" for line in body.splitlines() if line.strip()]
QUOTED = re.search(r"on the shifted demo:\n`([^`]+)`", SECTION)


def _tests(models: list[dict]) -> dict[str, dict]:
    """name -> (test, arguments) of every wml.* test declared in a properties file."""
    out = {}
    for model in models:
        entries = [*(model.get("data_tests") or [])]
        for column in model.get("columns") or []:
            entries += column.get("tests") or column.get("data_tests") or []
        for entry in entries:
            if isinstance(entry, dict) and next(iter(entry)).startswith("wml."):
                test, args = next(iter(entry.items()))
                out[args["name"]] = {"test": test, **args}
    return out


def test_the_section_has_its_examples() -> None:
    assert len(YAML) == 2 and len(SHELL) == 4 and QUOTED


def test_yaml_tests_are_the_demos() -> None:
    demo = yaml.safe_load((ROOT / "models_sql" / "schema.yml").read_text())["models"]
    shown = _tests(YAML[0]["models"])
    assert shown and all(_tests(demo)[name] == args for name, args in shown.items())


def test_retrain_policy_is_accepted(demo: Path, tmp_path: Path) -> None:
    policy = YAML[1]["models"]["ml"]["+retrain"]
    assert retrain.parse(policy) == retrain.Policy(False, retrain.parse_every("30 days"), True, 0.2)
    copy = tmp_path / "policy"
    shutil.copytree(demo, copy, ignore=shutil.ignore_patterns("target", "*.duckdb"))
    settings = yaml.safe_load((copy / "wml_project.yml").read_text())
    settings["models"]["ml"]["+retrain"] = policy
    (copy / "wml_project.yml").write_text(yaml.safe_dump(settings))
    done = _bash(copy, "wml ls -s ltv_model")
    assert done.returncode == 0, done.stdout + done.stderr


def _bash(where: Path, line: str) -> subprocess.CompletedProcess:
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    env = {"PATH": path, "HOME": str(where), "WML_DUCKDB_PATH": str(where / "warehouse.duckdb")}
    return subprocess.run(["bash", "-c", line], cwd=where, capture_output=True, text=True, env=env)


def test_shell_lines_run_and_the_shifted_demo_fails_as_quoted(demo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "demo"
    shutil.copytree(demo, copy, ignore=shutil.ignore_patterns("target"))
    outputs = []
    for line in SHELL:
        done = _bash(copy, line)
        expected = 1 if "# exits 1" in line else 0
        assert done.returncode == expected, f"{line}\n{done.stdout}{done.stderr}"
        outputs.append(done.stdout)
    monitor, previous, _, build = outputs
    assert "ltv_model version 1 on main.customer_scores" in monitor and "ltv_score" in monitor
    assert "against previous run" in previous
    assert "FAIL    test ltv_feature_drift" in build
    assert QUOTED.group(1) in build
    assert "SKIPPED" not in build  # -s +test: nothing downstream was selected
    # profile_traits was built before its model first trained; from this build on it has
    # scoring runs of its own, which show the same drift.
    table = _bash(copy, "wml monitor ltv_model --relation main.profile_traits")
    assert table.returncode == 0 and "  orders_90d " in table.stdout and " drift" in table.stdout
