"""Smoke test of bench/peak_rss.py: one small shape per cell, each in a fresh process.

The full table (the fast-kernels shapes) is ``python bench/peak_rss.py``. Memory is close to
deterministic, so the issue's bound is asserted here; no timing is.
"""

from __future__ import annotations

import peak_rss
import pytest

SHAPE = (50, 64, 64, 256)  # T, B, I, H: 20 MB of LSTM activations, well above fixed costs


@pytest.mark.parametrize("cell", peak_rss.CELLS)
def test_peak_rss_growth_is_within_the_bound(cell: str) -> None:
    row = peak_rss.measure(cell, SHAPE)
    T, B, _, H = SHAPE
    # The measurement sees the allocations: at least the states that forward returns.
    assert row["growth_bytes"] >= T * B * H * 4, row
    assert row["passed"], peak_rss.format_table([row])


def test_bound_formula() -> None:
    # LSTM, T=B=I=H=1: 2 * (1*1*6*1*4 + 4) + (4*1*2 + 2*4) * 4 bytes.
    assert peak_rss.bound_bytes("lstm", 1, 1, 1, 1) == 2 * (24 + 4) + 64
