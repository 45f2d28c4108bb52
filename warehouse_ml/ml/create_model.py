"""Redshift ML's own statements, pasted verbatim, parsed into a :class:`TrainingSpec`.

``CREATE MODEL``, ``SHOW MODEL`` and ``DROP MODEL`` are recognised; any other statement
is plain SQL and :func:`parse_ml_statement` returns ``None`` so it goes to the database.
Tokens come from sqlglot's Redshift tokenizer, so quoting, comments and ``$$`` bodies
behave exactly as in the SQL around them.

>>> stmt = parse_ml_statement("CREATE MODEL m FROM sales TARGET y FUNCTION predict_y")
>>> stmt.spec.query, stmt.spec.target, stmt.spec.function
('SELECT * FROM sales', 'y', 'predict_y')

How each clause maps (https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_MODEL.html).
We train with scikit-learn and never claim to train XGBoost: ``MODEL_TYPE XGBOOST`` asks
for gradient-boosted trees and gets scikit-learn's histogram gradient boosting.

=================================  ===================================================
Redshift ML                        TrainingSpec (``source='create_model'``)
=================================  ===================================================
FROM table_name                    query ``SELECT * FROM table_name`` (name re-quoted)
FROM (select_query)                query: the select text exactly as written
FROM 'job_name' / 's3_path'        error: BYOM imports a model, nothing to train
TARGET col                         target (unquoted names folded to lower case)
FUNCTION fn (types) RETURNS t      function; types in ``declared_argument_types``
AUTO ON / absent, no MODEL_TYPE    model_type AUTO
AUTO OFF without MODEL_TYPE        error (Redshift requires MODEL_TYPE)
MODEL_TYPE XGBOOST                 HIST_GRADIENT_BOOSTING (with AUTO ON or OFF)
MODEL_TYPE LINEAR_LEARNER / MLP    LINEAR / MLP
MODEL_TYPE KMEANS                  KMEANS, problem CLUSTERING, needs K (error if not)
MODEL_TYPE CLV (ours, warned)      model_type='clv' (ml/clv/create.py): SETTINGS HORIZON,
                                     *_COLUMN, PENALIZER; TARGET optional and ignored
PROBLEM_TYPE                       ProblemType REGRESSION / BINARY / MULTICLASS
OBJECTIVE MSE Accuracy F1 F1Macro  lower-cased: mse accuracy f1 f1macro auc
  AUC (and our own names)          (F1_Macro is read as f1macro)
OBJECTIVE 'reg:squarederror'       mse, and implies REGRESSION
OBJECTIVE 'binary:logistic'        log_loss (the loss it minimises), implies BINARY
OBJECTIVE 'multi:softmax'          accuracy, implies MULTICLASS
OBJECTIVE 'multi:softprob'         log_loss, implies MULTICLASS
OBJECTIVE 'reg:tweedie'            loss tweedie, objective tweedie_deviance, REGRESSION
  'count:poisson', 'reg:gamma'     loss poisson / gamma (ours, warned: not Redshift's)
  (and 'poisson', 'gamma', ...)    (see ml/losses.py)
other XGBoost objectives           error: no local equivalent
PREPROCESSORS 'none' / '[...]'     preprocessors ``[]`` / the validated JSON list
HYPERPARAMETERS ... EXCEPT:
  NUM_ROUND, MAX_DEPTH, ETA        max_iter, max_depth, learning_rate (XGBOOST only)
  K                                k (KMEANS only)
  TWEEDIE_VARIANCE_POWER           tweedie_power (OBJECTIVE 'reg:tweedie' only, 1 < p < 2)
  NUM_CLASS                        dropped with a warning: classes come from the data
  any other key                    kept raw (its Redshift name, string value), warned
MAX_RUNTIME n                      max_runtime (seconds)
IAM_ROLE, SAGEMAKER, S3_BUCKET,    ignored_settings, with a warning that they only
  KMS_KEY_ID, S3_GARBAGE_COLLECT     matter on AWS
MAX_CELLS n                        ignored_settings, warned: we never downsample
REFIT ON | OFF (SETTINGS)          refit (default ON: deploy a refit on all rows);
                                     ours, warned: Redshift rejects the setting
SPLIT_COLUMN col (SETTINGS)        split: temporal on col, evaluated on the latest rows
EVAL_FRACTION f (SETTINGS)         split eval_fraction (0 < f < 1; default 0.2)
CALIBRATION m (SETTINGS)           calibration none | auto | sigmoid | isotonic;
                                     all three ours, warned as REFIT is
ENTITY_COLUMN 'col' (SETTINGS)     entity_column (grouped / rolling-origin validation,
                                     ml/folds.py); ours, warned likewise
LABEL_HORIZON n | 'n cutoffs'      split label_horizon (the folds' gap, ml/horizon.py;
  (SETTINGS)                         needs SPLIT_COLUMN); ours, warned likewise
TARGET_TRANSFORM 'log' (SETTINGS)  target_transform (ml/log_target.py); ours, warned likewise
=================================  ===================================================

Model, function and table names are SQL references: unquoted parts are folded to lower
case as Redshift does, quoted parts are kept and re-quoted when needed
(``"Sales Data".m``). Statements that Redshift itself would reject but that have a clear
local meaning (HYPERPARAMETERS without AUTO OFF, KMEANS without AUTO OFF) train, with a
warning that the statement will not run on Redshift as written.
"""

from __future__ import annotations

import bisect
import dataclasses
import difflib
import re
import typing as t

from sqlglot import exp
from sqlglot.dialects.redshift import Redshift
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from warehouse_ml.errors import CompilationError
from warehouse_ml.ml import horizon, log_target
from warehouse_ml.ml.calibration import METHODS as CALIBRATION_METHODS
from warehouse_ml.ml.clv import create as clv_create
from warehouse_ml.ml.clv.create import SETTINGS as CLV_SETTINGS
from warehouse_ml.ml.create_model_spec import MODEL_TYPES, PROBLEM_TYPES, listed, positive, to_spec
from warehouse_ml.ml.spec import TrainingSpec


class _Tokenizer(Redshift.Tokenizer):
    # sqlglot folds everything after SHOW / EXECUTE / ... into one STRING token whose
    # offsets are not the source's; we need every token at its true position.
    COMMANDS: t.ClassVar[set[TokenType]] = set()


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# CREATE MODEL clauses after FROM, in the only order Redshift accepts.
_CLAUSES = _words(
    "TARGET FUNCTION RETURNS SAGEMAKER IAM_ROLE AUTO MODEL_TYPE PROBLEM_TYPE OBJECTIVE "
    "PREPROCESSORS HYPERPARAMETERS SETTINGS"
)
_ORDER = {name: i for i, name in enumerate(_CLAUSES)}
# Clauses whose value is one keyword, and those whose value is one quoted string.
_CHOICES = {"AUTO": ("ON", "OFF"), "MODEL_TYPE": (*MODEL_TYPES, "CLV")}  # CLV: ml/clv/create.py
_CHOICES["PROBLEM_TYPE"] = tuple(PROBLEM_TYPES)
_STRINGS = {"OBJECTIVE": "an objective in quotes", "PREPROCESSORS": "'none' or JSON in quotes"}
_SETTINGS = _words(
    "S3_BUCKET KMS_KEY_ID S3_GARBAGE_COLLECT MAX_CELLS MAX_RUNTIME REFIT SPLIT_COLUMN "
    "EVAL_FRACTION CALIBRATION ENTITY_COLUMN LABEL_HORIZON TARGET_TRANSFORM"
) + CLV_SETTINGS
OUR_SETTINGS = (  # not Redshift's
    "REFIT", "SPLIT_COLUMN", "EVAL_FRACTION", "CALIBRATION", "ENTITY_COLUMN", "LABEL_HORIZON",
    "TARGET_TRANSFORM",
)
_WORD = re.compile(r"[A-Za-z_#][A-Za-z0-9_$#]*")
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")
_FROM_HINT = "Give the training data as FROM table_name or FROM (SELECT ...)."
_FUNCTION_HINT = "FUNCTION <name> names the SQL function that returns predictions."


@dataclasses.dataclass(frozen=True)
class Statement:
    """One statement of a script: its text and where it starts (1-based line and column)."""

    text: str
    line: int
    column: int = 1
    start: int = 0  # character offset in the script

    def parse(self, *, path: str | None = None) -> CreateModel | ShowModel | DropModel | None:
        """:func:`parse_ml_statement` on this statement, with positions in the script."""
        return parse_ml_statement(
            self.text, path=path, line_offset=self.line - 1, column_offset=self.column - 1
        )


@dataclasses.dataclass
class CreateModel:
    """A parsed ``CREATE MODEL``: the spec to train plus what only the SQL says."""

    spec: TrainingSpec
    warnings: list[str] = dataclasses.field(default_factory=list)
    # FUNCTION fn (types), as written: a caller checks them against the features.
    declared_argument_types: list[str] | None = None
    returns_type: str | None = None
    source_table: str | None = None  # FROM table_name, for SHOW MODEL
    auto: bool = True  # False for AUTO OFF
    line: int = 1  # line of CREATE in the file


@dataclasses.dataclass
class ShowModel:
    """``SHOW MODEL name`` (``all=False``) or ``SHOW MODEL ALL`` (``name=None``)."""

    name: str | None
    all: bool


@dataclasses.dataclass
class DropModel:
    """``DROP MODEL [IF EXISTS] name``."""

    name: str
    if_exists: bool


def split_statements(sql: str, *, path: str | None = None) -> list[Statement]:
    """Split a script on ``;`` with sqlglot's Redshift tokenizer.

    Semicolons inside strings, quoted identifiers, comments and ``$$`` bodies do not
    split. Each statement's text runs from its first token to its last (comments before
    it and empty statements are dropped); ``line`` and ``column`` say where it starts.

    Args:
        sql: the script.
        path: the script's file, for error messages.

    Returns:
        The statements in order.
    """
    src = _Source(sql, path, 0, 0)
    statements: list[Statement] = []
    group: list[Token] = []
    for token in [*src.tokenize(), None]:
        if token is not None and token.token_type != TokenType.SEMICOLON:
            group.append(token)
        elif group:
            start = group[0].start
            line, column = src.where(start)
            statements.append(Statement(sql[start : group[-1].end + 1], line, column, start))
            group = []
    return statements


def parse_ml_statement(
    text: str, *, path: str | None = None, line_offset: int = 0, column_offset: int = 0
) -> CreateModel | ShowModel | DropModel | None:
    """Parse one Redshift ML statement, or return ``None`` for plain SQL.

    Args:
        text: one statement (a trailing ``;`` is allowed).
        path: the file it came from, for error messages.
        line_offset: lines before the statement in that file; an error's line is
            ``line_offset`` + its line within ``text``.
        column_offset: columns before the statement on its first line.

    Returns:
        A :class:`CreateModel`, :class:`ShowModel` or :class:`DropModel`; ``None`` when
        the statement is not one of Redshift ML's.

    Raises:
        CompilationError: a Redshift ML statement that is malformed or cannot train
            locally; the message quotes the offending token with its line and column.
    """
    from warehouse_ml.ml.recs import create as recs_create

    if recs_create.is_options_form(text):  # BigQuery ML's OPTIONS(...) AS query: a recommender
        return recs_create.parse(text, path=path, line=line_offset + 1)
    src = _Source(text, path, line_offset, column_offset)
    tokens = src.tokenize()
    if tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        tokens.pop()
    p = _Parser(src, tokens)
    verb = p.word_at(0)
    if p.word_at(1) != "MODEL" or verb not in ("CREATE", "SHOW", "DROP"):
        return None
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            raise p.error(token, "expected one statement, found ';'", "Use split_statements().")
    p.index = 2
    if verb == "SHOW":
        return p.show_model()
    if verb == "DROP":
        return p.drop_model()
    clauses = p.create_model()
    if clauses.word("MODEL_TYPE") == "CLV":  # our extension: BG/NBD + Gamma-Gamma
        clv_spec, warnings = clv_create.to_spec(p, clauses)
        line = p.src.where(clauses.keywords["CREATE"].start)[0]
        return CreateModel(clv_spec, warnings, clauses.argument_types, clauses.returns,  # type: ignore[arg-type]
                           clauses.source_table, True, line)  # fmt: skip
    if clauses.clv:
        key = next(iter(clauses.clv.values()))[0]
        raise p.error(key, f"{_word(key)} is a MODEL_TYPE CLV setting", "Add MODEL_TYPE CLV, or remove it.")
    spec, warnings, auto = to_spec(p, clauses)
    line = p.src.where(clauses.keywords["CREATE"].start)[0]
    types, table = clauses.argument_types, clauses.source_table
    return CreateModel(spec, warnings, types, clauses.returns, table, auto, line)


class _Source:
    """The statement text and how its offsets become positions in the file."""

    def __init__(self, text: str, path: str | None, line_offset: int, column_offset: int):
        self.text, self.path = text, path
        self.line_offset, self.column_offset = line_offset, column_offset
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(self, offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(self.line_starts, offset) - 1
        column = offset - self.line_starts[index] + 1
        return self.line_offset + index + 1, column + (self.column_offset if index == 0 else 0)

    def error(self, offset: int, message: str, hint: str | None = None) -> CompilationError:
        line, column = self.where(offset)
        return CompilationError(
            f"{message} at line {line}, column {column}.", path=self.path, line=line, hint=hint
        )

    def tokenize(self) -> list[Token]:
        tokenizer = _Tokenizer(dialect="redshift")
        try:
            return tokenizer.tokenize(self.text)
        except TokenError:
            # The error carries no position; the core's start of the failed token does (a
            # private attribute: without it we point at the statement's start).
            start = getattr(getattr(tokenizer, "_core", None), "_start", 0)
            snippet = self.text[start : start + 20]
            message = f"unterminated quote, comment or $$ body starting with {snippet!r}"
            raise self.error(start, message) from None


@dataclasses.dataclass
class _Clauses:
    """What a CREATE MODEL says, before the cross-clause rules turn it into a spec."""

    name: str
    query: str = ""
    source_table: str | None = None
    target: str | None = None
    function: str = ""
    argument_types: list[str] | None = None
    returns: str | None = None
    hyperparameters: dict[str, Token] | None = None
    max_runtime: float | None = None
    refit: bool | None = None  # SETTINGS (REFIT ON|OFF), our extension
    # SETTINGS (SPLIT_COLUMN col, EVAL_FRACTION 0.2, CALIBRATION auto), our extensions
    split_column: str | None = None
    eval_fraction: float | None = None
    calibration: str | None = None
    entity_column: str | None = None  # SETTINGS (ENTITY_COLUMN 'customer_id'), ours too
    clv: dict[str, tuple[Token, t.Any]] = dataclasses.field(default_factory=dict)  # MODEL_TYPE CLV's
    label_horizon: tuple[float, str] | None = None  # SETTINGS (LABEL_HORIZON 90), ours (ml/horizon.py)
    target_transform: str | None = None  # SETTINGS (TARGET_TRANSFORM 'log'), ours (ml/log_target.py)
    ignored: dict[str, str] = dataclasses.field(default_factory=dict)
    keywords: dict[str, Token] = dataclasses.field(default_factory=dict)  # clause -> keyword
    values: dict[str, Token] = dataclasses.field(default_factory=dict)  # clause -> value

    def word(self, clause: str) -> str | None:
        return _word(self.values[clause]) if clause in self.values else None

    def text(self, clause: str) -> str | None:
        return self.values[clause].text if clause in self.values else None


class _Parser:
    """A cursor over one statement's tokens, with errors that point at them."""

    def __init__(self, src: _Source, tokens: list[Token]):
        self.src, self.tokens, self.index = src, tokens, 0
        self.closing: dict[int, int] = {}  # index of '(' -> index of its ')'

    def peek(self, ahead: int = 0) -> Token | None:
        i = self.index + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def advance(self) -> Token:
        self.index += 1
        return self.tokens[self.index - 1]

    def word_at(self, i: int) -> str | None:
        return _word(self.tokens[i]) if i < len(self.tokens) else None

    def accept(self, word: str) -> Token | None:
        return self.advance() if self.word_at(self.index) == word else None

    def accept_type(self, token_type: TokenType) -> Token | None:
        token = self.peek()
        return self.advance() if token and token.token_type == token_type else None

    def raw(self, token: Token) -> str:
        return self.src.text[token.start : token.end + 1]

    def error(self, token: Token | None, message: str, hint: str | None = None) -> CompilationError:
        if token is None:  # the end of the statement: just after its last token
            return self.src.error(self.tokens[-1].end + 1, message, hint)
        return self.src.error(token.start, message, hint)

    def expected(self, what: str, after: str, hint: str | None = None) -> CompilationError:
        token = self.peek()
        got = "the end of the statement"
        if token is not None:
            raw = self.raw(token)
            raw = raw if len(raw) <= 40 else raw[:37] + "..."
            got = raw if raw.startswith("'") else f"'{raw}'"
        return self.error(token, f"expected {what} after {after}, got {got}", hint)

    def end(self, after: str) -> None:
        if self.peek() is not None:
            raise self.expected("the end of the statement", after)

    def name(self, what: str, after: str, stop: t.Collection[str] = ()) -> str:
        """A possibly qualified, possibly quoted name, rendered back as SQL."""
        parts: list[str] = []
        while True:
            token = self.peek()
            if token is None or not _is_name(token) or (not parts and _word(token) in stop):
                raise self.expected(what, after)
            parts.append(self._render(self.advance()))
            if len(parts) == 3 or not self.accept_type(TokenType.DOT):
                return ".".join(parts)
            after = f"'{'.'.join(parts)}.'"

    def _render(self, token: Token) -> str:
        """One name part as SQL: Redshift folds unquoted names to lower case."""
        if token.token_type != TokenType.IDENTIFIER:
            return token.text.lower()
        if not token.text:
            raise self.error(token, 'a quoted name cannot be empty ("")')
        if _PLAIN_NAME.fullmatch(token.text) and token.text.upper() not in _Tokenizer.KEYWORDS:
            return token.text
        return '"' + token.text.replace('"', '""') + '"'

    def choice(self, options: t.Sequence[str], after: str) -> Token:
        if self.word_at(self.index) not in options:
            raise self.expected(listed(options), after, _did_you_mean(self.peek(), options))
        return self.advance()

    def string(self, what: str, after: str) -> Token:
        token = self.accept_type(TokenType.STRING)
        if token is None:
            raise self.expected(what, after)
        return token

    def match_parentheses(self) -> None:
        opened: list[int] = []
        for i, token in enumerate(self.tokens):
            if token.token_type == TokenType.L_PAREN:
                opened.append(i)
            elif token.token_type == TokenType.R_PAREN:
                if not opened:
                    raise self.error(token, "unbalanced parentheses: ')' has no matching '('")
                self.closing[opened.pop()] = i
        if opened:
            raise self.error(self.tokens[opened[-1]], "unbalanced parentheses: '(' is never closed")

    def pairs(self, after: str) -> dict[str, tuple[Token, Token]]:
        """``( KEY value [, KEY value ...] )`` as {KEY: (key token, value token)}."""
        if self.accept_type(TokenType.L_PAREN) is None:
            raise self.expected("'('", after)
        items: dict[str, tuple[Token, Token]] = {}
        clause = after
        while True:
            key, value = self.peek(), self.peek(1)
            if key is None or _word(key) is None:
                raise self.expected("a name", after)
            name = t.cast(str, _word(self.advance()))
            if name in items:
                raise self.error(key, f"{name} is given twice in {clause}")
            if value is None or value.token_type in (TokenType.COMMA, TokenType.R_PAREN):
                raise self.expected(f"a value for {name}", name)
            items[name] = (key, self.advance())
            if self.accept_type(TokenType.R_PAREN):
                return items
            after = f"{name} {self.raw(value)}"
            if self.accept_type(TokenType.COMMA) is None:
                raise self.expected("',' or ')'", after)

    def show_model(self) -> ShowModel:
        if self.word_at(self.index) == "ALL" and self.peek(1) is None:
            return ShowModel(name=None, all=True)
        name = self.name("a model name or ALL", "SHOW MODEL")
        self.end(f"SHOW MODEL {name}")
        return ShowModel(name=name, all=False)

    def drop_model(self) -> DropModel:
        if_exists = self.accept("IF") is not None
        if if_exists and self.accept("EXISTS") is None:
            raise self.expected("EXISTS", "DROP MODEL IF")
        name = self.name("a model name", "DROP MODEL IF EXISTS" if if_exists else "DROP MODEL")
        self.end(f"DROP MODEL {name}")
        return DropModel(name=name, if_exists=if_exists)

    def create_model(self) -> _Clauses:
        self.match_parentheses()
        c = _Clauses(name=self.name("a model name", "CREATE MODEL", stop=("FROM",)))
        c.keywords["CREATE"] = self.tokens[0]
        after, done = self.from_clause(c), -1
        while (token := self.peek()) is not None:
            word = _word(token)
            if word not in _ORDER:
                raise self._unknown_clause(done, after, "FUNCTION" in c.keywords)
            if word in c.keywords:
                raise self.error(token, f"{word} is given twice")
            if _ORDER[word] < done:
                order = "FROM, " + ", ".join(_CLAUSES)
                message = f"{word} is out of order: it must come before {_CLAUSES[done]}"
                raise self.error(token, message, f"Redshift ML's clause order is {order}.")
            if "FUNCTION" not in c.keywords and _ORDER[word] > _ORDER["FUNCTION"]:
                raise self.error(token, f"missing FUNCTION before {word}", _FUNCTION_HINT)
            c.keywords[word] = self.advance()
            after = getattr(self, "clause_" + word.lower(), self.clause_value)(c)
            done = _ORDER[word]
        if "FUNCTION" not in c.keywords:
            raise self.error(None, "missing FUNCTION at the end of CREATE MODEL", _FUNCTION_HINT)
        return c

    def _unknown_clause(self, done: int, after: str, has_function: bool) -> CompilationError:
        options = list(_CLAUSES[done + 1 :])
        if has_function:
            options.append("the end of the statement")
        else:
            options = options[: options.index("FUNCTION") + 1]
        hint = _did_you_mean(self.peek(), ("FROM", *_CLAUSES))
        return self.expected(listed(options), after, hint)

    def from_clause(self, c: _Clauses) -> str:
        if self.accept("FROM") is None:
            if any(_word(token) == "SAGEMAKER" for token in self.tokens):
                message = "CREATE MODEL without FROM calls a remote SageMaker endpoint"
                raise self.error(self.peek(), message + ", which cannot run locally", _FROM_HINT)
            raise self.expected("FROM", f"CREATE MODEL {c.name}", _FROM_HINT)
        token = self.peek()
        if token is not None and token.token_type == TokenType.L_PAREN:
            close = self.closing[self.index]
            self.index += 1
            if self.peek() is None or self.peek().token_type not in _QUERY_STARTS:
                raise self.expected("a SELECT query", "FROM (", _FROM_HINT)
            c.query = self.src.text[token.end + 1 : self.tokens[close].start].strip()
            self.index = close + 1
            return "FROM (...)"
        if token is not None and token.token_type == TokenType.STRING:
            kind = "an S3 path" if token.text.lower().startswith("s3://") else "a SageMaker job"
            message = (
                f"FROM '{token.text}' names {kind}: Redshift ML's bring-your-own-model form "
                "imports a model trained elsewhere, while local training needs a table or a query"
            )
            raise self.error(token, message, _FROM_HINT)
        c.source_table = self.name("a table name or (SELECT ...)", "FROM", stop=_CLAUSES)
        c.query = f"SELECT * FROM {c.source_table}"
        return f"FROM {c.source_table}"

    # Each clause consumes its arguments and returns what it was, for "after ..." messages.
    def clause_value(self, c: _Clauses) -> str:
        """A clause whose value is one keyword (AUTO ON) or one string (OBJECTIVE 'x')."""
        clause = _word(self.tokens[self.index - 1])
        if clause in _CHOICES:
            token = self.choice(_CHOICES[clause], clause)
        else:
            token = self.string(_STRINGS[clause], clause)
        c.values[clause] = token
        return f"{clause} {self.raw(token)}" if len(self.raw(token)) < 30 else clause

    def clause_target(self, c: _Clauses) -> str:
        token = self.peek()
        if token is None or not _is_name(token):
            raise self.expected("a column name", "TARGET")
        self.advance()
        c.target = token.text if token.token_type == TokenType.IDENTIFIER else token.text.lower()
        return f"TARGET {self.raw(token)}"

    def clause_function(self, c: _Clauses) -> str:
        c.function = self.name("a function name", "FUNCTION", stop=_CLAUSES)
        if self.peek() is None or self.peek().token_type != TokenType.L_PAREN:
            return f"FUNCTION {c.function}"
        close, start, c.argument_types = self.closing[self.index], self.index + 1, []
        depth = 0
        for i in range(start, close + 1):
            kind = self.tokens[i].token_type
            if depth == 0 and (kind == TokenType.COMMA or i == close):
                if i == start and (kind == TokenType.COMMA or c.argument_types):
                    raise self.error(self.tokens[i], f"missing data type in FUNCTION {c.function}(")
                if i > start:
                    c.argument_types.append(self._data_type(start, i - 1))
                start = i + 1
            depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
        self.index = close + 1
        return f"FUNCTION {c.function}(...)"

    def _data_type(self, first: int, last: int) -> str:
        text = " ".join(self.src.text[self.tokens[first].start : self.tokens[last].end + 1].split())
        try:
            exp.DataType.build(text, dialect="redshift")
        except ParseError:
            message = f"'{text}' is not a Redshift data type"
            raise self.error(
                self.tokens[first], message, "Use types such as float8 or int."
            ) from None
        return text

    def clause_returns(self, c: _Clauses) -> str:
        start = self.index
        while self.peek() is not None and self.word_at(self.index) not in _ORDER:
            self.index += 1
        if self.index == start:
            raise self.expected("a data type", "RETURNS")
        c.returns = self._data_type(start, self.index - 1)
        return f"RETURNS {c.returns}"

    def clause_sagemaker(self, c: _Clauses) -> str:
        endpoint = self.string("an endpoint name in quotes", "SAGEMAKER").text
        if self.accept_type(TokenType.COLON):
            endpoint += ":" + self.string("a model name in quotes", "':'").text
        c.ignored["SAGEMAKER"] = endpoint
        return "SAGEMAKER"

    def clause_iam_role(self, c: _Clauses) -> str:
        token = self.accept("DEFAULT") or self.accept_type(TokenType.STRING)
        if token is None:
            raise self.expected("default or 'arn:aws:iam::...'", "IAM_ROLE")
        c.ignored["IAM_ROLE"] = token.text if token.token_type == TokenType.STRING else "default"
        return "IAM_ROLE"

    def clause_hyperparameters(self, c: _Clauses) -> str:
        if self.accept("DEFAULT") is None:
            raise self.expected("DEFAULT", "HYPERPARAMETERS")
        c.hyperparameters = {}
        if self.accept("EXCEPT") is None:
            return "HYPERPARAMETERS DEFAULT"
        for name, (_, value) in self.pairs("EXCEPT").items():
            if value.token_type not in (TokenType.STRING, TokenType.NUMBER):
                raise self.error(value, f"{name} needs a quoted value, got '{self.raw(value)}'")
            c.hyperparameters[name] = value
        return "HYPERPARAMETERS DEFAULT EXCEPT (...)"

    def clause_settings(self, c: _Clauses) -> str:
        for name, (key, value) in self.pairs("SETTINGS").items():
            if name not in _SETTINGS:
                message = f"unknown setting '{self.raw(key)}', expected {listed(_SETTINGS)}"
                raise self.error(key, message, _did_you_mean(key, _SETTINGS))
            got = f", got '{self.raw(value)}'"
            if name in ("MAX_RUNTIME", "MAX_CELLS"):
                number = positive(value.text, int)
                if number is None or value.token_type == TokenType.STRING:
                    raise self.error(value, f"{name} must be a positive whole number{got}")
                if name == "MAX_RUNTIME":
                    c.max_runtime = float(number)
                else:
                    c.ignored[name] = str(number)
            elif name in ("S3_GARBAGE_COLLECT", "REFIT"):
                if _word(value) not in ("ON", "OFF"):
                    raise self.error(value, f"{name} must be ON or OFF{got}")
                if name == "REFIT":
                    c.refit = _word(value) == "ON"
                else:
                    c.ignored[name] = t.cast(str, _word(value))
            elif name in ("SPLIT_COLUMN", "EVAL_FRACTION", "CALIBRATION"):
                self._our_setting(c, name, value, got)
            elif name in CLV_SETTINGS:
                clv_create.read_setting(self, c, name, key, value)
            elif name == "TARGET_TRANSFORM":
                try:
                    c.target_transform = log_target.check(value.text)
                except ValueError as exc:
                    raise self.error(value, str(exc)) from None
            elif name == "LABEL_HORIZON":
                try:
                    c.label_horizon = horizon.parse(value.text)  # 90, '90 days', '2 cutoffs'
                except ValueError as exc:
                    raise self.error(value, str(exc)) from None
            elif value.token_type != TokenType.STRING:
                raise self.error(value, f"{name} must be a quoted string{got}")
            elif name == "ENTITY_COLUMN":
                c.entity_column = value.text
            else:
                c.ignored[name] = value.text
        return "SETTINGS (...)"

    def _our_setting(self, c: _Clauses, name: str, value: Token, got: str) -> None:
        """SPLIT_COLUMN, EVAL_FRACTION and CALIBRATION: warehouse-ml's own settings."""
        if name == "SPLIT_COLUMN":
            if value.token_type in (TokenType.IDENTIFIER, TokenType.STRING):
                c.split_column = value.text  # quoted: kept as written
            elif _word(value) is not None:
                c.split_column = value.text.lower()  # unquoted names fold, as Redshift's do
            else:
                raise self.error(value, f"SPLIT_COLUMN must be a column name{got}")
        elif name == "EVAL_FRACTION":
            try:
                fraction = float(value.text) if value.token_type == TokenType.NUMBER else None
            except ValueError:
                fraction = None
            if fraction is None or not 0.0 < fraction < 1.0:
                raise self.error(value, f"EVAL_FRACTION must be a number between 0 and 1{got}")
            c.eval_fraction = fraction
        else:
            method = value.text.lower() if value.token_type == TokenType.STRING else None
            method = method or (_word(value) or "").lower()
            if method not in CALIBRATION_METHODS:
                raise self.error(
                    value, f"CALIBRATION must be {listed(CALIBRATION_METHODS)}{got}"
                )
            c.calibration = method


_QUERY_STARTS = (TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN)


def _word(token: Token) -> str | None:
    """The upper-cased word of an unquoted word token: how keywords compare."""
    if token.token_type in (TokenType.IDENTIFIER, TokenType.STRING):
        return None
    return token.text.upper() if _WORD.fullmatch(token.text) else None


def _is_name(token: Token) -> bool:
    return token.token_type == TokenType.IDENTIFIER or _word(token) is not None


def _did_you_mean(token: Token | None, options: t.Iterable[str]) -> str | None:
    word = (_word(token) if token is not None else None) or ""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.7)
    return f"Did you mean {close[0]}?" if close else None
