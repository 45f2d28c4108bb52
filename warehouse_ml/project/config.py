"""Node configuration: the keys we accept and how folder-level ``+config`` is inherited.

Precedence, lowest to highest (as in dbt): project file folder config
(``models: {marts: {+materialized: table}}``), then YAML properties beside the model,
then ``{{ config(...) }}`` in the model file. Hooks do not override: every layer's
``pre_hook`` / ``post_hook`` runs, the least specific first (as in dbt).
"""

from __future__ import annotations

import difflib
import typing as t
from pathlib import PurePosixPath

from warehouse_ml.errors import ConfigError

MATERIALIZATIONS = (
    "view", "table", "incremental", "ephemeral", "ml_model", "seed", "snapshot", "external",
)  # fmt: skip
INCREMENTAL_STRATEGIES = ("append", "delete+insert", "merge")
ON_SCHEMA_CHANGE = ("ignore", "fail", "append_new_columns", "sync_all_columns")

COMMON_KEYS = frozenset(
    {
        "enabled",
        "tags",
        "meta",
        "docs",
        "description",
        "schema",
        "alias",
        "database",
        "materialized",
        "persist_docs",
        "full_refresh",
        "pre_hook",
        "post_hook",
        "pre-hook",
        "post-hook",
    }
)
MODEL_KEYS = frozenset(
    {"unique_key", "incremental_strategy", "on_schema_change", "deploy", "contract"}
)
SEED_KEYS = frozenset({"column_types", "delimiter", "quote_columns"})
# dbt's snapshot configs (https://docs.getdbt.com/reference/snapshot-configs).
SNAPSHOT_KEYS = frozenset(
    {
        "strategy", "updated_at", "check_cols", "target_schema", "target_database",
        "invalidate_hard_deletes", "hard_deletes", "snapshot_meta_column_names",
        "dbt_valid_to_current",
    }
)  # fmt: skip
TEST_KEYS = frozenset(
    {
        "severity", "where", "error_if", "warn_if", "limit", "fail_calc", "store_failures",
        "store_failures_as", "database",
    }
)  # fmt: skip
# ML options mirror Redshift ML and BigQuery ML (see warehouse_ml/ml/spec.py).
ML_KEYS = frozenset(
    {
        "target",
        "function",
        "problem_type",
        "model_type",
        "objective",
        "loss",  # poisson, gamma, tweedie (warehouse_ml/ml/losses.py)
        "tweedie_power",
        "max_runtime",
        "hyperparameters",
        "preprocessors",
        "exclude",
        "split",
        "split_column",
        "eval_fraction",
        "class_weight",
        "k",
        "min_rows",
        "auto_deploy",
        "refit",
        "calibration",  # none, auto, sigmoid, isotonic (warehouse_ml/ml/calibration.py)
        "target_transform",  # 'log': fit log1p(y), serve the mean (warehouse_ml/ml/log_target.py)
        "link_guard",  # a log-link GLM's clipped score (warehouse_ml/ml/link_guard.py)
        "entity_column",  # grouped / rolling-origin validation (warehouse_ml/ml/folds.py)
        "label_horizon",  # the folds' gap before each validation cutoff (warehouse_ml/ml/horizon.py)
        "retrain",  # the retrain policy (warehouse_ml/ml/monitoring/retrain.py)
        # AUTO's BG/NBD + Gamma-Gamma candidate (warehouse_ml/ml/clv/candidate.py)
        "clv_horizon", "clv_columns", "clv_predicts", "clv_penalizer",
    }
)
# model_type='recommender' only (warehouse_ml/ml/recs/spec.py reads them).
RECOMMENDER_KEYS = frozenset(
    {
        "user_column", "item_column", "weight_column", "event_column", "event_weights",
        "timestamp_column", "half_life_days", "algorithm", "neighbors", "factors",
        "iterations", "regularization", "holdout_fraction", "feedback_type", "catalog",
        "content_columns",
    }
)  # fmt: skip
# model_type='clv' only (warehouse_ml/ml/clv/spec.py reads them).
CLV_KEYS = frozenset(
    {"horizon", "frequency_column", "recency_column", "t_column", "monetary_column",
     "penalizer", "tolerance"}
)  # fmt: skip
# dbt-duckdb's external materialization (run/external.py).
EXTERNAL_KEYS = frozenset(
    {
        "location", "format", "options", "parquet_read_options", "csv_read_options",
        "json_read_options", "plugin", "glue_register", "glue_database", "partition_columns",
    }
)  # fmt: skip
# dbt configs wml accepts and does not apply: each warns, saying why, when set.
IGNORED_KEYS = {
    "grants": "DuckDB has no GRANT",
    "access": "model access (groups) is not enforced",
    "group": "model groups are not enforced",
    "on_configuration_change": "materialized views are not supported",
    "sql_header": "sql_header is not applied yet",
    "incremental_predicates": "incremental_predicates are not applied yet",
    "packages": "Python models are not supported",
    "submission_method": "Python models are not supported",
}
KNOWN_KEYS = (
    COMMON_KEYS | MODEL_KEYS | SEED_KEYS | TEST_KEYS | ML_KEYS | RECOMMENDER_KEYS | CLV_KEYS
    | SNAPSHOT_KEYS
    | EXTERNAL_KEYS | set(IGNORED_KEYS)
)
HOOK_KEYS = ("pre_hook", "post_hook")


def normalise(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """dbt spells hooks with dashes or underscores; store underscores (both spellings
    in one place both run)."""
    out: dict[str, t.Any] = {}
    for key, value in config.items():
        key = key.replace("-", "_") if key in ("pre-hook", "post-hook") else key
        out[key] = hook_list(out[key]) + hook_list(value) if key in out else value
    return out


def validate(
    config: dict[str, t.Any],
    *,
    path: t.Any,
    node: str | None,
    warn: t.Callable[[str], None] | None = None,
    strict: bool = True,
) -> None:
    """Reject unknown keys and values early, naming the file and the model.

    Keys in :data:`IGNORED_KEYS` are reported to ``warn``; so is an unknown key when
    not ``strict`` (a dbt project: dbt keeps any key as a custom config).
    """
    for key in config:
        where = f"{path}: {node}" if node else str(path)
        if key in IGNORED_KEYS and warn is not None:
            warn(f"{where}: config '{key}' is ignored: {IGNORED_KEYS[key]}.")
        elif key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1)
            hint = f"Did you mean '{close[0]}'?" if close else "Remove it or check the spelling."
            if strict or warn is None:
                raise ConfigError(f"unknown config key '{key}'.", path=path, node=node, hint=hint)
            warn(f"{where}: unknown config key '{key}' is ignored. {hint}")
    _check_choice(config, "materialized", MATERIALIZATIONS, path, node)
    _check_choice(config, "incremental_strategy", INCREMENTAL_STRATEGIES, path, node)
    _check_choice(config, "on_schema_change", ON_SCHEMA_CHANGE, path, node)
    _check_choice(config, "severity", ("warn", "error"), path, node, lower=True)
    _check_choice(config, "deploy", ("auto", "sql", "udf"), path, node)
    _check_choice(config, "strategy", ("timestamp", "check"), path, node)
    _check_choice(config, "hard_deletes", ("ignore", "invalidate", "new_record"), path, node)
    _check_choice(config, "store_failures_as", ("table", "view", "ephemeral"), path, node)
    for key in HOOK_KEYS:
        _check_hooks(config.get(key), key, path, node)
    if config.get("retrain") is not None:
        from warehouse_ml.ml.monitoring.retrain import parse  # imports nothing heavy

        parse(config["retrain"], path=path, node=node)


def is_enabled(config: dict[str, t.Any]) -> bool:
    """``enabled`` as dbt reads it: false (or the text 'false') disables the node."""
    value = config.get("enabled", True)
    return not (value is False or (isinstance(value, str) and value.strip().lower() == "false"))


def hook_list(value: t.Any) -> list[t.Any]:
    """A hook setting as a list: dbt takes one SQL string or a list of them."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check_hooks(value: t.Any, key: str, path: t.Any, node: str | None) -> None:
    for i, hook in enumerate(hook_list(value), start=1):
        if isinstance(hook, dict) and isinstance(hook.get("sql"), str) and set(hook) <= {"sql", "transaction"}:
            continue  # dbt's {"sql": ..., "transaction": false} form (before_begin/after_commit)
        if not isinstance(hook, str):
            raise ConfigError(
                f"{key} #{i} must be SQL text, got {type(hook).__name__} {hook!r}.",
                path=path,
                node=node,
                hint=f"Write {key}: \"<sql>\", a list of SQL strings, or {{sql: ..., transaction: false}}.",
            )


def _check_choice(
    config: dict[str, t.Any],
    key: str,
    choices: t.Sequence[str],
    path: t.Any,
    node: str | None,
    lower: bool = False,
) -> None:
    value = config.get(key)
    if value is None:
        return
    probe = str(value).lower() if lower else value
    if probe not in choices:
        raise ConfigError(
            f"unknown {key} '{value}'.",
            path=path,
            node=node,
            hint=f"Use one of: {', '.join(choices)}.",
        )


def folder_config(tree: t.Any, rel_path: PurePosixPath, project_name: str) -> dict[str, t.Any]:
    """Collect ``+key`` settings from a dbt_project-style tree along ``rel_path``.

    ``rel_path`` is the file's path inside its resource folder (``marts/ltv.sql``);
    the tree may be keyed by folder names, optionally under the project name.
    """
    merged: dict[str, t.Any] = {}
    if not isinstance(tree, dict):
        return merged
    if project_name in tree and isinstance(tree[project_name], dict):
        _update(merged, _plus_keys(tree))
        tree = tree[project_name]
    _update(merged, _plus_keys(tree))
    for part in rel_path.parts[:-1] + (rel_path.stem,):
        sub = tree.get(part)
        if not isinstance(sub, dict):
            break
        _update(merged, _plus_keys(sub))
        tree = sub
    return merged


def _plus_keys(tree: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k[1:]: v for k, v in tree.items() if isinstance(k, str) and k.startswith("+")}


def _update(result: dict[str, t.Any], layer: dict[str, t.Any]) -> None:
    """``result.update(layer)``, except that hooks append to the ones already set."""
    for key, value in normalise(layer).items():
        if key in HOOK_KEYS:
            result[key] = hook_list(result.get(key)) + hook_list(value)
        else:
            result[key] = value


def merge(*layers: dict[str, t.Any]) -> dict[str, t.Any]:
    """Later layers win; tags and hooks accumulate as dbt does."""
    result: dict[str, t.Any] = {}
    tags: list[str] = []
    for layer in layers:
        layer = normalise(layer)
        for tag in hook_list(layer.pop("tags", None)):
            if tag not in tags:
                tags.append(tag)
        _update(result, layer)
    if tags:
        result["tags"] = tags
    return result
