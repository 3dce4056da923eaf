"""The forward paths beside the blocked one, against it.

- A small hidden size in inference (H <= 16 < B): the batch in the vector lanes, the state
  kept transposed.
- Small weights on several threads (W_ih and W_hh within 1.5 MB, B >= 16), inference and
  training: each thread runs the whole sequence on its own slice of the batch, with no
  barrier between steps.
- Larger weights whose W_hh alone is within 1.25 MB, on the same terms. Each slice's input
  projection is one GEMM a chunk of steps, over its rows of each step.
- One batch row (B = 1): every gate's FMA chains at once, the state read in place.

The training forward on one thread always runs the blocked path, split by hidden units. The
paths must agree with it bit for bit (the same FMA chains in the same order, the same gate
functions), so it is the first oracle; the float64 NumPy reference is the second, within
float32 round-off. Every cell, SIMD path, lengths, masks, reverse, missing states and biases,
tails, one or two threads.
"""

from __future__ import annotations

import numpy as np
import pytest
import rnnkit
from rnnkit import ops
from rnnkit import reference as ref
from test_ops import CELL_PARAMS, FWD_TOL, draw, f64

# (T, B, I, H): B > H throughout; B past one vector, in a partial one, and several vectors;
# H of 1, odd, 10 (the seed programs), 16 (the largest that takes the path).
SHAPES = [(3, 99, 1, 10), (1, 2, 1, 1), (7, 17, 5, 16), (5, 33, 31, 7), (2, 40, 0, 3)]


def on_threads(n, fn):
    previous = rnnkit.get_num_threads()
    try:
        rnnkit.set_num_threads(n)
        return fn()
    finally:
        rnnkit.set_num_threads(previous)


def run(cell, p, *, training, **kw):
    y, final, _ = cell.forward(ops, p.x, p.states, p.weights, training=training, **kw)
    return y, final


def assert_same_bits(a, b, what):
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape, what
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), f"{what}: bits differ"


def check(cell, p, what, **kw):
    y, final = run(cell, p, training=False, **kw)
    y_blocked, final_blocked = on_threads(1, lambda: run(cell, p, training=True, **kw))
    assert_same_bits(y, y_blocked, f"{what} y")
    for name, a, b in zip(("h_n", "c_n"), final, final_blocked):
        assert_same_bits(a, b, f"{what} {name}")
    y_ref, final_ref, _ = cell.forward(ref, f64(p.x), f64(p.states), f64(p.weights), **kw)
    np.testing.assert_allclose(y, y_ref, rtol=FWD_TOL, atol=FWD_TOL, err_msg=f"{what} y")
    for a, b in zip(final, final_ref):
        np.testing.assert_allclose(a, b, rtol=FWD_TOL, atol=FWD_TOL, err_msg=what)
    return y


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}-B{}-I{}-H{}".format(*s))
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_lanes_match_blocked_path_and_reference(cell, shape, isa):
    check(cell, draw(cell, shape, 31 * sum(shape)), f"{cell.id} {shape} [{isa}]")


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kind", ["lengths", "mask"])
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_lanes_valid_steps(cell, kind, reverse, isa):
    check_valid_steps(cell, (6, 21, 3, 5), kind, reverse, f"[{isa}]")


def check_valid_steps(cell, shape, kind, reverse, what, threads=None):
    """Random lengths (0 to T) or a random mask with an all-False column: the path agrees with
    the blocked one and the reference, and y is 0 at every invalid step."""
    T, B = shape[:2]
    rng = np.random.default_rng(sum(shape))
    if kind == "lengths":
        kw = {"lengths": rng.integers(0, T + 1, B)}
        valid = np.arange(T)[:, None] < kw["lengths"][None, :]
    else:
        kw = {"mask": rng.random((T, B)) < 0.6}
        kw["mask"][:, B // 2] = False
        valid = kw["mask"]
    p = draw(cell, shape, 17, lambda p: {"fwd_kw": dict(kw, reverse=reverse)})
    what = f"{cell.id} {kind} reverse={reverse} {what}"
    y = on_threads(threads or rnnkit.get_num_threads(),
                   lambda: check(cell, p, what, reverse=reverse, **kw))
    assert np.all(y[~valid] == 0), "y must be 0 at invalid steps"


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_lanes_without_states_or_biases(cell, isa):
    p = draw(cell, (4, 20, 3, 6), 23, bias=False)
    p.states = tuple(None for _ in p.states)
    check(cell, p, f"{cell.id} no states, no biases [{isa}]")


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_lanes_same_bits_on_one_and_two_threads(cell, isa):
    # Enough work that the path splits the batch vectors over two threads.
    p = draw(cell, (40, 200, 8, 16), 29)
    previous = rnnkit.get_num_threads()
    try:
        rnnkit.set_num_threads(1)
        one = run(cell, p, training=False)
        rnnkit.set_num_threads(2)
        two = run(cell, p, training=False)
    finally:
        rnnkit.set_num_threads(previous)
    assert_same_bits(one[0], two[0], f"{cell.id} y")
    for a, b in zip(one[1], two[1]):
        assert_same_bits(a, b, f"{cell.id} final state")


# ----------------------------------------------------------------------------------------------
# Batch slices: shapes with at least a megaflop a step, weights within 1.5 MB, B >= 16. B of 16
# (one tile a thread), 37 (a partial tile) and 64; H past one panel and with a partial one.

SLICE_SHAPES = [(4, 16, 40, 128), (3, 37, 33, 100), (2, 64, 7, 129)]


@pytest.mark.parametrize("shape", SLICE_SHAPES, ids=lambda s: "T{}-B{}-I{}-H{}".format(*s))
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_batch_slices_match_blocked_path_and_reference(cell, shape, isa):
    p = draw(cell, shape, 37 * sum(shape))
    on_threads(2, lambda: check(cell, p, f"{cell.id} {shape} [{isa}]"))


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kind", ["lengths", "mask"])
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_batch_slices_valid_steps(cell, kind, reverse, isa):
    check_valid_steps(cell, (5, 40, 64, 96), kind, reverse, f"[{isa}]", threads=2)


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_batch_slices_without_states_or_biases(cell, isa):
    p = draw(cell, (3, 32, 50, 80), 41, bias=False)
    p.states = tuple(None for _ in p.states)
    on_threads(2, lambda: check(cell, p, f"{cell.id} no states, no biases [{isa}]"))


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_batch_slices_same_bits_as_one_thread(cell, isa):
    p = draw(cell, (6, 48, 64, 128), 43)
    one = on_threads(1, lambda: run(cell, p, training=False))
    two = on_threads(2, lambda: run(cell, p, training=False))
    assert_same_bits(one[0], two[0], f"{cell.id} y")
    for a, b in zip(one[1], two[1]):
        assert_same_bits(a, b, f"{cell.id} final state")


# ----------------------------------------------------------------------------------------------
# Batch slices of larger weights: past 1.5 MB, with W_hh alone within 1.25 MB; B >= 16, 2
# threads. SimpleRNN needs a large H to pass 1.5 MB with a small I, the gated cells a large I.


def large_slice_shape(cell, T, B):
    return (T, B, 300, 500) if cell.family == "rnn" else (T, B, 1300, 100)


@pytest.mark.parametrize("B", [16, 37])
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_large_slices_match_blocked_path_and_reference(cell, B, isa):
    shape = large_slice_shape(cell, 3, B)
    p = draw(cell, shape, 59 * B)
    on_threads(2, lambda: check(cell, p, f"{cell.id} {shape} [{isa}]"))


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kind", ["lengths", "mask"])
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_large_slices_valid_steps(cell, kind, reverse, isa):
    check_valid_steps(cell, large_slice_shape(cell, 4, 20), kind, reverse, f"[{isa}]", threads=2)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_slices_over_several_chunks(cell, reverse, isa):
    """A slice's input projection runs a chunk of steps at a time (its rows of each step in one
    GEMM): 20 steps of 16-row slices are 2 chunks for SimpleRNN and 5 for LSTM."""
    check_valid_steps(cell, (20, 32, 64, 256), "lengths", reverse, f"[{isa}]", threads=2)


@pytest.mark.parametrize("cell", [c for c in CELL_PARAMS if c.id in ("rnn_tanh", "lstm")])
def test_large_slices_over_several_chunks(cell):
    """20 steps of 16-row slices: chunks of the larger weights' projection are about 240 rows
    (the default SIMD path only, about a GFLOP a call). ReLU has no draw that keeps a million
    pre-activations away from its kink, and GRU shares the path's code."""
    check_valid_steps(cell, large_slice_shape(cell, 20, 32), "mask", True, "", threads=2)


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_large_slices_without_states_or_biases(cell, isa):
    p = draw(cell, large_slice_shape(cell, 2, 24), 61, bias=False)
    p.states = tuple(None for _ in p.states)
    on_threads(2, lambda: check(cell, p, f"{cell.id} no states, no biases [{isa}]"))


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_large_slices_training_same_bits_as_one_thread(cell, isa):
    check_training_same_bits(cell, draw(cell, large_slice_shape(cell, 3, 24), 67), {})


# ----------------------------------------------------------------------------------------------
# A row's result does not depend on the rest of its batch: one row alone (B = 1: no packing,
# every gate's FMA chains at once) gets the same bits as the same row inside a batch, whichever
# path the batch takes (blocked, lanes or slices).

ROW_SHAPES = [(4, 5, 33, 40), (3, 20, 5, 3), (2, 24, 40, 128)]


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("shape", ROW_SHAPES, ids=lambda s: "T{}-B{}-I{}-H{}".format(*s))
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_rows_do_not_depend_on_their_batch(cell, shape, training, isa):
    p = draw(cell, shape, 47 * sum(shape))
    y, final = on_threads(2, lambda: run(cell, p, training=training))
    for b in (0, shape[1] - 1):
        xb = p.x[:, b : b + 1]
        states = tuple(s[b : b + 1] for s in p.states)
        yb, final_b, _ = cell.forward(ops, xb, states, p.weights, training=training)
        assert_same_bits(yb[:, 0], y[:, b], f"{cell.id} row {b} y")
        for a, c in zip(final_b, final):
            assert_same_bits(a[0], c[b], f"{cell.id} row {b} final state")


@pytest.mark.parametrize("kind", ["none", "mask"])
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_batch_slices_training_same_bits_as_one_thread(cell, kind, isa):
    """Training on batch slices saves what the blocked path saves: forward and every gradient
    agree bit for bit with one thread (where nothing is sliced)."""
    p = draw(cell, (5, 40, 48, 96), 53)
    kw = {}
    if kind == "mask":
        kw["mask"] = np.random.default_rng(3).random((5, 40)) < 0.7
    check_training_same_bits(cell, p, kw)


def check_training_same_bits(cell, p, kw):
    def train():
        y, final, saved = cell.forward(ops, p.x, p.states, p.weights, training=True, **kw)
        grads = cell.backward(ops, p.dy, p.d_final(cell), saved)
        return y, final, grads

    # Two threads first: a slice that saved to the wrong rows must not find the right values
    # left in reused memory by a one-thread run of the same problem.
    two = on_threads(2, train)
    one = on_threads(1, train)
    assert_same_bits(one[0], two[0], f"{cell.id} y")
    for a, b in zip(one[1], two[1]):
        assert_same_bits(a, b, f"{cell.id} final state")
    assert one[2].keys() == two[2].keys()
    for name in one[2]:
        if one[2][name] is not None:
            assert_same_bits(one[2][name], two[2][name], f"{cell.id} grad {name}")
