"""bench/render.py: the BENCHMARKS.md table, its targets and what each target needs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "render", Path(__file__).resolve().parents[1] / "bench" / "render.py"
)
assert spec is not None and spec.loader is not None
render = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render)


def row(cell, mode, shape, rnnkit_ms, torch_ms, gflops):
    return {"cell": cell, "mode": mode, "shape": shape, "rnnkit_ms": rnnkit_ms,
            "torch_ms": torch_ms, "reference_ms": 4 * rnnkit_ms, "gflops": gflops,
            "vs_torch": torch_ms / rnnkit_ms, "vs_reference": 4.0}


def test_target_needs_is_target_times_torch_rate_over_peak():
    # torch does the flops in 12 ms: 1.2x faster is 10 ms, i.e. the rate rnnkit has at 12 ms
    # times 1.2 * 12 / 12; rnnkit runs 100 GFLOP/s in 10 ms, so torch runs 83.3 and the target
    # needs 100 GFLOP/s, half of a 200 GFLOP/s peak.
    r = row("lstm", "inference", (50, 64, 256, 256), 10.0, 12.0, 100.0)
    assert abs(render.target_needs(r, 1.2, 200.0) - 50.0) < 1e-9
    assert render.target_needs({**r, "torch_ms": None}, 1.2, 200.0) is None


def test_table_marks_targets_and_needs():
    data = {"isa": "avx512", "threads": 2, "cpu": "cpu", "torch": "2.13.0", "numpy": "2",
            "sgemm_gflops": 200.0,
            "rows": [row("gru", "training", (50, 64, 256, 256), 10.0, 15.0, 150.0),
                     row("rnn", "inference", (3, 99, 1, 10), 0.01, 0.06, 1.0)]}
    lines = render.render(data).splitlines()
    gru, toy = lines[-2], lines[-1]
    # GRU training: 1.5x against a 2x target, which needs 2 * 150 / 1.5 = 200 GFLOP/s = 100%.
    assert "1.50x (2x not met)" in gru and gru.endswith("| 100% peak |")
    # The toy shape's target is 5x torch: 6x meets it.
    assert "6.00x (5x met)" in toy
