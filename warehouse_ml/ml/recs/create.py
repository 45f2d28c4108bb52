"""BigQuery ML's CREATE MODEL for matrix factorization, read into a :class:`RecSpec`.

``CREATE [OR REPLACE] MODEL m OPTIONS(model_type='matrix_factorization',
feedback_type='implicit', user_col='user_id', item_col='product_id', rating_col='weight')
AS SELECT ...`` (https://cloud.google.com/bigquery/docs/reference/standard-sql/
bigqueryml-syntax-create-matrix-factorization). How options map:

=========================  ======================================================
BigQuery ML option         RecSpec
=========================  ======================================================
MODEL_TYPE                 'MATRIX_FACTORIZATION' -> algorithm als (BPR / item_knn /
                           popularity / auto with ALGORITHM); 'RECOMMENDER' -> auto
FEEDBACK_TYPE              IMPLICIT (default here; BigQuery's default is EXPLICIT) or
                           EXPLICIT: ratings are used as interaction weights
USER_COL / ITEM_COL        user_column / item_column (defaults 'user' and 'item')
RATING_COL                 weight_column (default 'rating' if the query has it)
NUM_FACTORS, L2_REG,       factors, regularization, iterations
  MAX_ITERATIONS
DATA_SPLIT_*, EARLY_STOP,  ignored with a warning: evaluation always holds out each
  WALS_ALPHA, ...            user's latest interactions
ours: ALGORITHM, TIMESTAMP_COL, HALF_LIFE_DAYS, K, NEIGHBORS, HOLDOUT_FRACTION
=========================  ======================================================

>>> stmt = parse("CREATE MODEL r OPTIONS(model_type='matrix_factorization', "
...              "user_col='u', item_col='i') AS SELECT u, i FROM t")
>>> stmt.spec.algorithm, stmt.spec.user_column, stmt.spec.query
('als', 'u', 'SELECT u, i FROM t')
"""

from __future__ import annotations

import difflib
import re
import typing as t

from warehouse_ml.errors import CompilationError, ConfigError
from warehouse_ml.ml.recs import spec as recs_spec

_HEAD = re.compile(
    r"\A\s*create\s+(?:or\s+replace\s+)?model\s+(?:if\s+not\s+exists\s+)?"
    r"(?P<name>[A-Za-z_][\w.]*|\"[^\"]+\")\s+options\s*\(",
    re.I,
)
_OPTIONS = {
    "model_type": None, "feedback_type": "feedback_type", "user_col": "user_column",
    "item_col": "item_column", "rating_col": "weight_column", "num_factors": "factors",
    "l2_reg": "regularization", "max_iterations": "iterations", "algorithm": "algorithm",
    "timestamp_col": "timestamp_column", "half_life_days": "half_life_days", "k": "k",
    "neighbors": "neighbors", "holdout_fraction": "holdout_fraction",
}  # fmt: skip
_IGNORED = (
    "wals_alpha", "early_stop", "min_rel_progress", "data_split_method",
    "data_split_eval_fraction", "data_split_test_fraction", "data_split_col", "num_trials",
    "max_parallel_trials", "hparam_tuning_algorithm", "hparam_tuning_objectives", "kms_key_name",
)  # fmt: skip


_RECOMMENDER_TYPE = re.compile(r"model_type\s*=\s*'(?:matrix_factorization|recommender)'", re.I)


def is_options_form(text: str) -> bool:
    """BigQuery ML's ``CREATE MODEL m OPTIONS(model_type='matrix_factorization', ...) AS``;
    other BigQuery model types stay plain SQL (the database answers them)."""
    head = _HEAD.match(text)
    return bool(head) and bool(_RECOMMENDER_TYPE.search(text, head.end(), _closing(text, head.end() - 1) or len(text)))


def parse(text: str, *, path: str | None = None, line: int = 1) -> t.Any:
    """The statement as a CreateModel whose spec is a RecSpec."""
    from warehouse_ml.ml.create_model import CreateModel

    head = _HEAD.match(text)
    if head is None:
        raise CompilationError("expected CREATE MODEL name OPTIONS(...) AS query", path=path)
    name = head.group("name").split(".")[-1].strip('"')
    close = _closing(text, head.end() - 1)

    def fail(message: str, hint: str = recs_spec.HINT) -> t.NoReturn:
        raise CompilationError(f"CREATE MODEL {name}: {message}", path=path, line=line, hint=hint)

    if close is None:
        fail("OPTIONS( is never closed.", "Close the option list with ).")
    rest = text[close + 1 :].strip().rstrip(";").strip()
    if not re.match(r"as\b", rest, re.I):
        fail("expected AS <query> after OPTIONS(...).", "BigQuery ML's form is OPTIONS(...) AS SELECT ...")
    query = rest[2:].strip()
    if query.startswith("(") and query.endswith(")"):
        query = query[1:-1].strip()
    options = _options(text[head.end() : close], fail)
    warnings = []
    model_type = str(options.pop("model_type", "")).lower()
    if model_type not in ("matrix_factorization", "recommender"):
        fail(f"MODEL_TYPE {model_type or '(missing)'!r} is not a recommender here.",
             "Use MODEL_TYPE='MATRIX_FACTORIZATION' (or Redshift ML's CREATE MODEL ... FROM ... "
             "FUNCTION ... for other models).")
    config: dict[str, t.Any] = {"model_type": model_type}
    config["algorithm"] = "als" if model_type == "matrix_factorization" else "auto"
    config |= {"user_column": "user", "item_column": "item"}
    for key, value in options.items():
        if key in _IGNORED:
            warnings.append(f"{key.upper()} is ignored locally: evaluation always holds out each "
                            "user's latest interactions, and training runs to its iterations.")
            continue
        config[_OPTIONS[key]] = value
    feedback = str(config.get("feedback_type", "implicit")).lower()
    if feedback == "explicit":
        warnings.append("FEEDBACK_TYPE EXPLICIT: ratings are used as interaction weights for "
                        "implicit-feedback training (we do not predict the rating itself).")
    try:
        spec = recs_spec.from_config(name, query, config)
    except ConfigError as exc:
        raise CompilationError(exc.message, path=path, line=line, hint=exc.hint) from None
    spec.source = "create_model"
    return CreateModel(spec=spec, warnings=warnings, line=line)


def _closing(text: str, start: int) -> int | None:
    depth, quote = 0, None
    for pos in range(start, len(text)):
        ch = text[pos]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return pos
    return None


def _options(body: str, fail: t.Callable[..., t.NoReturn]) -> dict[str, t.Any]:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        tree = sqlglot.parse_one(f"select {body}", read="bigquery")
    except ParseError as err:
        fail(f"the OPTIONS list does not parse: {str(err).splitlines()[0]}",
             "Write OPTIONS(name = value, ...), strings in quotes.")
    out: dict[str, t.Any] = {}
    for item in tree.expressions:
        if not isinstance(item, exp.EQ) or not isinstance(item.left, exp.Column):
            fail(f"expected name = value in OPTIONS, got {item.sql()!r}.", "Write OPTIONS(name = value, ...).")
        key = item.left.name.lower()
        if key not in _OPTIONS and key not in _IGNORED:
            close = difflib.get_close_matches(key, [*_OPTIONS, *_IGNORED], n=1)
            fail(f"unknown option {key.upper()}.",
                 f"Did you mean {close[0].upper()}?" if close else f"Use {', '.join(o.upper() for o in _OPTIONS)}.")
        value = item.right
        if isinstance(value, exp.Literal):
            out[key] = value.this if value.is_string else float(value.this) if "." in value.this else int(value.this)
        elif isinstance(value, exp.Boolean):
            out[key] = value.this
        else:
            fail(f"option {key.upper()} needs a string or number, got {value.sql()!r}.", "e.g. USER_COL = 'user_id'.")
    return out
