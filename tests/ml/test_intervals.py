"""Every held-out metric `wml show` prints carries a bootstrap interval: the log-link
losses' deviances (per-row deviances averaged per resample) and ECE/Brier included."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from warehouse_ml.ml import losses
from warehouse_ml.ml.spec import ModelType, ProblemType, TrainingSpec
from warehouse_ml.ml.trainer import train


@pytest.mark.parametrize(("name", "power"), [("poisson", None), ("gamma", None), ("tweedie", 1.3)])
def test_unit_deviances_average_to_the_mean_deviance(name, power) -> None:
    rng = np.random.default_rng(0)
    y = rng.poisson(2, 400).astype(float) + (0.5 if name == "gamma" else 0.0)
    mu = rng.gamma(2.0, 1.0, 400)
    loss = losses.resolve(name, power, None, {}).loss
    assert np.mean(losses.unit_deviance(loss, y, mu)) == pytest.approx(
        losses.deviance(loss, y, mu), rel=1e-12
    )
    assert losses.unit_deviance(loss, y, -mu) is None  # undefined, as the mean is


def test_every_printed_metric_has_an_interval() -> None:
    rng = np.random.default_rng(1)
    n = 800
    x = rng.normal(size=n)
    table = pa.table({"x": x, "orders": rng.poisson(np.exp(0.5 + 0.4 * x)).astype(float)})
    spec = TrainingSpec(name="m", function="predict_m", query="", target="orders",
                        problem_type=ProblemType.REGRESSION, model_type=ModelType.LINEAR,
                        loss="poisson")  # fmt: skip
    metrics = train(table, spec).metrics
    printed = {k for k, v in metrics.items() if isinstance(v, float)}
    assert "poisson_deviance" in printed
    assert printed <= set(metrics["intervals"]), printed - set(metrics["intervals"])
    lo, hi = metrics["intervals"]["poisson_deviance"]
    assert lo < metrics["poisson_deviance"] < hi
    assert "poisson_deviance" in metrics["baseline_intervals"]
