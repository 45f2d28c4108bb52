"""Does `wml seed && wml build` give the relations `dbt seed && dbt build` gives?

For each dbt-duckdb project given (default: the public projects the issue names, when
present under --real-dir: jaffle_shop_duckdb, jaffle-shop, dbt-utils/integration_tests),
the project is copied to two temporary folders (with any `local:` package it points at,
so `local: ../` keeps working) and built there, once by dbt-core + dbt-duckdb and once by
wml, each into its own DuckDB file (same file name, in separate folders, so both see the
same database name). Then every relation in every schema of the two files is compared:

- the set of relations (schema.name) in each file;
- row counts;
- column names (in order), and types (reported, not counted as a difference);
- an order-independent checksum: the sum of DuckDB's hash() of each row's values cast
  to text, columns in name order, so 1 as INTEGER and 1 as BIGINT agree but 1.5 and 1.50
  do not. When the rows differ but every column holds the same values (a model that is
  not deterministic, such as row_number() over ties, pairs them differently on each run)
  the relation counts as equal and says so.

A table (project, relation, dbt rows, wml rows, equal?) and a summary are printed, with
each tool's exit codes, wall times and node outcomes (counted from its
target/run_results.json: "test pass 20, test fail 1"); the exit code is 1 if any relation
differs.

A project that ships a profiles.yml with a DuckDB output for its profile (as
jaffle_shop_duckdb does) is run with it, unmodified, as a new user would: both tools run
in their copy's folder, so a relative path gives each its own file. Otherwise (or with
--generated-profiles) each tool gets a generated profiles.yml (in its own folder, passed
as --profiles-dir) naming the project's `profile:` with one DuckDB output, so nothing in
the project is edited. When the project has packages.yml / dependencies.yml and no dbt_packages/, each
tool installs them its own way first (`dbt deps`, `wml deps`). Both builds run even if
the seed step failed (reported), so one bad seed does not hide every model's result.

dbt is found by --dbt PATH, else $WML_DBT, else `dbt` on PATH; without it the script
says so and exits 0. To install it beside (never into) the project's environment:

    python3.11 -m venv /tmp/dbtvenv && /tmp/dbtvenv/bin/pip install 'dbt-core~=1.11.0' 'dbt-duckdb~=1.11.0'

Usage:

    python benchmarks/dbt_compare.py                         # the default real projects
    python benchmarks/dbt_compare.py path/to/dbt/project ... --dbt /tmp/dbtvenv/bin/dbt
    python benchmarks/dbt_compare.py PROJECT --vars '{load_source_data: true}' --keep

--dbt-cache DIR keeps dbt's database and outcome per project in DIR and reuses them
(delete DIR when a project or dbt changes); --wml CMD runs another wml (e.g. another
checkout's `.venv/bin/wml`); --keep leaves the two copies (with their logs, dbt.log and
wml.log) and prints where.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import duckdb
import yaml

REAL_DIR = Path(os.environ.get("WML_REAL_DIR", "/work/scratch/real"))
DEFAULT_PROJECTS = ("jaffle_shop_duckdb", "jaffle-shop", "dbt-utils/integration_tests")
# jaffle-shop leaves its seeds disabled unless asked (it expects a loaded warehouse).
DEFAULT_VARS = {"jaffle-shop": "{load_source_data: true}"}
SKIP_SCHEMAS = {"information_schema", "pg_catalog"}
COPY_IGNORE = shutil.ignore_patterns(".git", "target", "logs", "*.duckdb", "*.duckdb.wal", ".venv")
DB_FILE = "warehouse.duckdb"
# Every column holds the same values, only their pairing into rows differs: what a model
# that is not deterministic gives (row_number() over ties, any_value, ...): counted equal.
PAIRING = "same values per column, paired differently into rows (non-deterministic model?)"


@dataclasses.dataclass
class Relation:
    """What one file holds for one relation."""

    kind: str  # BASE TABLE | VIEW
    rows: int | None
    columns: list[tuple[str, str]]  # (name, type) in ordinal order
    checksum: int | None
    error: str = ""
    column_sums: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Row:
    relation: str
    dbt: Relation | None
    wml: Relation | None
    equal: bool
    why: str


@dataclasses.dataclass
class ToolRun:
    tool: str
    codes: list[tuple[str, int]]
    seconds: float
    log: Path
    outcomes: str = ""


# --- reading and comparing two DuckDB files (no dbt needed) -------------------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def relations(path: Path) -> dict[str, Relation]:
    """Every relation of every user schema in the DuckDB file at `path`, by schema.name."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        listed = con.execute(
            "select table_schema, table_name, table_type from information_schema.tables "
            "where table_catalog = current_database() order by 1, 2"
        ).fetchall()
        out = {}
        for schema, name, kind in listed:
            if schema.lower() in SKIP_SCHEMAS:
                continue
            out[f"{schema}.{name}"] = _describe(con, schema, name, kind)
        return out
    finally:
        con.close()


def _describe(con: t.Any, schema: str, name: str, kind: str) -> Relation:
    columns = con.execute(
        "select column_name, data_type from information_schema.columns where "
        "table_catalog = current_database() and table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, name],
    ).fetchall()
    rel = Relation(kind, None, [(c, ty) for c, ty in columns], None)
    try:
        rel.rows, rel.checksum, rel.column_sums = _count_and_sum(con, schema, name, [c for c, _ in columns])
    except duckdb.Error as exc:  # e.g. a view over a relation that failed to build
        rel.error = str(exc).splitlines()[0][:200]
    return rel


def _count_and_sum(con: t.Any, schema: str, name: str, cols: list[str]) -> tuple[int, int, dict[str, int]]:
    """Row count, the rows' checksum, and one checksum per column (its values as a multiset)."""
    ordered = sorted(cols)
    values = ", ".join(f"{_q(c)}::varchar" for c in ordered) or "null"
    per_column = "".join(f", coalesce(sum(hash({_q(c)}::varchar))::hugeint, 0)" for c in ordered)
    sql = (
        f"select count(*), coalesce(sum(hash([{values}]))::hugeint, 0){per_column} "
        f"from {_q(schema)}.{_q(name)}"
    )
    rows, checksum, *sums = con.execute(sql).fetchone()
    return int(rows), int(checksum), {c: int(v) for c, v in zip(ordered, sums, strict=True)}


def compare_files(dbt_db: Path | None, wml_db: Path | None) -> list[Row]:
    """One Row per relation found in either file (a missing file holds no relation)."""
    left = relations(dbt_db) if dbt_db and dbt_db.exists() else {}
    right = relations(wml_db) if wml_db and wml_db.exists() else {}
    rows = []
    for key in sorted(set(left) | set(right)):
        d, w = left.get(key), right.get(key)
        why = _difference(d, w)
        rows.append(Row(key, d, w, why in ("", PAIRING), why))
    return rows


def _difference(d: Relation | None, w: Relation | None) -> str:
    if d is None:
        return "only in wml"
    if w is None:
        return "missing in wml"
    if d.error or w.error:
        return f"unreadable: dbt {d.error or 'ok'}; wml {w.error or 'ok'}"
    d_cols, w_cols = [c for c, _ in d.columns], [c for c, _ in w.columns]
    if d_cols != w_cols:
        if sorted(d_cols) != sorted(w_cols):
            extra = sorted(set(w_cols) - set(d_cols))
            missing = sorted(set(d_cols) - set(w_cols))
            return f"columns differ: wml lacks {missing}, wml adds {extra}"
        return "column order differs"
    if d.rows != w.rows:
        return "row counts differ"
    if d.checksum != w.checksum:
        if d.column_sums == w.column_sums:
            return PAIRING
        differ = [c for c in d_cols if d.column_sums.get(c) != w.column_sums.get(c)]
        return f"checksum differs (values of {', '.join(differ)})"
    return ""


def type_notes(row: Row) -> str:
    """Column types that differ between the two (informative only)."""
    if not (row.dbt and row.wml):
        return ""
    wtypes = dict(row.wml.columns)
    diffs = [f"{c}: {ty}/{wtypes[c]}" for c, ty in row.dbt.columns if c in wtypes and wtypes[c] != ty]
    return ", ".join(diffs)


# --- running the two tools ----------------------------------------------------------------


def find_dbt(given: str | None) -> str | None:
    for candidate in (given, os.environ.get("WML_DBT"), shutil.which("dbt")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def copy_project(project: Path, into: Path) -> Path:
    """Copy `project` (with whatever its local: packages point at) under `into`; the copy."""
    project = project.resolve()
    root = project
    for local in _local_packages(project):
        root = Path(os.path.commonpath([root, local]))
    shutil.copytree(root, into / root.name, ignore=COPY_IGNORE, symlinks=True)
    return into / root.name / project.relative_to(root)


def _local_packages(project: Path) -> list[Path]:
    found = []
    for name in ("packages.yml", "dependencies.yml"):
        path = project / name
        if path.exists():
            data = yaml.safe_load(path.read_text()) or {}
            for entry in data.get("packages") or []:
                if isinstance(entry, dict) and "local" in entry:
                    found.append((project / str(entry["local"])).resolve())
    return found


def profile_name(project: Path) -> str:
    data = yaml.safe_load((project / "dbt_project.yml").read_text()) or {}
    return str(data.get("profile") or data.get("name") or "default")


def write_profiles(folder: Path, profile: str, db: Path, threads: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    output = {"type": "duckdb", "path": str(db), "threads": threads}
    text = yaml.safe_dump({profile: {"target": "dev", "outputs": {"dev": output}}})
    (folder / "profiles.yml").write_text(text)
    return folder


def own_duckdb_path(project: Path) -> Path | None:
    """The DuckDB file the project's own profiles.yml names (relative to the project, where
    both tools run), or None when it has none we can read without rendering Jinja."""
    path = project / "profiles.yml"
    if not path.exists():
        return None
    try:
        profile = (yaml.safe_load(path.read_text()) or {}).get(profile_name(project)) or {}
        output = profile["outputs"][profile.get("target", "dev")]
    except (yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None
    db = output.get("path") if isinstance(output, dict) and output.get("type") == "duckdb" else None
    if not isinstance(db, str) or "{" in db or db == ":memory:":
        return None
    return (project / db).resolve()


def run_tool(tool: str, exe: list[str], project: Path, profiles: Path | None, vars_: str | None) -> ToolRun:
    """`<tool> [deps] seed` then `<tool> build` in `project`, logging to <project>/<tool>.log."""
    extra = (["--profiles-dir", str(profiles)] if profiles else []) + (["--vars", vars_] if vars_ else [])
    steps = [["seed", *extra], ["build", *extra]]
    has_packages = any((project / n).exists() for n in ("packages.yml", "dependencies.yml"))
    if has_packages and not (project / "dbt_packages").exists():
        steps.insert(0, ["deps", *extra[:2]] if profiles else ["deps"])
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false", "NO_COLOR": "1"}
    log = project / f"{tool}.log"
    codes, started = [], time.perf_counter()
    with log.open("w") as out:
        for step in steps:
            out.write(f"$ {tool} {' '.join(step)}\n")
            out.flush()
            done = subprocess.run([*exe, *step], cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT)
            codes.append((step[0], done.returncode))
    return ToolRun(tool, codes, time.perf_counter() - started, log, outcomes(project))


def outcomes(project: Path) -> str:
    """The build's node outcomes from target/run_results.json, e.g. "model success 5, test pass 20"."""
    path = project / "target" / "run_results.json"
    if not path.exists():
        return "no target/run_results.json"
    try:
        results = json.loads(path.read_text()).get("results", [])
    except (ValueError, AttributeError):
        return "unreadable target/run_results.json"
    counts = collections.Counter(
        (str(r.get("unique_id", "?")).split(".")[0], str(r.get("status"))) for r in results
    )
    return ", ".join(f"{kind} {status} {n}" for (kind, status), n in sorted(counts.items()))


def tail(path: Path, lines: int = 12) -> str:
    text = path.read_text(errors="replace").splitlines()
    return "\n".join("      " + line for line in text[-lines:])


# --- the report ---------------------------------------------------------------------------


def print_rows(project: str, rows: list[Row]) -> None:
    for row in rows:
        d = "-" if row.dbt is None else str(row.dbt.rows)
        w = "-" if row.wml is None else str(row.wml.rows)
        mark = ("yes" if not row.why else f"yes ({row.why})") if row.equal else f"NO ({row.why})"
        types = type_notes(row)
        note = f"  [types dbt/wml: {types}]" if types else ""
        print(f"{project:<28} {row.relation:<52} {d:>8} {w:>8}  {mark}{note}")


def compare_project(project: Path, dbt: str, wml: list[str], args: argparse.Namespace) -> bool:
    label = str(project.relative_to(args.real_dir)) if project.is_relative_to(args.real_dir) else project.name
    vars_ = args.vars or DEFAULT_VARS.get(project.name)
    work = Path(tempfile.mkdtemp(prefix=f"dbt_compare_{project.name}_"))
    runs, dbs = {}, {}
    cache = args.dbt_cache / label.replace("/", "__") if args.dbt_cache else None
    if cache is not None and (cache / "run.json").exists():
        dbs["dbt"], runs["dbt"] = _load_dbt_run(cache)
    for tool, exe in (("dbt", [dbt]), ("wml", wml)):
        if tool in runs:
            continue
        copy = copy_project(project, work / tool)
        own = None if args.generated_profiles else own_duckdb_path(copy)
        if own is not None:  # the project's own profiles.yml, found as dbt finds it (cwd)
            dbs[tool], profiles = own, None
        else:
            dbs[tool] = work / tool / DB_FILE
            profiles = write_profiles(work / tool / "profiles", profile_name(copy), dbs[tool], args.threads)
        runs[tool] = run_tool(tool, exe, copy, profiles, vars_)
        if tool == "dbt" and cache is not None:
            _save_dbt_run(cache, dbs["dbt"], runs["dbt"])
    rows = compare_files(dbs["dbt"], dbs["wml"])
    print(f"\n== {label}" + (f"  (--vars {vars_})" if vars_ else ""))
    print(f"{'project':<28} {'relation':<52} {'dbt rows':>8} {'wml rows':>8}  equal?")
    print_rows(label, rows)
    for run in runs.values():
        codes = ", ".join(f"{step} exit {code}" for step, code in run.codes)
        print(f"  {run.tool}: {codes}; {run.seconds:.1f} s wall; build results: {run.outcomes}")
        if any(code for _, code in run.codes):
            print(tail(run.log))
    same = sum(r.equal for r in rows)
    loose = sum(r.why == PAIRING for r in rows)
    ratio = runs["dbt"].seconds / runs["wml"].seconds if runs["wml"].seconds else float("inf")
    loosely = f" ({loose} of them by column only)" if loose else ""
    print(f"  {label}: {same} of {len(rows)} relations equal{loosely}; dbt {runs['dbt'].seconds:.1f} s, "
          f"wml {runs['wml'].seconds:.1f} s (dbt/wml {ratio:.1f}x)")  # fmt: skip
    if args.keep:
        print(f"  kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return bool(rows) and same == len(rows)


def _save_dbt_run(cache: Path, db: Path, run: ToolRun) -> None:
    """Keep dbt's database (same file name: views name their catalog) and its outcome."""
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    if db.exists():
        shutil.copy(db, cache / db.name)
    shutil.copy(run.log, cache / "dbt.log")
    meta = {"db": db.name, "codes": run.codes, "seconds": run.seconds, "outcomes": run.outcomes}
    (cache / "run.json").write_text(json.dumps(meta))


def _load_dbt_run(cache: Path) -> tuple[Path, ToolRun]:
    meta = json.loads((cache / "run.json").read_text())
    run = ToolRun("dbt", [tuple(c) for c in meta["codes"]], meta["seconds"], cache / "dbt.log",
                  meta["outcomes"] + f" (cached in {cache})")  # fmt: skip
    return cache / meta["db"], run


def default_projects(real_dir: Path) -> list[Path]:
    return [real_dir / p for p in DEFAULT_PROJECTS if (real_dir / p / "dbt_project.yml").exists()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="*", type=Path, help="dbt project folders")
    parser.add_argument("--dbt", help="the dbt executable (default: $WML_DBT, then PATH)")
    parser.add_argument("--wml", help="the wml command (default: this Python's -m warehouse_ml)")
    parser.add_argument("--real-dir", type=Path, default=REAL_DIR, help="where the default projects are")
    parser.add_argument("--vars", help="YAML passed as --vars to both tools (every project)")
    parser.add_argument("--threads", type=int, default=4, help="threads of generated profiles")
    parser.add_argument("--generated-profiles", action="store_true",
                        help="ignore a project's own DuckDB profiles.yml; generate one for both")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the copies, DuckDB files and logs")
    parser.add_argument("--dbt-cache", type=Path, metavar="DIR",
                        help="reuse dbt's result for a project from DIR (written there on the "
                        "first run): while only wml changes, dbt need not run again")  # fmt: skip
    args = parser.parse_args(argv)
    args.real_dir = args.real_dir.resolve()
    dbt = find_dbt(args.dbt)
    if dbt is None:
        print("dbt not found (--dbt PATH, $WML_DBT or PATH): nothing compared.")
        return 0
    projects = [p.resolve() for p in args.projects] or default_projects(args.real_dir)
    if not projects:
        print(f"no dbt projects given and none of {DEFAULT_PROJECTS} under {args.real_dir}.")
        return 0
    wml = shlex.split(args.wml) if args.wml else [sys.executable, "-m", "warehouse_ml"]
    results = {p.name: compare_project(p, dbt, wml, args) for p in projects}
    print("\nsummary: " + ", ".join(f"{n}: {'equal' if ok else 'DIFFERS'}" for n, ok in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
