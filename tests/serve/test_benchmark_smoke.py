"""benchmarks/profile_api.py still runs end to end (tiny sizes: it measures nothing here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "profile_api.py"


def test_the_benchmark_runs_and_reports_no_errors():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--profiles", "300", "--requests", "200", "--seconds", "3",
         "--clients", "1,4", "--runs", "1", "--modes", "memory", "--swap-seconds", "6"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| HTTP")]
    assert len(rows) == 2 * 2 + 1 + 1  # printed as measured and in the table; the swap row
    assert all(line.rstrip().endswith("| 0 |") for line in rows), done.stdout
    assert "publish -> served median" in done.stdout
