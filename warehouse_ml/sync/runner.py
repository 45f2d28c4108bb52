"""Run one sync: render its destination, diff its source against the state, refuse
invalid rows, then send the changes batch by batch, recording each acknowledged batch.

The order of a run, and why: the run is logged as ``running`` first (committed), so a
crash is visible; the changes are numbered in key order; each batch is sent and, only
once the destination acknowledged it, recorded in ``wml.sync_state`` in its own
transaction. A batch that fails (or a process killed mid-batch) is not recorded, so the
next run sends those rows again, with the same idempotency keys.
"""

from __future__ import annotations

import dataclasses
import json
import time
import typing as t
import uuid

from warehouse_ml.errors import ConfigError, ExecutionError, WmlError
from warehouse_ml.project import syncs as sync_specs
from warehouse_ml.project.syncs import SyncSpec
from warehouse_ml.sync import config, destinations, diff, http_client, state

_PREVIEW_CHARS = 1500


@dataclasses.dataclass
class Options:
    dry_run: bool = False
    full_resync: bool = False
    skip_invalid: bool = False
    samples: int = 2  # sample rows per kind of change in a dry run


@dataclasses.dataclass
class Outcome:
    status: str  # success | error | skipped
    message: str
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def sent(self) -> int:
        return self.counts.get("sent", 0)


class SyncRun:
    """One run of one sync on a session's warehouse connection."""

    def __init__(self, session: t.Any, spec: SyncSpec, options: Options, reporter: t.Any):
        self.session, self.spec, self.options, self.reporter = session, spec, options, reporter
        self.counts: dict[str, int] = {}

    def run(self) -> Outcome:
        spec = self.spec
        renderer = config.Renderer(self.session.renderer.vars)
        if not config.enabled(spec, renderer):
            return Outcome("skipped", "disabled: `enabled:` is false")
        dest_config = config.destination(spec, renderer)
        if self.session.adapter.dialect != "duckdb":
            raise ConfigError(
                f"sync '{spec.name}': syncs run on a DuckDB target for now; this target is "
                f"{self.session.adapter.dialect}.", path=spec.path,
            )  # fmt: skip
        self.session.connection()
        cursor = self.session.adapter.cursor()
        source_uid = sync_specs.source_uid(self.session.project, spec)
        source = diff.source_sql(self.session, spec, source_uid)
        types = _describe(cursor, source, spec)
        changes = diff.Diff(cursor, spec, source, list(types))
        column_types = {k: types[k] for k in spec.key}
        column_types.update({name: types[col] for name, col in changes.fields.items()})
        ctx = destinations.Context(self.session.project.root, cursor, column_types,
                                   spec.key, self.reporter.warning)  # fmt: skip
        dest = destinations.make(spec, dest_config, ctx)
        try:
            changes.snapshot()
            self._validate(changes)
            if self.options.dry_run:
                return self._dry_run(cursor, changes, dest)
            return self._deliver(cursor, changes, dest)
        finally:
            changes.drop()

    # -- validation -------------------------------------------------------------------------
    def _validate(self, changes: diff.Diff) -> None:
        spec = self.spec
        null_key, null_required = changes.invalid()
        invalid = null_key + null_required
        self.counts["invalid"] = invalid
        if invalid:
            what = _invalid_text(spec, null_key, null_required)
            if not (self.options.skip_invalid or spec.on_invalid == "skip"):
                raise ExecutionError(
                    f"sync '{spec.name}': {what}; nothing was sent.", path=spec.path,
                    hint="Fix the source, or pass --skip-invalid (or set `on_invalid: skip`) "
                    "to send the other rows and leave these out.",
                )  # fmt: skip
            self.reporter.warning(f"sync '{spec.name}': skipping {what}.")
        changes.check_duplicates()

    # -- dry run ----------------------------------------------------------------------------
    def _dry_run(self, cursor: t.Any, changes: diff.Diff, dest: t.Any) -> Outcome:
        has_state = state.exists(cursor)
        epoch = state.epoch(cursor, self.spec.name) + (1 if self.options.full_resync else 0)
        counts = changes.compute(has_state, self.options.full_resync)
        self.counts.update(counts)
        self.reporter.info(f"sync {self.spec.name} ({dest.describe()}): dry run, nothing sent "
                           f"or written; would send {_counts_text(counts, dest)}.")  # fmt: skip
        headers = sorted(getattr(dest, "headers", None) or {})
        if headers:
            self.reporter.info(f"  headers: {', '.join(f'{h}: ****' for h in headers)}")
        samples = changes.samples(self.options.samples, epoch)
        for number, body in enumerate(dest.preview(samples)[:3], start=1):
            text = json.dumps(body, default=str, indent=None)
            if len(text) > _PREVIEW_CHARS:
                text = text[:_PREVIEW_CHARS] + " ..."
            self.reporter.info(f"  sample {number}: {text}")
        return Outcome("success", f"dry run: would send {_counts_text(counts, dest)}", self.counts)

    # -- delivery ---------------------------------------------------------------------------
    def _deliver(self, cursor: t.Any, changes: diff.Diff, dest: t.Any) -> Outcome:
        spec, started = self.spec, time.perf_counter()
        run_id = uuid.uuid4().hex
        state.ensure(cursor)
        epoch = state.start_run(cursor, run_id, spec.name, spec.type, self.options.full_resync)
        counts = self.counts
        counts.update({"sent": 0, "failed": 0})
        try:
            counts.update(changes.compute(True, self.options.full_resync))
            problems = self._send(cursor, changes, dest, epoch)
        except http_client.Unavailable as exc:
            problems = [f"destination unavailable: {exc}"]
        except Exception as exc:  # (Ctrl-C or a kill leaves the run 'running': see state.py)
            err = exc if isinstance(exc, WmlError) else ExecutionError(
                f"sync '{spec.name}': {spec.type} destination failed: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
                path=spec.path)  # fmt: skip
            state.finish_run(cursor, run_id, counts, "error", str(err),
                             time.perf_counter() - started)  # fmt: skip
            raise err from exc
        finally:
            dest.close()
        total = sum(counts.get(op, 0) for op in diff.OPS)
        counts["failed"] = max(counts["failed"], total - counts["sent"] - counts.get("dropped", 0))
        status = "error" if problems or counts["failed"] else "success"
        message = f"{_counts_text(counts, dest)}; sent {counts['sent']}, failed {counts['failed']}"
        if counts.get("dropped"):
            message += f" ({counts['dropped']} removed rows not sent: {spec.type} cannot delete)"
        if problems:
            message += f". {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            message += "; the rows not delivered are sent again by the next run"
        state.finish_run(cursor, run_id, counts, status, message, time.perf_counter() - started)
        return Outcome(status, message, counts)

    def _send(self, cursor: t.Any, changes: diff.Diff, dest: t.Any, epoch: int) -> list[str]:
        counts, name = self.counts, self.spec.name
        total = changes.total()
        if dest.snapshot:
            if total or dest.missing() or self.options.full_resync:
                dest.write(changes.valid_rows_sql())
                state.record_all(cursor, name, epoch, changes.changes)
            counts["sent"] = total
            return []
        if not total:
            return []
        dest.open()
        problems: list[str] = []
        after = 0
        while after < total:
            batch = changes.page(after, dest.batch_size, epoch)
            after += dest.batch_size
            dropped = [] if dest.supports_delete else [c for c in batch if c.removed]
            to_send = [c for c in batch if not c.removed] if dropped else batch
            delivery = dest.send(to_send) if to_send else destinations.Delivery()
            state.record(cursor, name, epoch, [*delivery.delivered, *dropped])
            counts["sent"] += len(delivery.delivered)
            counts["dropped"] = counts.get("dropped", 0) + len(dropped)
            counts["failed"] += len(delivery.rejected)
            problems += sorted({f"refused: {reason}" for _, reason in delivery.rejected})
        return problems


def _describe(cursor: t.Any, source: str, spec: SyncSpec) -> dict[str, str]:
    """The source's columns and DuckDB types (a clear error when it is not built)."""
    try:
        rows = cursor.execute(f"describe select * from {source}").fetchall()
    except Exception as exc:  # the relation is missing: built by wml build
        first = str(exc).strip().splitlines()[0]
        raise ExecutionError(
            f"sync '{spec.name}': cannot read its source '{spec.source}': {first}",
            path=spec.path, hint=f"Build it first: wml build -s {spec.source}.",
        ) from None  # fmt: skip
    return {str(r[0]): str(r[1]) for r in rows}


def _invalid_text(spec: SyncSpec, null_key: int, null_required: int) -> str:
    parts = []
    if null_key:
        parts.append(f"{null_key} row{'s' * (null_key != 1)} with a NULL key "
                     f"({', '.join(spec.key)})")  # fmt: skip
    if null_required:
        parts.append(f"{null_required} row{'s' * (null_required != 1)} with a NULL required "
                     f"field ({', '.join(spec.required)})")  # fmt: skip
    return f"{' and '.join(parts)} in '{spec.source}'"


def _counts_text(counts: t.Mapping[str, int], dest: t.Any) -> str:
    text = f"{counts.get('added', 0)} added, {counts.get('changed', 0)} changed, " \
           f"{counts.get('removed', 0)} removed"  # fmt: skip
    if counts.get("resent"):
        text += f", {counts['resent']} unchanged resent (--full-resync)"
    if counts.get("removed") and not dest.supports_delete:
        text += f" (removals not sent: {dest.spec.type} cannot delete)"
    if counts.get("invalid"):
        text += f"; {counts['invalid']} invalid rows left out"
    return text


def run_node(session: t.Any, node: t.Any, reporter: t.Any) -> Outcome:
    """A sync node as ``wml build --sync`` runs it (the default options)."""
    spec = session.project.syncs[node.name]
    return SyncRun(session, spec, Options(), reporter).run()
