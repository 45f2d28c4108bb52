"""A recommender's training spec, from ``config(model_type='recommender', ...)`` or from
BigQuery ML's ``CREATE MODEL ... OPTIONS(model_type='matrix_factorization', ...)``.

>>> spec = RecSpec(name="recs", query="select 1", user_column="u", item_column="i")
>>> spec.function, spec.similar_function
('recommend_recs', 'similar_recs')
"""

from __future__ import annotations

import dataclasses
import re
import typing as t

from warehouse_ml.errors import ConfigError

ALGORITHMS = ("auto", "popularity", "item_knn", "als", "bpr")
# Keys of supervised models that mean nothing here: refused rather than ignored.
_SUPERVISED = (
    "target", "function", "problem_type", "objective", "hyperparameters", "preprocessors",
    "class_weight", "clv_horizon", "clv_columns", "clv_predicts", "clv_penalizer",
)  # fmt: skip
# Supervised keys a folder may set for the models in it (a recommender often sits among
# supervised models): not refused, but each warns that it does not apply, and why.
_IGNORED = {
    "split": "a recommender holds out each user's latest interactions (holdout_fraction)",
    "split_column": "a recommender holds out each user's latest interactions (holdout_fraction)",
    "eval_fraction": "a recommender holds out each user's latest interactions (holdout_fraction)",
    "entity_column": "a recommender holds out each user's latest interactions (holdout_fraction)",
    "label_horizon": "a recommender holds out each user's latest interactions (holdout_fraction)",
    "exclude": "a recommender reads only its user, item, weight, event and timestamp columns",
    "refit": "the served recommender is always fitted on every interaction",
    "loss": "it sets a supervised model's loss",
    "tweedie_power": "it sets a supervised model's loss",
    "calibration": "it calibrates a classifier's probabilities",
    "target_transform": "it transforms a regression target",
    "link_guard": "it guards a log-link regression's score",
}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HINT = (
    "A recommender needs user_column='...' and item_column='...' naming columns of its "
    "query, and optionally timestamp_column, weight_column or event_column with "
    "event_weights={'Order Completed': 5, 'Product Viewed': 1}, half_life_days, "
    "algorithm ('auto', 'popularity', 'item_knn', 'als', 'bpr'), k, and "
    "catalog=ref('products') with content_columns=[...] for items with no interaction yet."
)


@dataclasses.dataclass
class RecSpec:
    """Everything needed to train one recommender version from a query result."""

    name: str
    query: str
    user_column: str
    item_column: str
    weight_column: str | None = None
    event_column: str | None = None
    event_weights: dict[str, float] | None = None
    timestamp_column: str | None = None
    half_life_days: float | None = None  # None: no time decay
    algorithm: str = "auto"
    k: int = 10  # evaluated at K; also the precomputed per-user top-N
    neighbors: int = 50  # similar items kept per item
    factors: int = 32
    iterations: int = 15
    regularization: float = 0.05
    holdout_fraction: float = 0.2  # each user's latest interactions held out for the test
    feedback_type: str = "implicit"
    max_runtime: float = 300.0
    min_rows: int = 2
    # The content fallback for cold items (content.py): the catalog relation or query and
    # the columns that say what an item is.
    catalog: str | None = None
    content_columns: list[str] = dataclasses.field(default_factory=list)
    tags: list[str] = dataclasses.field(default_factory=list)
    source: str = "config"

    @property
    def function(self) -> str:
        return f"recommend_{self.name}"

    @property
    def similar_function(self) -> str:
        return f"similar_{self.name}"

    def columns(self) -> list[str]:
        cols = [self.user_column, self.item_column]
        for extra in (self.timestamp_column, self.weight_column, self.event_column):
            if extra:
                cols.append(extra)
        return cols


def is_recommender(config: dict[str, t.Any]) -> bool:
    return str(config.get("model_type") or "").lower() in ("recommender", "matrix_factorization")


def from_config(name: str, query: str, config: dict[str, t.Any], *, path: t.Any = None,
                tags: list[str] | None = None,
                warn: t.Callable[[str], None] | None = None) -> RecSpec:
    """Read and check ``config(model_type='recommender', ...)``; errors name the model,
    ``warn`` hears each supervised key that is set but does not apply."""

    def fail(message: str, hint: str = HINT) -> t.NoReturn:
        raise ConfigError(f"recommender '{name}': {message}", path=path, node=name, hint=hint)

    for key in _SUPERVISED:
        if config.get(key) is not None and not (key == "function" and config[key] == f"recommend_{name}"):
            fail(
                f"config key '{key}' belongs to supervised models; a recommender serves "
                f"recommend_{name}(user_id, k) and similar_{name}(item_id, k).",
                f"Remove {key}=... from the config.",
            )
    for key, why in _IGNORED.items():
        if config.get(key) is not None and warn is not None:
            warn(f"recommender '{name}' ({path}): config '{key}' is ignored: {why}.")
    missing = [k for k in ("user_column", "item_column") if not config.get(k)]
    if missing:
        fail(f"missing {' and '.join(missing)}.")
    spec = RecSpec(name=name, query=query, user_column=str(config["user_column"]),
                   item_column=str(config["item_column"]), tags=list(tags or []))
    for key in ("weight_column", "event_column", "timestamp_column"):
        if config.get(key):
            setattr(spec, key, str(config[key]))
    if config.get("model_type", "").lower() == "matrix_factorization" and not config.get("algorithm"):
        spec.algorithm = "als"
    _options(spec, config, fail)
    check(spec, fail)
    return spec


def _options(spec: RecSpec, c: dict[str, t.Any], fail: t.Callable[..., t.NoReturn]) -> None:
    if c.get("algorithm") is not None:
        spec.algorithm = str(c["algorithm"]).lower()
    if c.get("event_weights") is not None:
        weights = c["event_weights"]
        if not isinstance(weights, dict) or not weights:
            fail("event_weights must be a mapping of event name to weight, e.g. "
                 "{'Order Completed': 5, 'Product Viewed': 1}.")
        try:
            spec.event_weights = {str(k): float(v) for k, v in weights.items()}
        except (TypeError, ValueError):
            fail(f"event_weights values must be numbers, got {weights!r}.")
    numbers: dict[str, tuple[type, float]] = {
        "half_life_days": (float, 0.0), "k": (int, 1), "neighbors": (int, 1),
        "factors": (int, 1), "iterations": (int, 1), "regularization": (float, 0.0),
        "holdout_fraction": (float, 0.0), "max_runtime": (float, 0.0), "min_rows": (int, 1),
    }  # fmt: skip
    for key, (kind, low) in numbers.items():
        if c.get(key) is None:
            continue
        try:
            value = kind(c[key])
        except (TypeError, ValueError):
            fail(f"{key} must be a number, got {c[key]!r}.", f"Use e.g. {key}={kind(low) + 1}.")
        if value < low or (kind is float and key in ("half_life_days", "max_runtime") and value <= 0):
            fail(f"{key} must be {'above' if kind is float else 'at least'} {low}, got {c[key]!r}.",
                 f"Use e.g. {key}={kind(low) + 1}.")
        setattr(spec, key, value)
    if c.get("feedback_type") is not None:
        spec.feedback_type = str(c["feedback_type"]).lower()
    if c.get("catalog") is not None:
        spec.catalog = str(c["catalog"])
    if c.get("content_columns") is not None:
        columns = c["content_columns"]
        if isinstance(columns, str):
            columns = [columns]
        if not isinstance(columns, (list, tuple)) or not all(isinstance(x, str) for x in columns):
            fail(f"content_columns must be a list of column names, got {columns!r}.",
                 "Use e.g. content_columns=['category', 'price'].")
        spec.content_columns = list(columns)


def check(spec: RecSpec, fail: t.Callable[..., t.NoReturn] | None = None) -> None:
    """Cross-key rules, for both declaration forms."""
    if fail is None:
        def fail(message: str, hint: str = HINT) -> t.NoReturn:
            raise ConfigError(f"recommender '{spec.name}': {message}", hint=hint)
    if not _IDENT.match(spec.name):
        fail(f"the name must be a plain SQL identifier to name recommend_{spec.name}().",
             "Use letters, digits and _.")
    if spec.algorithm not in ALGORITHMS:
        fail(f"unknown algorithm '{spec.algorithm}'.", f"Use one of: {', '.join(ALGORITHMS)}.")
    if spec.feedback_type not in ("implicit", "explicit"):
        fail(f"unknown feedback_type '{spec.feedback_type}'.", "Use 'implicit' or 'explicit'.")
    if spec.weight_column and spec.event_column:
        fail("give weight_column or event_column with event_weights, not both.")
    if bool(spec.event_column) != bool(spec.event_weights):
        fail("event_column and event_weights go together: the weights say what each "
             "event (in event_column) counts for.")
    if spec.event_weights and any(w < 0 for w in spec.event_weights.values()):
        bad = {k: w for k, w in spec.event_weights.items() if w < 0}
        fail(f"event_weights must not be negative, got {bad}.",
             "Use 0 to ignore an event, or leave it out of event_weights.")
    if spec.half_life_days is not None and not spec.timestamp_column:
        fail("half_life_days needs timestamp_column to know each interaction's age.")
    if not 0.0 < spec.holdout_fraction < 1.0:
        fail(f"holdout_fraction must be between 0 and 1, got {spec.holdout_fraction}.",
             "Use e.g. holdout_fraction=0.2.")
    if bool(spec.catalog) != bool(spec.content_columns):
        fail("catalog and content_columns go together: the catalog (e.g. catalog=ref('products')) "
             "holds the item column and the content_columns that say what a new item is.")
    if spec.item_column.lower() in (c.lower() for c in spec.content_columns):
        fail("content_columns must not include the item column.")
    names = [c.lower() for c in spec.columns()]
    if len(set(names)) != len(names):
        fail(f"the columns must differ, got {spec.columns()}.")
