"""rnnkit.reference against independent oracles: finite differences, per-sequence runs, steps.

Gradients are checked by central finite differences in float64 for every input and parameter;
the valid-step semantics (lengths, masks with holes, reverse) against running each sequence
alone on its valid steps only; errors against the contract of docs/functional-api.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
import rnnkit.reference as ref

T, B, I, H = 5, 4, 3, 3
LENGTHS = np.array([T, 0, 2, 1])  # a full length and a 0
MASK = np.array(  # (T,B): a full column, an all-False column, holes, leading invalid steps
    [
        [1, 0, 1, 0],
        [1, 0, 0, 0],
        [1, 0, 1, 1],
        [1, 0, 0, 1],
        [1, 0, 1, 0],
    ],
    dtype=bool,
)
VALIDITY = {"all": {}, "lengths": {"lengths": LENGTHS}, "mask": {"mask": MASK}}


@dataclass(frozen=True)
class Cell:
    """One cell configuration, called through a uniform interface: states is (h,) or (h, c)."""

    name: str
    gates: int
    options: dict

    @property
    def lstm(self) -> bool:
        return self.name == "lstm"

    @property
    def kind(self) -> str:
        return self.name.split("_")[0]

    def params(self, rng: np.random.Generator, steps: int = T, batch: int = B) -> dict:
        gh = self.gates * H
        p = {
            "x": rng.standard_normal((steps, batch, I)),
            "h0": 0.5 * rng.standard_normal((batch, H)),
            "c0": 0.5 * rng.standard_normal((batch, H)),
            "w_ih": 0.6 * rng.standard_normal((gh, I)),
            "w_hh": 0.6 * rng.standard_normal((gh, H)),
            "b_ih": 0.3 * rng.standard_normal(gh),
            "b_hh": 0.3 * rng.standard_normal(gh),
        }
        if not self.lstm:
            del p["c0"]
        return p

    def forward(self, p: dict, **kw: Any) -> tuple[np.ndarray, tuple, Any]:
        weights = (p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
        if self.lstm:
            y, states, saved = ref.lstm_forward(p["x"], p["h0"], p["c0"], *weights, **kw)
            return y, states, saved
        forward = getattr(ref, f"{self.kind}_forward")
        y, h, saved = forward(p["x"], p["h0"], *weights, **self.options, **kw)
        return y, (h,), saved

    def backward(self, dy: Any, dstates: tuple, saved: Any, **kw: Any) -> dict:
        if self.lstm:
            return ref.lstm_backward(dy, dstates, saved, **kw)
        return getattr(ref, f"{self.kind}_backward")(dy, dstates[0], saved, **kw)

    def pack(self, p: dict) -> Any:
        pack = getattr(ref, f"pack_{self.kind}")
        return pack(p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], **self.options)

    def step(self, x_t: Any, states: tuple, weights: Any, **kw: Any) -> tuple:
        if self.lstm:
            return ref.lstm_step(x_t, *states, weights, **kw)
        return (getattr(ref, f"{self.kind}_step")(x_t, states[0], weights, **kw),)


CELLS = [
    Cell("rnn_tanh", 1, {"activation": "tanh"}),
    Cell("rnn_relu", 1, {"activation": "relu"}),
    Cell("lstm", 4, {}),
    Cell("gru_after", 3, {"reset_after": True}),
    Cell("gru_before", 3, {"reset_after": False}),
]
CELL_IDS = [cell.name for cell in CELLS]


def relu_margin(cell: Cell, p: dict, **kw: Any) -> float:
    """Smallest |pre-activation| over the steps that ran (inf for cells without a kink)."""
    if cell.name != "rnn_relu":
        return np.inf
    _, _, s = cell.forward(p, training=True, **kw)
    a = s.x @ p["w_ih"].T + p["b_ih"] + s.h_prev @ p["w_hh"].T + p["b_hh"]  # (T,B,H)
    return float(np.abs(a[s.valid]).min()) if s.valid.any() else np.inf


def cell_params(cell: Cell, seed: int, **kw: Any) -> dict:
    """Random parameters; for relu, a seed whose pre-activations keep clear of the kink at 0."""
    for attempt in range(100):
        p = cell.params(np.random.default_rng(seed + 1000 * attempt))
        if relu_margin(cell, p, **kw) > 1e-3:
            return p
    raise AssertionError("no parameters with relu pre-activations away from 0")


def weights_r(cell: Cell, rng: np.random.Generator, steps: int = T, batch: int = B) -> tuple:
    """Random loss weights: R1 (T,B,H) for y, and one (B,H) per final state."""
    count = 2 if cell.lstm else 1
    return rng.standard_normal((steps, batch, H)), tuple(
        rng.standard_normal((batch, H)) for _ in range(count)
    )


def loss(cell: Cell, p: dict, r1: np.ndarray, r_states: tuple, **kw: Any) -> float:
    y, states, _ = cell.forward(p, **kw)
    return float(np.sum(y * r1) + sum(np.sum(s * r) for s, r in zip(states, r_states)))


def finite_difference(f: Callable[[], float], arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of f() with respect to every entry of arr (perturbed in place)."""
    grad = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        keep = arr[idx]
        arr[idx] = keep + eps
        plus = f()
        arr[idx] = keep - eps
        minus = f()
        arr[idx] = keep
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("validity", list(VALIDITY))
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_gradients_match_finite_differences(cell: Cell, validity: str, reverse: bool) -> None:
    kw = {**VALIDITY[validity], "reverse": reverse}
    p = cell_params(cell, seed=1, **kw)
    r1, r_states = weights_r(cell, np.random.default_rng(2))
    _, _, saved = cell.forward(p, training=True, **kw)
    grads = cell.backward(r1, r_states, saved)
    for name, arr in p.items():
        numeric = finite_difference(lambda: loss(cell, p, r1, r_states, **kw), arr)
        np.testing.assert_allclose(grads[name], numeric, atol=1e-6, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_dh_seq_matches_finite_differences(cell: Cell, reverse: bool) -> None:
    """dh_seq[t] = dLoss/d(h after step t), checked by splitting the run after step t.

    The loss is y[t]·R1[t] (where step t is valid, y[t] is that state) plus the loss of the
    remaining steps run from that state, whose gradient is taken by finite differences.
    """
    p = cell_params(cell, seed=3, mask=MASK, reverse=reverse)
    r1, r_states = weights_r(cell, np.random.default_rng(4))
    _, _, saved = cell.forward(p, training=True, mask=MASK, reverse=reverse)
    dh_seq = cell.backward(r1, r_states, saved, return_dh_seq=True)["dh_seq"]
    for t in range(T):
        done = slice(t, T) if reverse else slice(0, t + 1)  # steps processed up to t
        rest = slice(0, t) if reverse else slice(t + 1, T)  # steps processed after t
        _, states_t, _ = cell.forward({**p, "x": p["x"][done]}, mask=MASK[done], reverse=reverse)
        rest_p = {**p, "x": p["x"][rest], "h0": states_t[0].copy()}
        if cell.lstm:
            rest_p["c0"] = states_t[1]

        def rest_loss(rest_p: dict = rest_p, rest: slice = rest) -> float:
            return loss(cell, rest_p, r1[rest], r_states, mask=MASK[rest], reverse=reverse)

        expected = MASK[t][:, None] * r1[t] + finite_difference(rest_loss, rest_p["h0"])
        np.testing.assert_allclose(dh_seq[t], expected, atol=1e-6, rtol=1e-4, err_msg=f"t={t}")


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("validity", ["lengths", "mask"])
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_valid_steps_equal_running_each_sequence_alone(
    cell: Cell, validity: str, reverse: bool
) -> None:
    """Skipping a step = the sequence without that step; y is 0 there; h_n its last state."""
    p = cell.params(np.random.default_rng(5))
    valid = MASK if validity == "mask" else np.arange(T)[:, None] < LENGTHS
    y, states, _ = cell.forward(p, reverse=reverse, **VALIDITY[validity])
    for b in range(B):
        alone = {**p, "x": p["x"][valid[:, b], b : b + 1]}
        alone.update({k: p[k][b : b + 1] for k in ("h0", "c0") if k in p})
        y_b, states_b, _ = cell.forward(alone, reverse=reverse)
        np.testing.assert_allclose(y[valid[:, b], b], y_b[:, 0], rtol=0, atol=1e-13)
        np.testing.assert_array_equal(y[~valid[:, b], b], 0)
        for s, s_b in zip(states, states_b):
            np.testing.assert_allclose(s[b], s_b[0], rtol=0, atol=1e-13)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_reverse_equals_forward_on_the_flipped_sequence(cell: Cell) -> None:
    p = cell.params(np.random.default_rng(30))
    y, states, _ = cell.forward(p, reverse=True)
    y_flip, states_flip, _ = cell.forward({**p, "x": p["x"][::-1]})
    np.testing.assert_allclose(y, y_flip[::-1], rtol=0, atol=1e-13)
    for a, b in zip(states, states_flip):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_lengths_equal_the_mask_they_describe(cell: Cell) -> None:
    p = cell.params(np.random.default_rng(6))
    r1, r_states = weights_r(cell, np.random.default_rng(7))
    as_mask = np.arange(T)[:, None] < LENGTHS
    for reverse in (False, True):
        y1, s1, saved1 = cell.forward(p, lengths=LENGTHS, reverse=reverse, training=True)
        y2, s2, saved2 = cell.forward(p, mask=as_mask.astype(np.int8), reverse=reverse,
                                      training=True)
        np.testing.assert_array_equal(y1, y2)
        for a, b in zip(s1, s2):
            np.testing.assert_array_equal(a, b)
        g1 = cell.backward(r1, r_states, saved1, return_dh_seq=True)
        g2 = cell.backward(r1, r_states, saved2, return_dh_seq=True)
        for name in g1:
            np.testing.assert_array_equal(g1[name], g2[name], err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_step_equals_one_step_of_the_sequence(cell: Cell, dtype: type) -> None:
    p = cell.params(np.random.default_rng(8))
    x = p["x"].astype(dtype)
    y, _, _ = cell.forward({**p, "x": x})
    weights = cell.pack(p)
    states = tuple(p[k] for k in ("h0", "c0") if k in p)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for t in range(T):
        states = cell.step(x[t], states, weights)
        assert all(s.dtype == dtype for s in states)
        np.testing.assert_allclose(states[0], y[t], rtol=0, atol=tol)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_step_out_writes_in_place(cell: Cell) -> None:
    p = cell.params(np.random.default_rng(9))
    weights = cell.pack(p)
    states = tuple(p[k].copy() for k in ("h0", "c0") if k in p)
    expected = cell.step(p["x"][0], states, weights)
    out = tuple(np.empty_like(s) for s in states)
    got = cell.step(p["x"][0], states, weights, out=out if cell.lstm else out[0])
    assert all(g is o for g, o in zip(got, out))
    got = cell.step(p["x"][0], states, weights, out=states if cell.lstm else states[0])
    assert all(g is s for g, s in zip(got, states))  # aliasing the input state
    for e, o, s in zip(expected, out, states):
        np.testing.assert_array_equal(o, e)
        np.testing.assert_array_equal(s, e)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_step_with_none_state_equals_zero_state(cell: Cell) -> None:
    p = cell.params(np.random.default_rng(10))
    weights = cell.pack(p)
    zeros = tuple(np.zeros((B, H)) for _ in range(2 if cell.lstm else 1))
    nones = (None,) * len(zeros)
    for a, b in zip(cell.step(p["x"][0], nones, weights), cell.step(p["x"][0], zeros, weights)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_zero_steps(cell: Cell) -> None:
    p = cell.params(np.random.default_rng(11), steps=0)
    r1, r_states = weights_r(cell, np.random.default_rng(12), steps=0)
    y, states, saved = cell.forward(p, training=True)
    assert y.shape == (0, B, H)
    for s, k in zip(states, ("h0", "c0")):
        np.testing.assert_array_equal(s, p[k])
        assert not np.shares_memory(s, p[k])
    grads = cell.backward(r1, r_states, saved, return_dh_seq=True)
    assert grads["x"].shape == (0, B, I) and grads["dh_seq"].shape == (0, B, H)
    for k, r in zip(("h0", "c0"), r_states):
        np.testing.assert_array_equal(grads[k], r)  # the final state is the initial one
        assert not np.shares_memory(grads[k], r)
    for k in ("w_ih", "w_hh", "b_ih", "b_hh"):
        np.testing.assert_array_equal(grads[k], np.zeros_like(p[k]))


@pytest.mark.parametrize("validity", list(VALIDITY))
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_empty_batch(cell: Cell, validity: str) -> None:
    p = cell.params(np.random.default_rng(13), batch=0)
    kw = {"lengths": np.zeros(0, np.int64)} if validity == "lengths" else {}
    if validity == "mask":
        kw = {"mask": np.zeros((T, 0), bool)}
    y, states, saved = cell.forward(p, training=True, **kw)
    assert y.shape == (T, 0, H) and all(s.shape == (0, H) for s in states)
    grads = cell.backward(None, (None,) * len(states), saved)
    assert grads["x"].shape == (T, 0, I)
    np.testing.assert_array_equal(grads["w_hh"], 0)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_none_means_zeros(cell: Cell) -> None:
    p = cell.params(np.random.default_rng(14))
    zero_p = {**p, **{k: np.zeros_like(p[k]) for k in ("h0", "c0", "b_ih", "b_hh") if k in p}}
    none_p = {**p, **{k: None for k in ("h0", "c0", "b_ih", "b_hh") if k in p}}
    r1, r_states = weights_r(cell, np.random.default_rng(15))
    y0, s0, saved0 = cell.forward(zero_p, training=True)
    y1, s1, saved1 = cell.forward(none_p, training=True)
    np.testing.assert_array_equal(y0, y1)
    for a, b in zip(s0, s1):
        np.testing.assert_array_equal(a, b)

    g0 = cell.backward(r1, r_states, saved0)
    g1 = cell.backward(r1, r_states, saved1)
    assert g1["b_ih"] is None and g1["b_hh"] is None
    for k in ("x", "h0", "c0", "w_ih", "w_hh"):
        if k in g0:
            np.testing.assert_array_equal(g0[k], g1[k], err_msg=k)

    zeros_r = tuple(np.zeros_like(r) for r in r_states)
    g_zero = cell.backward(np.zeros_like(r1), zeros_r, saved0)
    variants = [(None, (None,) * len(r_states))]
    if cell.lstm:
        variants += [(None, None), (np.zeros_like(r1), (zeros_r[0], None)),
                     (np.zeros_like(r1), (None, zeros_r[1]))]
    for dy, dstates in variants:
        got = cell.backward(dy, dstates, saved0)
        for k, v in g_zero.items():
            np.testing.assert_array_equal(got[k], v, err_msg=k)
            assert isinstance(got[k], np.ndarray)  # h0/c0 grads are arrays, zero or not


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_float32_in_float32_out(cell: Cell) -> None:
    p = cell.params(np.random.default_rng(16))
    r1, r_states = weights_r(cell, np.random.default_rng(17))
    y64, _, saved64 = cell.forward(p, training=True, mask=MASK)
    g64 = cell.backward(r1, r_states, saved64, return_dh_seq=True)
    for x in (p["x"].astype(np.float32), p["x"].astype(np.float16)):
        y, states, saved = cell.forward({**p, "x": x}, training=True, mask=MASK)
        grads = cell.backward(r1, r_states, saved, return_dh_seq=True)
        assert y.dtype == np.float32 and all(s.dtype == np.float32 for s in states)
        assert all(g.dtype == np.float32 for g in grads.values())
        if x.dtype == np.float32:
            np.testing.assert_allclose(y, y64, rtol=0, atol=1e-5)
            for k, g in grads.items():
                scale = 1 + np.abs(g64[k])  # agree within eps: |a - b| <= eps (1 + |b|)
                assert np.all(np.abs(g - g64[k]) <= 1e-4 * scale), k


def test_dtype_rule_follows_x() -> None:
    cell = CELLS[2]
    p = cell.params(np.random.default_rng(18))
    f32 = {k: v.astype(np.float32) for k, v in p.items()}
    y, (h, c), _ = cell.forward({**f32, "x": p["x"]})  # float64 x, float32 weights
    assert y.dtype == h.dtype == c.dtype == np.float64
    y, (h, c), _ = cell.forward({**p, "x": np.round(p["x"] * 3).astype(np.int32)})
    assert y.dtype == h.dtype == c.dtype == np.float32


def test_nested_lists_and_awkward_layouts_are_accepted() -> None:
    cell = CELLS[3]
    p = cell.params(np.random.default_rng(19))
    y, (h,), _ = cell.forward(p, lengths=LENGTHS)
    as_lists = {k: v.tolist() for k, v in p.items()}
    y1, (h1,), _ = cell.forward(as_lists, lengths=LENGTHS.tolist())
    np.testing.assert_array_equal(y, y1)
    np.testing.assert_array_equal(h, h1)
    awkward = {k: np.asfortranarray(v) for k, v in p.items()}
    awkward["x"] = np.repeat(p["x"], 2, axis=2)[:, :, ::2]  # strided
    for v in awkward.values():
        v.flags.writeable = False
    y2, (h2,), _ = cell.forward(awkward, lengths=LENGTHS)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(h, h2)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_saved_owns_copies(cell: Cell) -> None:
    p = cell.params(np.random.default_rng(20))
    r1, r_states = weights_r(cell, np.random.default_rng(21))
    mask = MASK.copy()
    expected = cell.backward(r1, r_states, cell.forward(p, training=True, mask=mask)[2])
    _, _, saved = cell.forward(p, training=True, mask=mask)
    for v in p.values():
        v += 1.0  # an optimizer step on every array the caller passed
    mask[:] = True
    first = cell.backward(r1, r_states, saved)
    for k, v in expected.items():
        np.testing.assert_array_equal(first[k], v, err_msg=k)
    for g in first.values():
        g[...] = np.nan  # fresh arrays: scribbling on them changes nothing
    second = cell.backward(r1, r_states, saved)
    for k, v in expected.items():
        np.testing.assert_array_equal(second[k], v, err_msg=k)
    with pytest.raises(dataclasses.FrozenInstanceError):
        saved.x = None
    with pytest.raises(ValueError):
        saved.x[...] = 0  # read-only


def test_saved_is_none_unless_training() -> None:
    for cell in CELLS:
        assert cell.forward(cell.params(np.random.default_rng(22)))[2] is None


def test_pack_owns_copies() -> None:
    cell = CELLS[2]
    p = cell.params(np.random.default_rng(23))
    weights = cell.pack(p)
    states = (p["h0"], p["c0"])
    expected = cell.step(p["x"][0], states, weights)
    p["w_hh"] += 1.0
    for a, b in zip(cell.step(p["x"][0], states, weights), expected):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        weights.w_hh = None


@pytest.mark.filterwarnings("error")
def test_saturation_and_nan() -> None:
    """Huge pre-activations give 0/1/±1 without warnings; NaN propagates quietly, and a NaN at
    a step that does not run changes nothing."""
    rng = np.random.default_rng(24)
    for cell in CELLS:
        p = cell.params(rng)
        y, _, _ = cell.forward({**p, "x": 1e4 * np.sign(p["x"]), "h0": None, "c0": None})
        assert np.all(np.isfinite(y))
        if cell.name != "rnn_relu":
            assert np.all(np.abs(y) <= 1)
        y, _, _ = cell.forward(p, mask=MASK)
        x_nan = p["x"].copy()
        x_nan[~MASK] = np.nan
        y_nan, _, _ = cell.forward({**p, "x": x_nan}, mask=MASK)
        np.testing.assert_array_equal(y_nan, y)
        x_nan[0, 0, 0] = np.nan  # a valid step: its sequence is NaN from then on
        y_nan, states, _ = cell.forward({**p, "x": x_nan}, mask=MASK)
        assert np.all(np.isnan(y_nan[:, 0])) and np.all(np.isnan(states[0][0]))


# ----------------------------------------------------------------------------- bad input


def _lstm_args(**changes: Any) -> tuple:
    p = CELLS[2].params(np.random.default_rng(25))
    p.update(changes)
    return p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"]


def _lstm(**changes: Any) -> Callable[..., Any]:
    kw = {k: changes.pop(k) for k in ("lengths", "mask", "reverse", "training") if k in changes}
    return lambda: ref.lstm_forward(*_lstm_args(**changes), **kw)


def _saved(cell_index: int) -> Any:
    cell = CELLS[cell_index]
    return cell.forward(cell.params(np.random.default_rng(26)), training=True)[2]


def _weights(cell_index: int) -> Any:
    cell = CELLS[cell_index]
    return cell.pack(cell.params(np.random.default_rng(27)))


SAVED_MISMATCH = (
    "saved is a rnnkit.reference.gru.GRUSaved, expected a saved object from "
    "rnnkit.reference.lstm_forward(training=True)"
)
BAD_INPUT = [
    # (call, exception, op, argument named in the message)
    (_lstm(x=np.zeros((T, B))), ValueError, "lstm_forward", "x"),
    (_lstm(x=np.zeros((T, B, I), complex)), TypeError, "lstm_forward", "x"),
    (_lstm(x=None), TypeError, "lstm_forward", "x"),
    (_lstm(x=np.full((T, B, I), "a")), TypeError, "lstm_forward", "x"),
    (_lstm(x=[[[1.0, 2.0]], [[1.0]]]), TypeError, "lstm_forward", "x"),
    (_lstm(x=np.zeros((T, B, I), bool)), TypeError, "lstm_forward", "x"),
    (_lstm(w_ih=None), TypeError, "lstm_forward", "w_ih"),
    (_lstm(w_ih=np.zeros((4 * H, I + 1))), ValueError, "lstm_forward", "w_ih"),
    (_lstm(w_ih=np.zeros((4 * H, I), bool)), TypeError, "lstm_forward", "w_ih"),
    (_lstm(w_hh=np.zeros((4 * H, H + 1))), ValueError, "lstm_forward", "w_hh"),
    (_lstm(w_hh=np.zeros(4 * H)), ValueError, "lstm_forward", "w_hh"),
    (_lstm(w_hh=np.zeros((3 * H, H), object)), TypeError, "lstm_forward", "w_hh"),
    (_lstm(b_ih=np.zeros(3 * H)), ValueError, "lstm_forward", "b_ih"),
    (_lstm(b_hh=np.zeros(4 * H, complex)), TypeError, "lstm_forward", "b_hh"),
    (_lstm(h0=np.zeros((B + 1, H))), ValueError, "lstm_forward", "h0"),
    (_lstm(c0=np.zeros((B, H), object)), TypeError, "lstm_forward", "c0"),
    (_lstm(lengths=np.ones(B)), TypeError, "lstm_forward", "lengths"),
    (_lstm(lengths=np.array([True] * B)), TypeError, "lstm_forward", "lengths"),
    (_lstm(lengths=[1, 2, 3, T + 1]), ValueError, "lstm_forward", "lengths"),
    (_lstm(lengths=[1, 2, 3, -1]), ValueError, "lstm_forward", "lengths"),
    (_lstm(lengths=[1, 2, 3]), ValueError, "lstm_forward", "lengths"),
    (_lstm(mask=np.ones((T, B))), TypeError, "lstm_forward", "mask"),
    (_lstm(mask=np.ones((T, B + 1), bool)), ValueError, "lstm_forward", "mask"),
    (_lstm(mask=np.full((T, B), 2)), ValueError, "lstm_forward", "mask"),
    (_lstm(mask=MASK, lengths=LENGTHS), ValueError, "lstm_forward", "lengths and mask"),
    (_lstm(reverse=1), TypeError, "lstm_forward", "reverse"),
    (
        lambda: ref.rnn_forward(
            np.zeros((T, B, I)), None, np.zeros((H, I)), np.zeros((H, H)), None, None,
            activation="sigmoid",
        ),
        ValueError, "rnn_forward", "'tanh', 'relu'",
    ),
    (lambda: ref.lstm_backward(np.zeros((T, B, H + 1)), None, _saved(2)), ValueError,
     "lstm_backward", "dy"),
    (lambda: ref.lstm_backward(None, (np.zeros((B, 1)), None), _saved(2)), ValueError,
     "lstm_backward", "dh_n"),
    (lambda: ref.lstm_backward(None, (None, np.zeros((B, H), complex)), _saved(2)), TypeError,
     "lstm_backward", "dc_n"),
    (lambda: ref.lstm_backward(None, np.zeros((B, H)), _saved(2)), TypeError,
     "lstm_backward", "(dh_n, dc_n)"),
    (lambda: ref.gru_backward(None, np.zeros((B + 1, H)), _saved(3)), ValueError,
     "gru_backward", "dh_n"),
    (lambda: ref.lstm_backward(None, None, _saved(3)), TypeError,
     "lstm_backward", SAVED_MISMATCH),
    (lambda: ref.rnn_backward(None, None, _saved(2)), TypeError, "rnn_backward", "saved"),
    (lambda: ref.gru_backward(None, None, None), TypeError, "gru_backward", "saved is None"),
    (lambda: ref.gru_backward(None, None, object()), TypeError, "gru_backward", "saved"),
    (lambda: ref.lstm_step(np.zeros((B, I)), None, None, _weights(3)), TypeError,
     "lstm_step", "weights"),
    (lambda: ref.rnn_step(np.zeros((B, I)), None, _saved(0)), TypeError, "rnn_step", "weights"),
    (lambda: ref.gru_step(np.zeros((B, I + 1)), None, _weights(3)), ValueError,
     "gru_step", "x_t"),
    (lambda: ref.gru_step(np.zeros((B, I)), None, _weights(3), out=np.zeros((B, H), np.float32)),
     TypeError, "gru_step", "out"),
    (lambda: ref.rnn_step(np.zeros((B, I)), None, _weights(0), out=np.zeros((B, H + 1))),
     ValueError, "rnn_step", "out"),
    (lambda: ref.lstm_step(np.zeros((B, I)), None, None, _weights(2), out=np.zeros((B, H))),
     TypeError, "lstm_step", "out"),
    (lambda: ref.pack_gru(np.zeros((3 * H, I)), np.zeros((2 * H, H)), None, None), ValueError,
     "pack_gru", "w_hh"),
]


@pytest.mark.parametrize("call, error, op, argument", BAD_INPUT)
def test_bad_input_raises_naming_op_and_argument(
    call: Callable[[], Any], error: type, op: str, argument: str
) -> None:
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"[{op}] ") and argument in message, message


def test_shape_error_states_received_and_expected() -> None:
    with pytest.raises(ValueError) as info:
        ref.lstm_forward(*_lstm_args(w_hh=np.zeros((4 * H - 1, H))))
    assert str(info.value) == (
        f"[lstm_forward] w_hh has shape ({4 * H - 1}, {H}), expected (4*H, H) = ({4 * H}, {H})"
    )


def test_unallocatable_sizes_raise_memory_error() -> None:
    x = np.broadcast_to(np.zeros(1, np.float32), (2**25, 2**20, 1))  # a view: no memory yet
    w = np.zeros((4, 1), np.float32)
    with pytest.raises(MemoryError):
        ref.lstm_forward(x, None, None, w, w, None, None)
