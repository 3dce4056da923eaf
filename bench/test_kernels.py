"""Kernel benchmarks under pytest-benchmark: every cell x {inference, training} x shape, for
rnnkit, the NumPy reference and (when installed) PyTorch, plus NumPy's sgemm peak.

    pytest bench/ --benchmark-only                 # time everything (minutes)
    pytest bench/ --benchmark-disable              # smoke test: each call runs once (CI)
    pytest bench/ --benchmark-only -k "lstm and inference and B64"

The same cases without pytest, with ratios and % of peak: ``python -m rnnkit bench``.
No timing is asserted anywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
from rnnkit import bench

from conftest import require

CASES = bench.cases()


def _ids(case: bench.Case) -> str:
    return case.name


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    with bench.same_threads(2):
        yield


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_rnnkit(benchmark, case: bench.Case) -> None:
    benchmark.group = case.name
    benchmark(bench.rnnkit_call(case, bench.make_inputs(case)))


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_reference(benchmark, case: bench.Case) -> None:
    benchmark.group = case.name
    benchmark(bench.reference_call(case, bench.make_inputs(case)))


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_torch(benchmark, case: bench.Case) -> None:
    require("torch")
    benchmark.group = case.name
    benchmark(bench.torch_call(case, bench.make_inputs(case)))


def test_sgemm_peak(benchmark) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2048, 2048)).astype(np.float32)
    benchmark.group = "sgemm"
    benchmark(lambda: a @ a)
