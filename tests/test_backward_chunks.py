"""Backward's weight gradients run in chunks of Tc steps (cpp/core/kernels_impl.inc: just over
256 rows of T*B), so its scratch does not grow with T. The shapes here make several chunks and a
partial last one (T = 7, Tc = 2 or 3), forward and reverse, with a mask whose holes straddle
chunk boundaries; the oracle is the NumPy reference (test_ops), and results must be bitwise
identical on 1 and 2 threads.
"""

from __future__ import annotations

import numpy as np
import pytest
import rnnkit
from rnnkit import ops
from test_ops import CELLS, assert_runs_match, make_problem, run_both

# (B, I, H) per cell family: Tc = ceil(256 / B) = 3 for B = 100, 2 for B = 128.
SHAPES = {"rnn": (100, 5, 33), "lstm": (128, 3, 31), "gru": (100, 7, 17)}
T = 7
CELL_PARAMS = [pytest.param(c, id=c.id) for c in CELLS if c.id != "rnn_relu"]


def chunk_steps(B: int) -> int:
    """Tc as backward_impl chooses it."""
    return max(1, min(T, (256 + B - 1) // B))


def mask_for(B: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    mask = rng.random((T, B)) < 0.7
    mask[:, 0] = False
    mask[1:3, 1] = False  # a hole across the boundary of the first chunk
    return mask


@pytest.mark.parametrize("variant", ["plain", "reverse_mask"])
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_chunked_backward_matches_reference(cell, variant, isa):
    B, I, H = SHAPES[cell.family]
    assert 1 < chunk_steps(B) < T and T % chunk_steps(B) != 0
    p = make_problem(cell, T, B, I, H, seed=5)
    fwd_kw = {} if variant == "plain" else {"reverse": True, "mask": mask_for(B)}
    got, want = run_both(cell, p, fwd_kw=fwd_kw)
    assert_runs_match(cell, got, want, f"{cell.id} {variant} [{isa}]")


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_one_step_chunks_match_reference(cell, reverse, isa):
    B = 300  # > 256 rows: every step is a chunk
    assert chunk_steps(B) == 1
    p = make_problem(cell, 3, B, 4, 9, seed=8)
    got, want = run_both(cell, p, fwd_kw={"reverse": reverse})
    assert_runs_match(cell, got, want, f"{cell.id} Tc=1 reverse={reverse} [{isa}]")


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_chunked_backward_is_the_same_on_any_thread_count(cell):
    B, I, H = SHAPES[cell.family]
    p = make_problem(cell, T, B, I, H, seed=6)
    previous = rnnkit.get_num_threads()
    grads = []
    try:
        for n in (1, 2):
            rnnkit.set_num_threads(n)
            _, _, saved = cell.forward(ops, p.x, p.states, p.weights, training=True,
                                       mask=mask_for(B))
            grads.append(cell.backward(ops, p.dy, p.d_final(cell), saved))
    finally:
        rnnkit.set_num_threads(previous)
    for name, value in grads[0].items():
        np.testing.assert_array_equal(value, grads[1][name], err_msg=name)
