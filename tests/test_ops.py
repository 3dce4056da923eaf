"""rnnkit.ops (C++ kernels, float32) against rnnkit.reference (NumPy, run in float64).

The oracle is the reference on float64 copies of the very float32 arrays ops receives, so every
difference is ops' float32 round-off (or a bug). Forward outputs must agree elementwise within
1e-4 * (1 + |ref|); every gradient within a relative L2 error of 1e-4.

Shapes are drawn from values that break the kernels' tiling and vector tails (T x B x I x H in
{1,2,7} x {1,3,16,33} x {1,5,31,32,33} x {1,7,16,31,33,257}). The quick suite runs, per cell
and SIMD path, a seeded covering subset in which every value of every dimension appears at least
twice, plus the all-smallest and all-largest shapes; ``-m slow`` runs the full product.
Everything else (lengths, masks, reverse, None arguments, step kernels, empty shapes, the
ownership rules of ``saved``) is checked on every cell and SIMD path too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pytest
from rnnkit import ops
from rnnkit import reference as ref

FWD_TOL = 1e-4  # forward: |ops - ref| <= FWD_TOL * (1 + |ref|) elementwise
GRAD_TOL = 1e-4  # gradients: ||ops - ref|| / max(||ref||, TINY)
STEP_TOL = 1e-5  # step kernel vs one step of the sequence kernel (both ops, float32)
TINY = 1e-12

T_VALUES = (1, 2, 7)
B_VALUES = (1, 3, 16, 33)
I_VALUES = (1, 5, 31, 32, 33)
H_VALUES = (1, 7, 16, 31, 33, 257)


# ----------------------------------------------------------------------------------------------
# Cells: one uniform way to call forward / backward / pack / step of each cell on either module.


@dataclass(frozen=True)
class Cell:
    id: str
    family: str  # "rnn", "lstm", "gru"
    gates: int
    options: dict = field(default_factory=dict)  # activation= / reset_after=

    @property
    def lstm(self) -> bool:
        return self.family == "lstm"

    @property
    def n_states(self) -> int:
        return 2 if self.lstm else 1

    def forward(self, mod, x, states, weights, **kw):
        """-> (y, states tuple, saved); ``states`` is (h0,) or (h0, c0)."""
        fn = getattr(mod, f"{self.family}_forward")
        y, final, saved = fn(x, *states, *weights, **self.options, **kw)
        return y, (tuple(final) if self.lstm else (final,)), saved

    def backward(self, mod, dy, d_final, saved, **kw):
        """``d_final`` is passed as the op takes it: dh_n, or (dh_n, dc_n) / None for LSTM."""
        return getattr(mod, f"{self.family}_backward")(dy, d_final, saved, **kw)

    def pack(self, mod, weights):
        return getattr(mod, f"pack_{self.family}")(*weights, **self.options)

    def step(self, mod, x_t, states, packed, out=None):
        """-> states tuple (h',) or (h', c'); ``out`` as the op takes it."""
        result = getattr(mod, f"{self.family}_step")(x_t, *states, packed, out=out)
        return tuple(result) if self.lstm else (result,)

    def state_names(self):
        return ("h0", "c0")[: self.n_states]


CELLS = [
    Cell("rnn_tanh", "rnn", 1, {"activation": "tanh"}),
    Cell("rnn_relu", "rnn", 1, {"activation": "relu"}),
    Cell("lstm", "lstm", 4),
    Cell("gru", "gru", 3, {"reset_after": True}),
    Cell("gru_reset_before", "gru", 3, {"reset_after": False}),
]
CELL_PARAMS = [pytest.param(c, id=c.id) for c in CELLS]


@dataclass
class Problem:
    x: np.ndarray  # (T,B,I) float32
    states: tuple  # (h0,) or (h0, c0), (B,H) float32
    weights: tuple  # w_ih, w_hh, b_ih, b_hh (float32 or None)
    dy: np.ndarray  # (T,B,H)
    d_states: tuple  # (dh_n,) or (dh_n, dc_n)

    def d_final(self, cell: Cell):
        return self.d_states if cell.lstm else self.d_states[0]


def make_problem(cell: Cell, T, B, I, H, seed=0, *, bias=True) -> Problem:
    """Random float32 inputs, states and upstream gradients O(1); weights scaled by fan-in
    (1/sqrt(I) and 1/sqrt(H)) so that pre-activations stay O(1): a saturated tanh would make
    1 - tanh^2 a float32 cancellation, ill-conditioned for any float32 implementation."""
    rng = np.random.default_rng(seed)

    def f32(a):
        return np.asarray(a, dtype=np.float32)

    s_ih, s = 1.0 / np.sqrt(max(I, 1)), 1.0 / np.sqrt(max(H, 1))
    G = cell.gates
    x = f32(rng.standard_normal((T, B, I)))
    states = tuple(f32(0.5 * rng.standard_normal((B, H))) for _ in range(cell.n_states))
    w_ih = f32(rng.uniform(-s_ih, s_ih, (G * H, I)))
    w_hh = f32(rng.uniform(-s, s, (G * H, H)))
    b_ih = f32(rng.uniform(-s, s, G * H)) if bias else None
    b_hh = f32(rng.uniform(-s, s, G * H)) if bias else None
    dy = f32(rng.standard_normal((T, B, H)))
    d_states = tuple(f32(rng.standard_normal((B, H))) for _ in range(cell.n_states))
    return Problem(x, states, (w_ih, w_hh, b_ih, b_hh), dy, d_states)


RELU_MARGIN = 1e-5  # float32 pre-activations are off by ~1e-6 at most at these sizes


def valid_of(fwd_kw, T, B):
    if fwd_kw.get("lengths") is not None:
        return np.arange(T)[:, None] < np.asarray(fwd_kw["lengths"])[None, :]
    if fwd_kw.get("mask") is not None:
        return np.asarray(fwd_kw["mask"], bool)
    return np.ones((T, B), bool)


def relu_margin(p: Problem, states=None, weights=None, fwd_kw=None, **_):
    """min |pre-activation| over the steps a relu RNN runs (float64): how far the run stays
    from relu's kink, where float32 and float64 may take different branches."""
    fwd_kw = fwd_kw or {}
    T, B, _ = p.x.shape
    states = p.states if states is None else states
    w_ih, w_hh, b_ih, b_hh = (f64(w) for w in (p.weights if weights is None else weights))
    h = np.zeros((B, w_hh.shape[1])) if states[0] is None else f64(states[0])
    valid = valid_of(fwd_kw, T, B)
    margin = np.inf
    for t in range(T - 1, -1, -1) if fwd_kw.get("reverse") else range(T):
        a = f64(p.x[t]) @ w_ih.T + h @ w_hh.T
        a += (0 if b_ih is None else b_ih) + (0 if b_hh is None else b_hh)
        run = valid[t]
        if a[run].size:
            margin = min(margin, np.abs(a[run]).min())
        h[run] = np.maximum(a[run], 0)
    return margin


def draw(cell: Cell, shape, seed, configure=None, *, bias=True) -> Problem:
    """make_problem, redrawn for relu until the run keeps RELU_MARGIN from the kink.

    ``configure(p)`` returns the run_both overrides the test will use (they change which
    pre-activations occur)."""
    for attempt in range(100):
        p = make_problem(cell, *shape, seed=seed + 7919 * attempt, bias=bias)
        if cell.options.get("activation") != "relu":
            return p
        if relu_margin(p, **(configure(p) if configure else {})) >= RELU_MARGIN:
            return p
    raise AssertionError(f"no relu problem with margin {RELU_MARGIN} for {shape}")


def f64(a):
    """float64 copy for the reference (None stays None; tuples map)."""
    if a is None:
        return None
    if isinstance(a, tuple):
        return tuple(f64(v) for v in a)
    return np.asarray(a, dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# Comparisons


def assert_forward_close(actual, expected, what, tol=FWD_TOL):
    assert isinstance(actual, np.ndarray), f"{what}: got {type(actual).__name__}"
    assert actual.dtype == np.float32, f"{what}: dtype {actual.dtype}, expected float32"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if actual.size == 0:
        return
    err = np.abs(actual.astype(np.float64) - expected) / (1.0 + np.abs(expected))
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err[worst] <= tol, (
        f"{what}: max |ops-ref|/(1+|ref|) = {err[worst]:.3g} > {tol} at {worst} "
        f"(ops {actual[worst]!r}, ref {expected[worst]!r})"
    )


def rel_l2(actual, expected):
    diff = np.linalg.norm(actual.astype(np.float64).ravel() - expected.ravel())
    return diff / max(np.linalg.norm(expected.ravel()), TINY)


def assert_grads_close(actual: dict, expected: dict, what, tol=GRAD_TOL):
    assert set(actual) == set(expected), f"{what}: keys {sorted(actual)} != {sorted(expected)}"
    for key, exp in expected.items():
        got = actual[key]
        if exp is None:
            assert got is None, f"{what}: grads[{key!r}] should be None"
            continue
        assert isinstance(got, np.ndarray), f"{what}: grads[{key!r}] is {type(got).__name__}"
        assert got.dtype == np.float32, f"{what}: grads[{key!r}] dtype {got.dtype}"
        assert got.shape == exp.shape, f"{what}: grads[{key!r}] shape {got.shape} != {exp.shape}"
        err = rel_l2(got, exp)
        assert err <= tol, f"{what}: grads[{key!r}] relative L2 error {err:.3g} > {tol}"


def run_both(
    cell: Cell,
    p: Problem,
    *,
    fwd_kw=None,
    bwd_kw=None,
    states=None,
    weights=None,
    dy="given",
    d_final="given",
):
    """Forward + backward on ops (float32) and on the reference (float64 copies).

    Returns ((y, states, grads) from ops, the same from the reference). ``states`` / ``weights``
    override the problem's (e.g. with Nones); ``dy`` / ``d_final`` likewise ("given" keeps them).
    """
    fwd_kw = dict(fwd_kw or {})
    bwd_kw = dict(bwd_kw or {})
    states = p.states if states is None else states
    weights = p.weights if weights is None else weights
    dy = p.dy if isinstance(dy, str) else dy
    d_final = p.d_final(cell) if isinstance(d_final, str) else d_final
    results = []
    for mod, conv in ((ops, lambda a: a), (ref, f64)):
        y, final, saved = cell.forward(
            mod,
            conv(p.x),
            tuple(conv(s) for s in states),
            tuple(conv(w) for w in weights),
            training=True,
            **fwd_kw,
        )
        grads = cell.backward(mod, conv(dy), conv(d_final), saved, **bwd_kw)
        results.append((y, final, grads))
    return results[0], results[1]


def assert_runs_match(cell, got, want, what):
    (y, final, grads), (y_r, final_r, grads_r) = got, want
    assert_forward_close(y, y_r, f"{what} y")
    for name, a, b in zip(("h_n", "c_n"), final, final_r):
        assert_forward_close(a, b, f"{what} {name}")
    assert_grads_close(grads, grads_r, what)


def check_against_reference(cell, p, what, **kw):
    got, want = run_both(cell, p, **kw)
    assert_runs_match(cell, got, want, what)
    return got, want


# ----------------------------------------------------------------------------------------------
# Shapes


def covering_shapes(seed, n=12):
    """n distinct shapes in which every value of every dimension appears >= n // len(values)
    times (each dimension's values tiled and shuffled independently, redrawn until no shape
    repeats), plus the two extreme corners."""
    dims = (T_VALUES, B_VALUES, I_VALUES, H_VALUES)
    corners = [tuple(min(v) for v in dims), tuple(max(v) for v in dims)]
    rng = np.random.default_rng(seed)
    while True:
        columns = [rng.permutation(np.tile(v, -(-n // len(v)))[:n]) for v in dims]
        shapes = corners + [tuple(int(v) for v in row) for row in zip(*columns)]
        if len(set(shapes)) == len(shapes):
            return shapes


def shape_id(shape):
    return "T{}-B{}-I{}-H{}".format(*shape)


COVERING_PARAMS = [
    pytest.param(cell, shape, id=f"{cell.id}-{shape_id(shape)}")
    for k, cell in enumerate(CELLS)
    for shape in covering_shapes(seed=1000 + k)
]


def test_covering_shapes_cover_every_value():
    for k, _ in enumerate(CELLS):
        shapes = covering_shapes(seed=1000 + k)
        for dim, values in enumerate((T_VALUES, B_VALUES, I_VALUES, H_VALUES)):
            seen = [s[dim] for s in shapes]
            assert all(seen.count(v) >= 2 for v in values), (dim, seen)


def shape_seed(shape):
    T, B, I, H = shape
    return ((T * 131 + B) * 131 + I) * 131 + H


@pytest.mark.parametrize(("cell", "shape"), COVERING_PARAMS)
def test_matches_reference(cell, shape, isa):
    p = draw(cell, shape, shape_seed(shape))
    check_against_reference(
        cell, p, f"{cell.id} {shape_id(shape)} [{isa}]", bwd_kw={"return_dh_seq": True}
    )


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_matches_reference_full_product(cell, isa):
    failures = []
    for shape in itertools.product(T_VALUES, B_VALUES, I_VALUES, H_VALUES):
        p = draw(cell, shape, shape_seed(shape))
        try:
            check_against_reference(
                cell, p, f"{cell.id} {shape_id(shape)} [{isa}]", bwd_kw={"return_dh_seq": True}
            )
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
    assert not failures, f"{len(failures)} shapes failed:\n" + "\n".join(failures[:20])


# ----------------------------------------------------------------------------------------------
# Valid steps: lengths, masks, reverse

T_V, B_V, I_V, H_V = 7, 6, 9, 19  # odd sizes: vector tails everywhere


def validity(kind, T=T_V, B=B_V):
    """-> (forward kwargs, valid (T,B) bool) for one way of marking valid steps."""
    if kind == "none":
        return {}, np.ones((T, B), bool)
    if kind == "lengths":  # includes a 0, a full length and in-between values
        lengths = np.array([T, 0, 3, T, 1, 5][:B], dtype=np.int64)
        return {"lengths": lengths}, np.arange(T)[:, None] < lengths[None, :]
    if kind == "lengths_full":
        return {"lengths": np.full(B, T, dtype=np.int32)}, np.ones((T, B), bool)
    if kind == "mask":  # holes, an all-False column, an all-True column, a first-step hole
        rng = np.random.default_rng(7)
        mask = rng.random((T, B)) < 0.6
        mask[:, 1] = False
        mask[:, 3] = True
        mask[0, 0] = False
        mask[T - 1, 0] = True
        return {"mask": mask}, mask.copy()
    raise AssertionError(kind)


VALIDITY_KINDS = ["none", "lengths", "lengths_full", "mask"]


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("kind", VALIDITY_KINDS)
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_valid_steps_match_reference(cell, kind, reverse, isa):
    fwd_kw, valid = validity(kind)
    fwd_kw["reverse"] = reverse
    p = draw(cell, (T_V, B_V, I_V, H_V), 11, lambda p: {"fwd_kw": fwd_kw})
    got, _ = check_against_reference(
        cell,
        p,
        f"{cell.id} {kind} reverse={reverse} [{isa}]",
        fwd_kw=fwd_kw,
        bwd_kw={"return_dh_seq": True},
    )
    y, _, grads = got
    # The contract, exactly: y rows and dx rows at invalid steps are 0.
    assert np.all(y[~valid] == 0), "y must be 0 at invalid steps"
    assert np.all(grads["x"][~valid] == 0), "grads['x'] must be 0 at invalid steps"


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_lengths_zero_keeps_initial_state(cell, isa):
    p = make_problem(cell, T_V, B_V, I_V, H_V, seed=12)
    lengths = np.array([T_V, 0, 3, 0, 1, 5])
    for reverse in (False, True):
        _, final, _ = cell.forward(ops, p.x, p.states, p.weights, lengths=lengths, reverse=reverse)
        for got, h0 in zip(final, p.states):
            np.testing.assert_array_equal(got[[1, 3]], h0[[1, 3]])


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_full_lengths_and_all_true_mask_equal_plain_call(cell, isa):
    p = make_problem(cell, T_V, B_V, I_V, H_V, seed=13)
    y, final, _ = cell.forward(ops, p.x, p.states, p.weights)
    for kw in ({"lengths": [T_V] * B_V}, {"mask": np.ones((T_V, B_V), bool)}):
        y2, final2, _ = cell.forward(ops, p.x, p.states, p.weights, **kw)
        assert_forward_close(y2, f64(y), f"{cell.id} {list(kw)} y", tol=STEP_TOL)
        for a, b in zip(final2, final):
            assert_forward_close(a, f64(b), f"{cell.id} {list(kw)} state", tol=STEP_TOL)


# ----------------------------------------------------------------------------------------------
# None arguments: states, biases, upstream gradients


def _none_variants(cell):
    """(id, run_both overrides) for every None combination that applies to the cell."""
    variants = [
        ("h0_none", {"states": (None,) + ("keep",) * (cell.n_states - 1)}),
        ("b_ih_none", {"weights": (0, 1, None, 3)}),
        ("b_hh_none", {"weights": (0, 1, 2, None)}),
        ("biases_none", {"weights": (0, 1, None, None)}),
        ("dy_none", {"dy": None}),
        (
            "all_none",
            {"states": (None,) * cell.n_states, "weights": (0, 1, None, None), "dy": None},
        ),
    ]
    if cell.lstm:
        variants += [
            ("c0_none", {"states": ("keep", None)}),
            ("states_none", {"states": (None, None)}),
            ("dh_n_none", {"d_final": (None, 1)}),
            ("dc_n_none", {"d_final": (0, None)}),
            ("dstates_pair_of_none", {"d_final": (None, None)}),
            ("dstates_none", {"d_final": None}),
            ("dy_and_dstates_none", {"dy": None, "d_final": None}),
        ]
    else:
        variants += [
            ("dh_n_none", {"d_final": None}),
            ("dy_and_dh_n_none", {"dy": None, "d_final": None}),
        ]
    return variants


def _resolve(cell, p, overrides):
    """Turn a variant's placeholders (index / "keep") into the problem's arrays."""
    kw = dict(overrides)
    if "states" in kw:
        kw["states"] = tuple(s if v == "keep" else None for v, s in zip(kw["states"], p.states))
    if "weights" in kw:
        kw["weights"] = tuple(None if v is None else p.weights[v] for v in kw["weights"])
    if isinstance(kw.get("d_final"), tuple):
        kw["d_final"] = tuple(None if v is None else p.d_states[v] for v in kw["d_final"])
    return kw


NONE_PARAMS = [
    pytest.param(cell, name, overrides, id=f"{cell.id}-{name}")
    for cell in CELLS
    for name, overrides in _none_variants(cell)
]


@pytest.mark.parametrize(("cell", "name", "overrides"), NONE_PARAMS)
def test_none_arguments_match_reference(cell, name, overrides, isa):
    p = draw(cell, (T_V, B_V, I_V, H_V), 21, lambda p: _resolve(cell, p, overrides))
    kw = _resolve(cell, p, overrides)
    got, _ = check_against_reference(
        cell, p, f"{cell.id} {name} [{isa}]", bwd_kw={"return_dh_seq": True}, **kw
    )
    grads = got[2]
    for state in cell.state_names():  # always arrays, zero or not
        assert isinstance(grads[state], np.ndarray)
    weights = kw.get("weights", p.weights)
    assert (grads["b_ih"] is None) == (weights[2] is None)
    assert (grads["b_hh"] is None) == (weights[3] is None)


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_none_means_zeros(cell, isa):
    """None states / gradients give bitwise the result of explicit zeros; no bias = zero bias."""
    p = make_problem(cell, T_V, B_V, I_V, H_V, seed=22)
    zeros = tuple(np.zeros_like(s) for s in p.states)
    y0, f0, s0 = cell.forward(ops, p.x, zeros, p.weights, training=True)
    y1, f1, s1 = cell.forward(ops, p.x, (None,) * cell.n_states, p.weights, training=True)
    np.testing.assert_array_equal(y0, y1)
    for a, b in zip(f0, f1):
        np.testing.assert_array_equal(a, b)
    zero_d = tuple(np.zeros_like(s) for s in p.d_states)
    g0 = cell.backward(ops, np.zeros_like(p.dy), zero_d if cell.lstm else zero_d[0], s0)
    g1 = cell.backward(ops, None, None, s1)
    for key in g0:
        np.testing.assert_array_equal(g0[key], g1[key], err_msg=key)


def test_return_dh_seq_only_when_asked(isa):
    cell = CELLS[2]
    p = make_problem(cell, 3, 2, 4, 5)
    _, _, saved = cell.forward(ops, p.x, p.states, p.weights, training=True)
    assert "dh_seq" not in cell.backward(ops, p.dy, p.d_final(cell), saved)
    grads = cell.backward(ops, p.dy, p.d_final(cell), saved, return_dh_seq=True)
    assert grads["dh_seq"].shape == p.dy.shape


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_saved_is_none_unless_training(cell, isa):
    p = make_problem(cell, 2, 3, 4, 5)
    assert cell.forward(ops, p.x, p.states, p.weights)[2] is None
    assert cell.forward(ops, p.x, p.states, p.weights, training=False)[2] is None
    assert cell.forward(ops, p.x, p.states, p.weights, training=True)[2] is not None


# ----------------------------------------------------------------------------------------------
# Step kernels

STEP_SHAPES = [(1, 1, 1), (5, 9, 19), (33, 32, 33), (16, 31, 257)]  # (B, I, H)


def _step_states(p):
    return tuple(s.copy() for s in p.states)


@pytest.mark.parametrize("shape", STEP_SHAPES, ids=lambda s: "B{}-I{}-H{}".format(*s))
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_step_matches_sequence_and_reference(cell, shape, isa):
    B, I, H = shape
    T = 3
    p = make_problem(cell, T, B, I, H, seed=31)
    packed = cell.pack(ops, p.weights)
    packed_ref = cell.pack(ref, f64(p.weights))
    y_seq, final_seq, _ = cell.forward(ops, p.x, p.states, p.weights)
    states = p.states
    for t in range(T):
        one, _, _ = cell.forward(ops, p.x[t : t + 1], states, p.weights)
        new = cell.step(ops, p.x[t], states, packed)
        new_ref = cell.step(ref, f64(p.x[t]), f64(states), packed_ref)
        for k, (a, b) in enumerate(zip(new, new_ref)):
            assert_forward_close(a, b, f"{cell.id} step {t} state {k} vs reference [{isa}]")
        assert_forward_close(
            new[0], f64(one[0]), f"{cell.id} step {t} vs sequence T=1", tol=STEP_TOL
        )
        # Chained steps track the sequence kernel step by step.
        assert_forward_close(
            new[0], f64(y_seq[t]), f"{cell.id} chained step {t}", tol=STEP_TOL * (t + 1)
        )
        states = new
    for a, b in zip(states, final_seq):
        assert_forward_close(a, f64(b), f"{cell.id} chained final state", tol=STEP_TOL * T)


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_step_none_state_and_no_bias(cell, isa):
    p = make_problem(cell, 1, 4, 6, 10, seed=32, bias=False)
    packed = cell.pack(ops, p.weights)
    packed_ref = cell.pack(ref, f64(p.weights))
    none = (None,) * cell.n_states
    new = cell.step(ops, p.x[0], none, packed)
    new_ref = cell.step(ref, f64(p.x[0]), none, packed_ref)
    zeros = cell.step(ops, p.x[0], tuple(np.zeros_like(s) for s in p.states), packed)
    for a, b, z in zip(new, new_ref, zeros):
        assert_forward_close(a, b, f"{cell.id} step from None")
        np.testing.assert_array_equal(a, z)


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_step_out_in_place(cell, isa):
    p = make_problem(cell, 1, 5, 9, 19, seed=33)
    packed = cell.pack(ops, p.weights)
    expected = cell.step(ops, p.x[0], p.states, packed)

    # out is the state array itself: updated in place, and the very object is returned.
    states = _step_states(p)
    out = states if cell.lstm else states[0]
    result = getattr(ops, f"{cell.family}_step")(p.x[0], *states, packed, out=out)
    if cell.lstm:
        assert result[0] is states[0] and result[1] is states[1]
    else:
        assert result is states[0]
    for a, b in zip(states, expected):
        np.testing.assert_array_equal(a, b)

    # out is a separate buffer: written, returned, inputs untouched.
    states = _step_states(p)
    bufs = tuple(np.full_like(s, np.nan) for s in states)
    out = bufs if cell.lstm else bufs[0]
    result = getattr(ops, f"{cell.family}_step")(p.x[0], *states, packed, out=out)
    if cell.lstm:
        assert result[0] is bufs[0] and result[1] is bufs[1]
    else:
        assert result is bufs[0]
    for a, b in zip(bufs, expected):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(states, p.states):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_step_in_place_loop_matches_sequence(cell, isa):
    """A generation loop: one pair of state buffers updated in place for T steps."""
    T = 7
    p = make_problem(cell, T, 3, 5, 33, seed=34)
    packed = cell.pack(ops, p.weights)
    y_seq, final_seq, _ = cell.forward(ops, p.x, p.states, p.weights)
    states = _step_states(p)
    out = states if cell.lstm else states[0]
    for t in range(T):
        cell.step(ops, p.x[t], states, packed, out=out)
        assert_forward_close(
            states[0], f64(y_seq[t]), f"{cell.id} in-place step {t}", tol=STEP_TOL * (t + 1)
        )
    for a, b in zip(states, final_seq):
        assert_forward_close(a, f64(b), f"{cell.id} in-place final", tol=STEP_TOL * T)


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_packed_weights_own_a_copy(cell, isa):
    p = make_problem(cell, 1, 3, 4, 9, seed=35)
    weights = tuple(w.copy() for w in p.weights)
    packed = cell.pack(ops, weights)
    expected = cell.step(ops, p.x[0], p.states, cell.pack(ops, p.weights))
    for w in weights:
        w[...] = 123.0
    for a, b in zip(cell.step(ops, p.x[0], p.states, packed), expected):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------------------------
# Empty shapes


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_zero_steps(cell, isa):
    B, I, H = 4, 3, 5
    p = make_problem(cell, 0, B, I, H, seed=41)
    y, final, saved = cell.forward(ops, p.x, p.states, p.weights, training=True)
    assert y.shape == (0, B, H) and y.dtype == np.float32
    for a, s in zip(final, p.states):
        np.testing.assert_array_equal(a, s)
    grads = cell.backward(ops, p.dy, p.d_final(cell), saved, return_dh_seq=True)
    assert grads["x"].shape == (0, B, I)
    assert grads["dh_seq"].shape == (0, B, H)
    for name, d in zip(cell.state_names(), p.d_states):  # no step: dh0 = dh_n, dc0 = dc_n
        np.testing.assert_array_equal(grads[name], d)
    for name in ("w_ih", "w_hh", "b_ih", "b_hh"):
        assert not np.any(grads[name]), name
    check_against_reference(cell, p, f"{cell.id} T=0 [{isa}]", bwd_kw={"return_dh_seq": True})


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_zero_batch(cell, isa):
    T, I, H = 3, 4, 6
    p = make_problem(cell, T, 0, I, H, seed=42)
    y, final, saved = cell.forward(ops, p.x, p.states, p.weights, training=True)
    assert y.shape == (T, 0, H)
    assert all(s.shape == (0, H) for s in final)
    grads = cell.backward(ops, p.dy, p.d_final(cell), saved)
    assert grads["x"].shape == (T, 0, I)
    assert grads["w_ih"].shape == p.weights[0].shape and not np.any(grads["w_ih"])
    assert grads["w_hh"].shape == p.weights[1].shape and not np.any(grads["w_hh"])
    check_against_reference(cell, p, f"{cell.id} B=0 [{isa}]")
    # Also with empty lengths / mask, and the step kernel on an empty batch.
    cell.forward(ops, p.x, p.states, p.weights, lengths=np.zeros(0, np.int64))
    cell.forward(ops, p.x, p.states, p.weights, mask=np.zeros((T, 0), bool))
    new = cell.step(
        ops, np.zeros((0, I), np.float32), (None,) * cell.n_states, cell.pack(ops, p.weights)
    )
    assert all(s.shape == (0, H) and s.dtype == np.float32 for s in new)


# ----------------------------------------------------------------------------------------------
# Ownership: saved is read-only and owns copies; results are fresh


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_saved_serves_two_backward_calls(cell, isa):
    p = make_problem(cell, 5, 3, 7, 17, seed=51)
    _, _, saved = cell.forward(ops, p.x, p.states, p.weights, training=True, lengths=[5, 2, 0])
    g1 = cell.backward(ops, p.dy, p.d_final(cell), saved, return_dh_seq=True)
    snapshot = {k: None if v is None else v.copy() for k, v in g1.items()}
    for v in g1.values():  # the results are fresh: scribbling on them changes nothing
        if v is not None:
            v[...] = np.nan
    g2 = cell.backward(ops, p.dy, p.d_final(cell), saved, return_dh_seq=True)
    assert g2 is not g1
    for key, want in snapshot.items():
        if want is None:
            assert g2[key] is None
        else:
            np.testing.assert_array_equal(g2[key], want, err_msg=key)


@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_backward_unaffected_by_caller_mutation(cell, isa):
    p = make_problem(cell, 5, 3, 7, 17, seed=52)
    mask = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [1, 1, 1], [1, 1, 0]], bool)
    _, _, clean = cell.forward(
        ops, p.x, p.states, p.weights, training=True, mask=mask, reverse=True
    )
    expected = cell.backward(ops, p.dy, p.d_final(cell), clean)

    arrays = [p.x.copy(), *(s.copy() for s in p.states), *(w.copy() for w in p.weights)]
    m = mask.copy()
    x, states, weights = arrays[0], tuple(arrays[1 : 1 + cell.n_states]), arrays[-4:]
    _, _, saved = cell.forward(ops, x, states, tuple(weights), training=True, mask=m, reverse=True)
    for a in arrays:  # an optimizer step, and then some
        a *= -3.0
        a += 0.25
    m[...] = ~m
    got = cell.backward(ops, p.dy, p.d_final(cell), saved)
    for key, want in expected.items():
        np.testing.assert_array_equal(got[key], want, err_msg=key)


@pytest.mark.parametrize("shape", [(3, 2, 0, 5), (3, 2, 4, 0)], ids=["I0", "H0"])
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_zero_input_or_hidden_size(cell, shape, isa):
    """I = 0 (the state alone drives the cell) and H = 0 (empty states) are not errors."""
    p = draw(cell, shape, 43)
    check_against_reference(
        cell, p, f"{cell.id} {shape_id(shape)} [{isa}]", bwd_kw={"return_dh_seq": True}
    )
    _, B, _, H = shape
    new = cell.step(ops, p.x[0], p.states, cell.pack(ops, p.weights))
    assert all(s.shape == (B, H) for s in new)
