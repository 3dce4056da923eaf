"""Property tests (hypothesis): rnnkit.ops (float32) against rnnkit.reference (float64) on random
problems, step kernels against one-step sequences, and bitwise determinism across thread counts.

tests/test_ops.py checks fixed, hand-picked shapes; here hypothesis draws everything at once: the
shape (T in 0..7, B in 0..9, I and H from sizes that break vector tails, 1 included), lengths or
a mask with holes or neither, reverse, None states / biases / upstream gradients, the thread
count (1 or 2) and the SIMD path (every one this machine has). The tolerances are test_ops'
(forward 1e-4 * (1 + |ref|) elementwise, gradients 1e-4 relative L2, step vs sequence 1e-5).

Profiles (registered here, selected by RNNKIT_HYPOTHESIS_PROFILE):

* ``ci`` (the default): 200 examples per cell and property, derandomized (the same examples on
  every run, so CI is reproducible), no example database.
* ``long``: 2000 examples per cell and property, randomized (new examples each run), for local
  use::

      RNNKIT_HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py -q
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import pytest
import rnnkit
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from rnnkit import _core, ops
from rnnkit import reference as ref
from test_ops import (
    CELL_PARAMS,
    RELU_MARGIN,
    STEP_TOL,
    Cell,
    assert_forward_close,
    assert_runs_match,
    f64,
    make_problem,
    relu_margin,
    run_both,
)

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get("RNNKIT_HYPOTHESIS_PROFILE", "ci")
# Applied per test (not settings.load_profile): the other test files keep their own settings.
PROFILE_SETTINGS = settings.get_profile(PROFILE)

SIZES = (1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33)  # 1, and around vector widths 8 and 16
ISAS = tuple(_core.available_isas())


@contextmanager
def kernel_config(isa: str, threads: int):
    """Run the kernels on one SIMD path with a thread count; restore both afterwards."""
    previous_isa, previous_threads = _core.get_isa(), rnnkit.get_num_threads()
    _core._set_isa(isa)
    rnnkit.set_num_threads(threads)
    try:
        yield
    finally:
        _core._set_isa(previous_isa)
        rnnkit.set_num_threads(previous_threads)


@st.composite
def validity(draw, T: int, B: int) -> dict:
    """Forward kwargs: lengths (0..T each), a mask (random, so with holes), or neither; reverse."""
    kind = draw(st.sampled_from(["none", "lengths", "mask"]))
    kw: dict = {"reverse": draw(st.booleans())}
    if kind == "lengths":
        lengths = draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
        kw["lengths"] = np.array(lengths, dtype=draw(st.sampled_from([np.int64, np.int32])))
    elif kind == "mask":
        bits = draw(st.lists(st.booleans(), min_size=T * B, max_size=T * B))
        kw["mask"] = np.array(bits, dtype=bool).reshape(T, B)
    return kw


@st.composite
def problems(draw, cell: Cell, T, B, I, H) -> dict:
    """A problem for ``run_both``: arrays (numpy, from a drawn seed) plus drawn Nones / options."""
    T, B, I, H = (draw(s) if isinstance(s, st.SearchStrategy) else s for s in (T, B, I, H))
    seed = draw(st.integers(0, 2**32 - 1))
    p = make_problem(cell, T, B, I, H, seed=seed)
    w_ih, w_hh, b_ih, b_hh = p.weights
    bias = draw(st.sampled_from(["both", "no_b_ih", "no_b_hh", "none"]))
    weights = (
        w_ih,
        w_hh,
        b_ih if bias in ("both", "no_b_hh") else None,
        b_hh if bias in ("both", "no_b_ih") else None,
    )
    states = tuple(None if draw(st.booleans()) else s for s in p.states)
    dy = None if draw(st.integers(0, 4)) == 0 else p.dy
    if cell.lstm:
        d_final = draw(
            st.sampled_from([p.d_states, None, (None, p.d_states[1]), (p.d_states[0], None)])
        )
    else:
        d_final = None if draw(st.integers(0, 4)) == 0 else p.d_states[0]
    prob = {
        "shape": (T, B, I, H),
        "p": p,
        "states": states,
        "weights": weights,
        "dy": dy,
        "d_final": d_final,
        "fwd_kw": draw(validity(T, B)),
        "bwd_kw": {"return_dh_seq": draw(st.booleans())},
        "isa": draw(st.sampled_from(ISAS)),
        "threads": draw(st.sampled_from([1, 2])),
    }
    _events(prob)
    return prob


def _events(prob: dict) -> None:
    """What the draw covers, for ``--hypothesis-show-statistics``."""
    T, B, I, H = prob["shape"]
    kw = prob["fwd_kw"]
    event(f"isa={prob['isa']} threads={prob['threads']}")
    event("lengths" if "lengths" in kw else "mask" if "mask" in kw else "all steps valid")
    event(f"reverse={kw['reverse']}")
    event("empty (T=0 or B=0)" if T * B == 0 else "T*B > 0")
    event("I or H is 1" if 1 in (I, H) else "I, H > 1")
    event(f"H={'<8' if H < 8 else '8..16' if H <= 16 else '>16'}")
    event(f"some None state/bias={any(a is None for a in (*prob['states'], *prob['weights']))}")


def _keep_relu_off_the_kink(cell: Cell, prob: dict) -> None:
    """relu RNN: float32 and float64 may take different branches at a pre-activation within
    round-off of 0; such draws are discarded (rare: well under 1 in 20)."""
    if cell.options.get("activation") == "relu":
        margin = relu_margin(
            prob["p"], states=prob["states"], weights=prob["weights"], fwd_kw=prob["fwd_kw"]
        )
        assume(margin >= RELU_MARGIN)


def _describe(cell: Cell, prob: dict) -> str:
    kw = prob["fwd_kw"]
    flags = [k for k in ("lengths", "mask") if k in kw] + (["reverse"] if kw["reverse"] else [])
    nones = [n for n, s in zip(cell.state_names(), prob["states"]) if s is None]
    nones += [n for n, w in zip(("b_ih", "b_hh"), prob["weights"][2:]) if w is None]
    shape = "T{}-B{}-I{}-H{}".format(*prob["shape"])
    return f"{cell.id} {shape} {flags} None={nones} [{prob['isa']}, {prob['threads']} threads]"


# ----------------------------------------------------------------------------------------------
# ops vs reference, forward and every gradient


@pytest.mark.parametrize("cell", CELL_PARAMS)
@PROFILE_SETTINGS
@given(data=st.data())
def test_ops_match_reference(cell: Cell, data):
    sizes = st.sampled_from(SIZES)
    prob = data.draw(problems(cell, st.integers(0, 7), st.integers(0, 9), sizes, sizes))
    _keep_relu_off_the_kink(cell, prob)
    with kernel_config(prob["isa"], prob["threads"]):
        got, want = run_both(
            cell,
            prob["p"],
            fwd_kw=prob["fwd_kw"],
            bwd_kw=prob["bwd_kw"],
            states=prob["states"],
            weights=prob["weights"],
            dy=prob["dy"],
            d_final=prob["d_final"],
        )
    what = _describe(cell, prob)
    assert_runs_match(cell, got, want, what)
    # The contract, exactly: y and dx rows at invalid steps are 0.
    T, B = prob["shape"][:2]
    kw = prob["fwd_kw"]
    if "lengths" in kw:
        invalid = np.arange(T)[:, None] >= kw["lengths"][None, :]
    elif "mask" in kw:
        invalid = ~kw["mask"]
    else:
        invalid = np.zeros((T, B), bool)
    assert np.all(got[0][invalid] == 0), f"{what}: y must be 0 at invalid steps"
    assert np.all(got[2]["x"][invalid] == 0), f"{what}: grads['x'] must be 0 at invalid steps"


# ----------------------------------------------------------------------------------------------
# Step kernels vs a one-step sequence


@pytest.mark.parametrize("cell", CELL_PARAMS)
@PROFILE_SETTINGS
@given(data=st.data())
def test_step_matches_one_step_sequence(cell: Cell, data):
    sizes = st.sampled_from(SIZES)
    prob = data.draw(problems(cell, 1, st.integers(0, 9), sizes, sizes))
    use_out = data.draw(st.booleans())
    p, states, weights = prob["p"], prob["states"], prob["weights"]
    B, H = prob["shape"][1], prob["shape"][3]
    with kernel_config(prob["isa"], prob["threads"]):
        packed = cell.pack(ops, weights)
        _, seq, _ = cell.forward(ops, p.x, states, weights)
        out = None
        if use_out:
            bufs = tuple(np.full((B, H), np.nan, np.float32) for _ in range(cell.n_states))
            out = bufs if cell.lstm else bufs[0]
        new = cell.step(ops, p.x[0], states, packed, out=out)
    packed_ref = cell.pack(ref, f64(weights))
    new_ref = cell.step(ref, f64(p.x[0]), f64(states), packed_ref)
    what = _describe(cell, prob) + f" out={use_out}"
    for name, a, b, r in zip(cell.state_names(), new, seq, new_ref):
        assert_forward_close(a, f64(b), f"{what}: step {name} vs T=1 sequence", tol=STEP_TOL)
        assert_forward_close(a, r, f"{what}: step {name} vs reference")


# ----------------------------------------------------------------------------------------------
# Determinism: 1 vs 2 threads, bitwise

# Shapes at which the kernels use 2 threads: they stay serial while a step is under a megaflop,
# 2*B*G*H*(H+I) < 1e6 (cpp/core/kernels_impl.inc, choose_threads). B >= 16 and H >= 192 give
# >= 1.18e6 even for the RNN (G = 1) with I = 1.
PARALLEL_FLOPS = 1.0e6
BIG_H = (192, 193, 200, 255, 256)
BIG_I = (1, 7, 64, 65)


def _bits(run) -> list[bytes]:
    y, final, grads = run
    arrays = [y, *final] + [grads[k] for k in sorted(grads) if grads[k] is not None]
    return [np.ascontiguousarray(a).tobytes() for a in arrays]


@pytest.mark.parametrize("cell", CELL_PARAMS)
@PROFILE_SETTINGS
@given(data=st.data())
def test_bitwise_identical_across_thread_counts(cell: Cell, data):
    prob = data.draw(
        problems(
            cell,
            st.integers(1, 5),
            st.integers(16, 32),
            st.sampled_from(BIG_I),
            st.sampled_from(BIG_H),
        )
    )
    _, B, I, H = prob["shape"]
    assert 2 * B * cell.gates * H * (H + I) >= PARALLEL_FLOPS  # really the parallel path
    runs = []
    for threads in (1, 2, 1):
        with kernel_config(prob["isa"], threads):
            y, final, saved = cell.forward(
                ops, prob["p"].x, prob["states"], prob["weights"], training=True, **prob["fwd_kw"]
            )
            grads = cell.backward(ops, prob["dy"], prob["d_final"], saved, **prob["bwd_kw"])
        runs.append(_bits((y, final, grads)))
    what = _describe(cell, {**prob, "threads": "1 vs 2"})
    assert runs[0] == runs[2], f"{what}: two 1-thread runs differ"
    assert runs[0] == runs[1], f"{what}: 1 and 2 threads differ"
