"""wml.resolve_events gives the same answer as the plain three-join lookup it replaced.

The macro looks each identifier up by its raw value first and normalizes it (trim, lower)
only on a miss, so that reading resolved events through a view is cheap. The reference
here is the former SQL written out by hand: the profile of the highest-priority identifier
whose normalized value the graph holds. Generated events carry merges (devices that log
in), shared devices (conflicts), late identifies (anonymous events before the login),
NULL and junk identifiers, padded and upper-case values, and identifiers the graph never
saw (it is built from the older events only).

``normalized=true`` (one lookup per type, for relations whose identifiers are already
normalized, as the demo's staging makes them) is compared with the same reference over a
normalizing staging model; over raw values it must fail, not answer. The same SQL, compiled
for PostgreSQL (the Redshift stand-in), is run on a real server and compared row by row.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from conftest import PROFILE, Project

DIALECTS = ["duckdb", "redshift"]
COLUMNS = ("user_id", "email", "anonymous_id")


def _events(seed: int = 3, people: int = 120) -> str:
    """CSV of events: message_id, timestamp, user_id, email, anonymous_id."""
    rng = random.Random(seed)
    shared = [f"family-{k}" for k in range(6)]  # devices several people use
    rows, start = [], dt.datetime(2026, 1, 1)
    for p in range(people):
        devices = [f"dev-{p}-{d}" for d in range(rng.randint(1, 3))]
        family = rng.choice(shared) if rng.random() < 0.25 else None
        emails = [f"p{p}.{e}@x.com" for e in range(rng.randint(0, 2))]
        login_at = rng.randint(0, 40)  # events before it are anonymous (a late identify)
        stamp = start + dt.timedelta(hours=rng.randint(0, 24 * 50))
        for n in range(rng.randint(3, 25)):
            user = f"u{p}" if n >= login_at and rng.random() < 0.7 else ""
            email = rng.choice(emails) if emails and rng.random() < 0.3 else ""
            device = rng.choice(devices) if rng.random() < 0.9 else ""
            if family and rng.random() < 0.3:
                device = family
            if rng.random() < 0.05:  # junk the graph blocks
                device = rng.choice(["anonymous", "0", "-1", "null"])
            if email and rng.random() < 0.2:
                email = rng.choice([f"  {email.upper()} ", email.upper(), f"{email} "])
            if user and rng.random() < 0.1:
                user = f" {user}"
            stamp += dt.timedelta(minutes=rng.randint(1, 60 * 24 * 3))
            rows.append((stamp, user, email, device))
    rows.sort()
    lines = ["message_id,timestamp," + ",".join(COLUMNS)]
    lines += [f"m{i},{s:%Y-%m-%d %H:%M:%S},{u},{e},{d}" for i, (s, u, e, d) in enumerate(rows)]
    return "\n".join(lines) + "\n"


def _norm(col: str, lower: bool) -> str:
    return f"lower(trim(cast(e.{col} as varchar)))" if lower else f"trim(cast(e.{col} as varchar))"


def _reference(
    graph: str, lower: tuple[str, ...] = ("email",), events: str = "events"
) -> str:
    """The former resolve_events: three left joins on normalized values."""
    joins = "\n".join(
        f"left join {{{{ ref('{graph}') }}}} as g{i} on g{i}.identifier_type = '{col}'"
        f" and g{i}.identifier_value = {_norm(col, col in lower)}"
        for i, col in enumerate(COLUMNS, 1)
    )
    return (
        "{{ config(materialized='table') }}\n"
        "select e.*, coalesce(g1.profile_id, g2.profile_id, g3.profile_id) as profile_id\n"
        f"from {{{{ ref('{events}') }}}} as e\n{joins}\n"
    )


STAGING = """\
select message_id, "timestamp", nullif(trim(user_id), '') as user_id,
    nullif(lower(trim(email)), '') as email, nullif(trim(anonymous_id), '') as anonymous_id
from {{ ref('events') }}
"""


def build(root: Path, dialect: str) -> Project:
    """The project (graphs, lookups, references), built; resolved_broken is left out."""
    root.mkdir()
    older = "select * from {{ ref('events') }} where \"timestamp\" < cast('2026-02-10' as timestamp)"
    types = ", ".join(f"{c}: VARCHAR" for c in COLUMNS)
    graph = "{{{{ config(materialized='table') }}}}\n{{{{ wml.identity_graph(relations=[ref('older')]{}) }}}}\n"
    project = Project(root).write({
        "profiles.yml": PROFILE,
        "wml_project.yml": f"name: t\nsql_dialect: {dialect}\n",
        "seeds/events.csv": _events(),
        "seeds/schema.yml": f"seeds:\n  - name: events\n    config:\n      column_types: {{{types}, timestamp: TIMESTAMP}}\n",
        "models_sql/older.sql": older,
        "models_sql/graph.sql": graph.format(""),
        # A graph that keeps case while resolve_events lower-cases emails: its values are not
        # all fixed points of the lookup's normalization, the case the raw lookup must skip.
        "models_sql/graph_cased.sql": graph.format(", case_insensitive=[]"),
        "models_sql/resolved.sql": "{{ config(materialized='view') }}\n"
        "{{ wml.resolve_events(ref('events'), ref('graph')) }}\n",
        "models_sql/resolved_cased.sql": "{{ config(materialized='view') }}\n"
        "{{ wml.resolve_events(ref('events'), ref('graph_cased')) }}\n",
        "models_sql/reference.sql": _reference("graph"),
        "models_sql/reference_cased.sql": _reference("graph_cased"),
        # The demo's staging: identifiers trimmed, emails lower-cased, '' as NULL.
        "models_sql/stg.sql": STAGING,
        "models_sql/resolved_norm.sql": "{{ config(materialized='view') }}\n"
        "{{ wml.resolve_events(ref('stg'), ref('graph'), normalized=true) }}\n",
        "models_sql/reference_norm.sql": _reference("graph", events="stg"),
        # normalized=true over raw (padded, upper-case) values: must fail, never answer.
        "models_sql/resolved_broken.sql": "{{ config(materialized='table') }}\n"
        "{{ wml.resolve_events(ref('events'), ref('graph'), normalized=true) }}\n",
    })  # fmt: skip
    result = project.wml("build", "--exclude", "resolved_broken")
    assert result.exit_code == 0, result.output
    return project


@pytest.fixture(scope="module", params=DIALECTS)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Project:
    return build(tmp_path_factory.mktemp(f"resolve_{request.param}") / "p", request.param)


def _differ(project: Project, a: str, b: str) -> int:
    return project.scalar(f"select count(*) from (select * from {a} except all select * from {b})")


@pytest.mark.parametrize("graph", ["", "_cased"])
def test_resolved_events_equal_the_former_lookup(project: Project, graph: str) -> None:
    new, old = f"main.resolved{graph}", f"main.reference{graph}"
    assert project.scalar(f"select count(*) from {new}") == project.scalar("select count(*) from main.events")
    assert _differ(project, new, old) == 0
    assert _differ(project, old, new) == 0


def test_the_data_exercise_every_path(project: Project) -> None:
    """Merges, unresolved events, fallbacks to lower-priority ids and normalized lookups."""
    merged = project.scalar(
        "select count(*) from (select profile_id from main.graph where identifier_type = "
        "'anonymous_id' group by 1 having count(*) > 1)"
    )
    assert merged > 5
    assert project.scalar("select count(*) from main.resolved where profile_id is null") > 0
    by_device = "user_id is null and email is null and anonymous_id is not null and profile_id is not null"
    assert project.scalar(f"select count(*) from main.resolved where {by_device}") > 0
    padded = "(email <> lower(trim(email)) or user_id <> trim(user_id)) and profile_id is not null"
    assert project.scalar(f"select count(*) from main.resolved where {padded}") > 0
    unseen = "trim(user_id) not in (select identifier_value from main.graph) and profile_id is not null"
    assert project.scalar(f"select count(*) from main.resolved where {unseen}") > 0
    conflicts = "select count(*) from main.graph where drop_reason = 'conflict'"
    assert project.scalar(conflicts) > 0


def test_cased_graph_changes_answers(project: Project) -> None:
    """The guard matters: with a case-keeping graph the two resolutions must still agree,
    and they differ from the normal graph's (so the cased case is not vacuous)."""
    assert _differ(project, "main.resolved", "main.resolved_cased") > 0


def test_normalized_lookup_equals_the_former_lookup(project: Project) -> None:
    """One lookup per type over normalized identifiers: the same rows as the three joins."""
    new, old = "main.resolved_norm", "main.reference_norm"
    assert project.scalar(f"select count(*) from {new}") == project.scalar("select count(*) from main.events")
    assert _differ(project, new, old) == 0
    assert _differ(project, old, new) == 0
    # the normalizing staging changed answers (the raw padded values resolve through it)
    assert project.scalar(f"select count(*) from {new} where profile_id is not null") > 0


def test_normalized_over_raw_values_fails_and_writes_nothing(project: Project) -> None:
    result = project.wml("build", "-s", "resolved_broken")
    assert result.exit_code == 1, result.output
    assert "resolve_events(normalized=true): a value of" in result.output
    assert "normalize it in the relation or drop normalized=true" in result.output
    assert "Traceback" not in result.output
    tables = project.scalar(
        "select count(*) from information_schema.tables where table_name like '%resolved_broken%'"
    )
    assert tables == 0


def test_normalized_rejects_a_non_boolean(project: Project) -> None:
    project.write({"models_sql/bad_flag.sql": "{{ wml.resolve_events(ref('stg'), ref('graph'), normalized='yes') }}\n"})
    try:
        result = project.wml("compile", "-s", "bad_flag")
        assert result.exit_code != 0
        assert "resolve_events: normalized must be true or false, got yes" in result.output
    finally:
        project.remove("models_sql/bad_flag.sql")
