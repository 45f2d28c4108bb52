"""Every DuckDB type a served relation may hold comes out as strict JSON, the same in
memory and from the DuckDB file, and NULL keys are left out with a warning."""

from __future__ import annotations

import doctest
import json

import pytest

from serve.helpers import PROFILES, wml, write
from warehouse_ml.serve import jsonsafe, snapshot
from warehouse_ml.serve.app import profile_json
from warehouse_ml.serve.store import Snapshot

MODEL = """
select * from (values
  ('a', 'nan'::double, 'inf'::float, [1.5, 'nan'::double], {'x': 'inf'::double, 'y': 'ok'},
   cast(12345678901234567.89 as decimal(38, 2)), date '2026-07-01',
   timestamp '2026-07-01 10:00:00', timestamptz '2026-07-01 10:00:00+02',
   '\\x00\\xff'::blob, 170141183460469231731687303715884105727::hugeint, interval 3 day,
   map {'k': 1}, 'a"b\\c', true, null::integer, [{'p': 'nan'::double}]),
  (null, 1.0, 1.0, [], {'x': 1.0, 'y': 'z'}, 1, null, null, null, null, 1, null, null, 'n', false, 1, [])
) as t(id, f, g, fl, st, dec, d, ts, tz, bl, h, iv, m, s, b, n, ls)
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("values")
    write(root, {
        "profiles.yml": PROFILES,
        "models_sql/everything.sql": MODEL,
        "wml_project.yml": "name: test\nprofile: test\nmodels: {+materialized: table}\n"
                           "profile_api: {key: id, relations: [everything]}\n",
    })  # fmt: skip
    done = wml(root, "build")
    assert done.returncode == 0, done.stderr
    return root, done


def _strict(text: str):
    def refuse(name: str):
        raise AssertionError(f"{name} is not JSON: {text}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("in_memory", ["true", "false"])
def test_values_are_strict_json(built, in_memory):
    root, _ = built
    folder = snapshot.directory(root / "target")
    pointer = snapshot.read_pointer(folder)
    snap = Snapshot(folder / pointer["snapshot"], pointer, in_memory)
    try:
        doc = _strict(profile_json(snap, "a", None))["everything"]
        assert snap.profiles.get("") is None and pointer["profiles"] == 1  # the NULL key left out
    finally:
        snap.close()
    assert doc == {
        "f": None, "g": None, "fl": [1.5, None], "st": {"x": None, "y": "ok"},
        "dec": 12345678901234567.89, "d": "2026-07-01", "ts": "2026-07-01T10:00:00",
        "tz": "2026-07-01T08:00:00+00", "bl": "AP8=", "h": 170141183460469231731687303715884105727,
        "iv": "3 days", "m": {"k": 1}, "s": 'a"b\\c', "b": True, "n": None, "ls": [{"p": None}],
    }  # fmt: skip


def test_a_null_key_is_warned_about(built):
    _, done = built
    assert "1 row with a NULL id is not served" in done.stderr


def test_the_doctest_runs():
    assert doctest.testmod(jsonsafe).failed == 0
