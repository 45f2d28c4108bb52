"""The README's CLV-candidate and MODEL_TYPE CLV examples, built and run as written."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import PROFILE, ROOT, Project

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, re.S | re.M)
RFM = next(body for lang, body in BLOCKS if lang == "sql" and body.startswith("-- clv: "))
AUTO = next(body for lang, body in BLOCKS if lang == "sql" and body.startswith("-- clv-auto: "))
CREATE = next(body for lang, body in BLOCKS if lang == "sql" and "MODEL_TYPE CLV" in body)


def orders(customers: int = 500, seed: int = 11) -> pd.DataFrame:
    """Customers arriving over January-March who buy at their own rate and may stop after
    any purchase (the BG/NBD story), through August, so the 13 weeks after the cutoff exist."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(1, customers + 1):
        t = pd.Timestamp("2026-01-01") + pd.Timedelta(hours=int(rng.integers(0, 90 * 24)))
        rate, stop, size = rng.gamma(0.8, 1 / 12), rng.beta(1, 4), rng.gamma(4, 10)
        while t < pd.Timestamp("2026-09-01"):
            rows.append((c, t, round(float(rng.gamma(4, size / 4)), 2)))
            if rng.random() < stop:
                break
            t += pd.Timedelta(hours=float(rng.exponential(24 / rate)))
    return pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"])


def files(block: str, tag: str) -> dict[str, str]:
    """The block's model files: each starts at a `-- <tag>: <path>` line."""
    parts = re.split(rf"^-- {tag}: (\S+)\n", block, flags=re.M)[1:]
    return dict(zip(parts[::2], parts[1::2], strict=True))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    p = Project(tmp_path_factory.mktemp("clv_auto_readme") / "proj")
    p.root.mkdir(parents=True)
    p.write({"profiles.yml": PROFILE, "wml_project.yml": "name: test\n"})
    p.write({k: v for k, v in files(RFM, "clv").items() if k.endswith("clv_rfm.sql")})
    p.write(files(AUTO, "clv-auto"))
    (p.root / "seeds").mkdir()
    orders().to_csv(p.root / "seeds" / "orders.csv", index=False)
    result = p.wml("build")
    assert result.exit_code == 0, result.output
    return p


def test_the_auto_example_puts_the_clv_on_the_leaderboard(built):
    import json

    (board,) = built.query("select leaderboard from wml.models where name = 'spend_13w'")[0]
    kinds = [row["model_type"] for row in json.loads(board)]
    assert "bg_nbd_gamma_gamma" in kinds and "linear" in kinds
    # Whichever candidate won serves the same signature (a SQL macro if the CLV did, else the
    # UDF or macro of the winner), through a wml session.
    shown = built.wml("sql", 'select count(predict_spend_13w(frequency, recency, "T", monetary_value, '
                      "first_amount)) as n from clv_rfm_plus")  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "500" in shown.output


def test_the_create_model_example_runs_in_wml_sql(built):
    created = built.wml("sql", CREATE)
    assert created.exit_code == 0, created.output + created.stderr
    assert "warehouse-ml extension" in created.stderr
    spend, alive = built.query('select predict_ltv_sql(frequency, recency, "T", monetary_value), '
                               'predict_ltv_sql_prob(frequency, recency, "T") from clv_rfm')[0]  # fmt: skip
    assert spend >= 0 and 0 < alive <= 1
