"""Check that ``wml compile`` writes the same output cold, warm and from another wml.

The compile caches (rendered nodes, transpiled SQL, compiled templates, unchanged files
left alone) must never change what is written. This compiles the benchmark project of
``parse_compile.py`` and the demo project (this repository's root) cold (no ``target/``),
warm (a rerun: the compile replay), after every file was touched (new mtimes, same text:
every node's render and SQL reused from ``target/``) and once more warm,
and compares a digest of every file in ``target/compiled/`` and of ``manifest.json``
(its run-specific fields left out: invocation id, timestamps) between the runs.

``--save FILE`` keeps the digests; ``--compare FILE`` checks them against ones saved by
another checkout (run ``--save`` on main, then ``--compare`` on a branch), file by file.

    python benchmarks/compile_identity.py [--models 1000] [--no-demo] [--save F | --compare F]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import parse_compile  # noqa: E402  (sibling script: generate)

REPO = Path(__file__).resolve().parent.parent


def _normalised_manifest(path: Path) -> str:
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.pop("metadata", None)  # invocation id and timestamps: new on every run
    for macro in manifest.get("macros", {}).values():
        macro.pop("created_at", None)
    for node in manifest.get("nodes", {}).values():
        # Before 1 Dec 2026 the parents found through predict_x() calls came in set order.
        node["refs"] = sorted(node.get("refs", []), key=json.dumps)
        node.get("depends_on", {})["nodes"] = sorted(node.get("depends_on", {}).get("nodes", []))
    return json.dumps(manifest, sort_keys=True)


def digests(target: Path) -> dict[str, str]:
    """Relative path -> sha256 of every compiled file, and of the manifest's content."""
    out = {}
    compiled = target / "compiled"
    for path in sorted(compiled.rglob("*")):
        if path.is_file():
            out[path.relative_to(target).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    text = _normalised_manifest(target / "manifest.json")
    out["manifest.json"] = hashlib.sha256(text.encode()).hexdigest()
    return out


def compile_once(root: Path) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "warehouse_ml", "compile", "--project-dir", str(root)],
        capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"wml compile failed in {root}:\n{done.stdout}\n{done.stderr}")
    return digests(root / "target")


def touch_all(root: Path, seconds_ago: float) -> None:
    """New file times, the same text (old enough for the compile replay to record)."""
    when = time.time() - seconds_ago
    for path in root.rglob("*"):
        if path.is_file() and "target" not in path.relative_to(root).parts:
            os.utime(path, (when, when))


def runs(root: Path) -> dict[str, dict[str, str]]:
    """Cold; warm (replayed); every file touched (each node's render reused); warm again."""
    shutil.rmtree(root / "target", ignore_errors=True)
    touch_all(root, 60)
    out = {"cold": compile_once(root), "warm": compile_once(root)}
    touch_all(root, 30)
    out["touched"] = compile_once(root)
    out["warm again"] = compile_once(root)
    return out


def differences(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def demo_copy(into: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, into / name)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--no-demo", action="store_true", help="the generated project only")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--save", help="write the cold digests to this JSON file")
    group.add_argument("--compare", help="compare the cold digests with this JSON file")
    args = parser.parse_args()
    failed = False
    result: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        bench = Path(tmp) / "bench"
        parse_compile.generate(bench, args.models)
        projects = [("bench", bench)]
        if not args.no_demo:
            projects.append(("demo", demo_copy(Path(tmp) / "demo")))
        for name, root in projects:
            found = runs(root)
            result[name] = found["cold"]
            for label, got in found.items():
                diff = differences(found["cold"], got)
                failed |= bool(diff)
                verdict = "same" if not diff else f"DIFFERENT: {diff[:5]}"
                print(f"{name:<6} {label:<11} {len(got):5d} files: {verdict}")
    if args.save:
        Path(args.save).write_text(json.dumps(result, indent=1, sort_keys=True))
        print(f"saved to {args.save}")
    if args.compare:
        saved = json.loads(Path(args.compare).read_text())
        for name, got in result.items():
            diff = differences(saved.get(name, {}), got)
            failed |= bool(diff)
            verdict = "identical" if not diff else f"DIFFERENT ({len(diff)}): {diff[:5]}"
            print(f"{name:<6} vs {args.compare}: {verdict}")
    print("FAIL" if failed else "PASS")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
