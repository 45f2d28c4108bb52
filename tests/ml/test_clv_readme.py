"""The README's lifetime-value example, built as written, and wml.rfm_summary against lifetimes."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import PROFILE, ROOT, Project

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = next(body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", README, re.S | re.M)
             if lang == "sql" and body.startswith("-- clv: "))  # fmt: skip
CUTOFF = "2026-06-01"


def files(block: str) -> dict[str, str]:
    """The block's model files: each starts at a `-- clv: <path>` line."""
    parts = re.split(r"^-- clv: (\S+)\n", block, flags=re.M)[1:]
    return dict(zip(parts[::2], parts[1::2], strict=True))


def orders(customers: int = 400, seed: int = 5) -> pd.DataFrame:
    """Purchases of customers arriving over January-March who buy at their own rate and may
    stop after any purchase (the BG/NBD story), some on the same day twice."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(1, customers + 1):
        t = pd.Timestamp("2026-01-01") + pd.Timedelta(hours=int(rng.integers(0, 90 * 24)))
        rate, stop = rng.gamma(0.8, 1 / 12), rng.beta(1, 4)  # purchases per day, dropout
        while t < pd.Timestamp("2026-07-15"):
            rows.append((c, t, round(float(rng.gamma(3, 15)), 2)))
            if rng.random() < stop:
                break
            t += pd.Timedelta(hours=float(rng.exponential(24 / rate)))
    return pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"])


@pytest.fixture(scope="module")
def clv(tmp_path_factory):
    p = Project(tmp_path_factory.mktemp("clv_readme") / "proj")
    p.root.mkdir(parents=True)
    p.write({"profiles.yml": PROFILE, "wml_project.yml": "name: test\n"})
    p.write(files(BLOCK))
    (p.root / "seeds").mkdir()
    frame = orders()
    frame.to_csv(p.root / "seeds" / "orders.csv", index=False)
    result = p.wml("build")
    assert result.exit_code == 0, result.output
    return p, frame


def test_the_example_builds_and_scores_every_customer(clv):
    p, frame = clv
    rows = p.query("select purchases_13w, p_alive, spend_13w from clv_scores")
    before = frame[frame.ordered_at < CUTOFF].customer_id.nunique()
    assert len(rows) == before
    purchases, alive, spend = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    assert (purchases >= 0).all() and ((alive > 0) & (alive <= 1)).all() and (spend >= 0).all()
    # The traits are the model's functions: the same numbers called directly.
    direct = p.query('select predict_ltv_bgnbd_purchases(frequency, recency, "T") from clv_rfm '
                     "order by customer_id")  # fmt: skip
    ordered = p.query("select purchases_13w from clv_scores order by customer_id")
    assert direct == ordered
    # Who bought more often recently is expected to buy more (the model ranks sensibly).
    after = frame[(frame.ordered_at >= CUTOFF)].groupby("customer_id").size()
    ids = [r[0] for r in p.query("select customer_id from clv_scores order by customer_id")]
    actual = np.array([after.get(i, 0) for i in ids], dtype=float)
    assert np.corrcoef(np.array([r[0] for r in ordered]), actual)[0, 1] > 0.3


def test_rfm_summary_follows_lifetimes(clv):
    from lifetimes.utils import summary_data_from_transaction_data

    p, frame = clv
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # lifetimes reads up to and including observation_period_end and counts T to that
        # day; rfm_summary reads before the cutoff and counts T to the cutoff: one day more.
        want = summary_data_from_transaction_data(
            frame, "customer_id", "ordered_at", monetary_value_col="amount",
            observation_period_end=pd.Timestamp(CUTOFF) - pd.Timedelta(days=1), freq="D")
    got = pd.DataFrame(p.query('select customer_id, frequency, recency, "T", monetary_value '
                               "from clv_rfm order by customer_id"),
                       columns=["customer_id", "frequency", "recency", "T", "monetary_value"]).set_index("customer_id")  # fmt: skip
    want = want.sort_index()
    assert list(got.index) == list(want.index)
    np.testing.assert_array_equal(got.frequency, want.frequency)
    np.testing.assert_allclose(got.recency * 7, want.recency)  # the example's unit is 'week'
    np.testing.assert_allclose(got["T"] * 7, want["T"] + 1)
    np.testing.assert_allclose(got.monetary_value, want.monetary_value, rtol=1e-9)
