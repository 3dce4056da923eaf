"""The functional API against PyTorch: nn.RNN (tanh, relu), nn.LSTM, nn.GRU (reset_after=True).

With the same float64 weights, forward outputs, final states and every gradient of one loss
(autograd on the torch side) agree; so do packed sequences (lengths) and bidirectional layers,
which are [forward direction, reverse=True direction with the reverse weights] concatenated.

Parametrized over the implementations in IMPLS (modules rnnkit.<name>), each held to its own
tolerance: 1e-10 for the float64 reference, 1e-4 for float32 implementations.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from conftest import require

IMPLS = ["reference", "ops"]
TOLERANCE = {"reference": 1e-10}  # float64; float32 implementations default to 1e-4

T, B, I, H = 6, 5, 4, 7
LENGTHS = np.array([T, 1, 3, T, 2])  # torch's packed sequences need lengths >= 1
TORCH_NAMES = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # rnn, lstm, gru: the rnnkit function prefix
    gates: int
    options: dict  # rnnkit keyword arguments
    torch_class: str
    torch_options: dict

    @property
    def state_count(self) -> int:
        return 2 if self.kind == "lstm" else 1


CASES = [
    Case("rnn_tanh", "rnn", 1, {"activation": "tanh"}, "RNN", {"nonlinearity": "tanh"}),
    Case("rnn_relu", "rnn", 1, {"activation": "relu"}, "RNN", {"nonlinearity": "relu"}),
    Case("lstm", "lstm", 4, {}, "LSTM", {}),
    Case("gru", "gru", 3, {"reset_after": True}, "GRU", {}),
]


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(f"rnnkit.{request.param}")


@pytest.fixture
def tol(impl: ModuleType) -> float:
    return TOLERANCE.get(impl.__name__.rsplit(".", 1)[1], 1e-4)


def assert_close(actual: Any, expected: Any, tol: float, what: str) -> None:
    """Agree within tol (DESIGN.md): |actual - expected| <= tol * (1 + |expected|)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    excess = np.abs(actual - expected) - tol * (1 + np.abs(expected))
    assert not np.any(excess > 0), f"{what}: off by up to {np.max(excess):.3g} beyond tol {tol}"


def random_weights(case: Case, rng: np.random.Generator, bias: bool) -> dict:
    gh = case.gates * H
    return {
        "w_ih": 0.4 * rng.standard_normal((gh, I)),
        "w_hh": 0.4 * rng.standard_normal((gh, H)),
        "b_ih": 0.2 * rng.standard_normal(gh) if bias else None,
        "b_hh": 0.2 * rng.standard_normal(gh) if bias else None,
    }


def impl_forward(
    impl: ModuleType, case: Case, x: np.ndarray, init: list, w: dict, **kw: Any
) -> tuple[np.ndarray, tuple, Any]:
    weights = (w["w_ih"], w["w_hh"], w["b_ih"], w["b_hh"])
    if case.kind == "lstm":
        y, states, saved = impl.lstm_forward(x, init[0], init[1], *weights, **kw)
        return y, states, saved
    forward = getattr(impl, f"{case.kind}_forward")
    y, h, saved = forward(x, init[0], *weights, **case.options, **kw)
    return y, (h,), saved


@dataclass(frozen=True)
class Problem:
    """One layer of D directions (1 or 2), its inputs, and the loss
    sum(y * r1) + sum over final states of sum(state * r), laid out like torch."""

    case: Case
    directions: list  # D dicts of weights w_ih, w_hh, b_ih, b_hh
    x: np.ndarray  # (T,B,I)
    states: list  # initial h (and c), (D,B,H) each
    r1: np.ndarray  # (T,B,D*H)
    r_states: list  # (D,B,H) per final state
    lengths: np.ndarray | None

    @staticmethod
    def random(case: Case, n_dir: int, bias: bool, lengths: np.ndarray | None) -> Problem:
        rng = np.random.default_rng(0)
        return Problem(
            case,
            [random_weights(case, rng, bias) for _ in range(n_dir)],
            rng.standard_normal((T, B, I)),
            [0.5 * rng.standard_normal((n_dir, B, H)) for _ in range(case.state_count)],
            rng.standard_normal((T, B, n_dir * H)),
            [rng.standard_normal((n_dir, B, H)) for _ in range(case.state_count)],
            lengths,
        )


def run_impl(impl: ModuleType, problem: Problem) -> tuple[np.ndarray, list, dict]:
    """Direction 0 runs forward, direction 1 reverse=True. Returns y (T,B,D*H), the final
    states (D,B,H) and the gradients: x, h0 (c0) (D,B,H), direction d's weights as "w_ih/d"."""
    case, x, states, r1, r_states = (
        problem.case, problem.x, problem.states, problem.r1, problem.r_states
    )
    ys, finals, grads = [], [[] for _ in states], {"x": 0.0}
    for d, w in enumerate(problem.directions):
        y, final, saved = impl_forward(
            impl, case, x, [s[d] for s in states], w,
            lengths=problem.lengths, reverse=d == 1, training=True,
        )
        dstates = [r[d] for r in r_states]
        backward = getattr(impl, f"{case.kind}_backward")
        g = backward(r1[:, :, d * H : (d + 1) * H], dstates if case.kind == "lstm" else dstates[0],
                     saved)
        ys.append(y)
        grads["x"] = grads["x"] + g["x"]
        for k, name in enumerate(("h0", "c0")[: case.state_count]):
            finals[k].append(final[k])
            grads.setdefault(name, []).append(g[name])
        for name in TORCH_NAMES:
            grads[f"{name}/{d}"] = g[name]
    grads.update({k: np.stack(grads[k]) for k in ("h0", "c0") if k in grads})
    return np.concatenate(ys, axis=2), [np.stack(f) for f in finals], grads


def run_torch(problem: Problem) -> tuple[np.ndarray, list, dict]:
    """The same as run_impl with torch.nn.RNN/LSTM/GRU and autograd."""
    torch = require("torch")
    case, directions, lengths = problem.case, problem.directions, problem.lengths
    module = getattr(torch.nn, case.torch_class)(
        I, H, bias=directions[0]["b_ih"] is not None, bidirectional=len(directions) == 2,
        dtype=torch.float64, **case.torch_options,
    )
    suffixes = ["_l0", "_l0_reverse"]
    with torch.no_grad():
        for d, w in enumerate(directions):
            for name, value in w.items():
                if value is not None:
                    getattr(module, TORCH_NAMES[name] + suffixes[d]).copy_(torch.from_numpy(value))
    x_t = torch.tensor(problem.x, requires_grad=True)
    states_t = [torch.tensor(s, requires_grad=True) for s in problem.states]
    inputs = x_t
    if lengths is not None:
        inputs = torch.nn.utils.rnn.pack_padded_sequence(
            x_t, torch.as_tensor(lengths), enforce_sorted=False
        )
    out, final = module(inputs, tuple(states_t) if case.kind == "lstm" else states_t[0])
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)  # pads with 0
    final = list(final) if case.kind == "lstm" else [final]
    loss = (out * torch.from_numpy(problem.r1)).sum()
    loss = loss + sum((f * torch.from_numpy(r)).sum() for f, r in zip(final, problem.r_states))
    loss.backward()
    grads = {"x": x_t.grad.numpy()}
    for name, s in zip(("h0", "c0"), states_t):
        grads[name] = s.grad.numpy()
    for d in range(len(directions)):
        for name, torch_name in TORCH_NAMES.items():
            param = getattr(module, torch_name + suffixes[d], None)
            grads[f"{name}/{d}"] = None if param is None else param.grad.numpy()
    return out.detach().numpy(), [f.detach().numpy() for f in final], grads


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("layout", ["plain", "packed", "bidirectional", "bidirectional_packed"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_forward_and_gradients_match_torch(
    impl: ModuleType, tol: float, case: Case, layout: str, bias: bool
) -> None:
    require("torch")
    n_dir = 2 if layout.startswith("bidirectional") else 1
    problem = Problem.random(case, n_dir, bias, LENGTHS if layout.endswith("packed") else None)
    y, finals, grads = run_impl(impl, problem)
    y_t, finals_t, grads_t = run_torch(problem)
    assert_close(y, y_t, tol, "y")  # padded steps: 0 on both sides
    for k, (f, f_t) in enumerate(zip(finals, finals_t)):
        assert_close(f, f_t, tol, ("h_n", "c_n")[k])
    assert grads.keys() == grads_t.keys()
    for name, g_t in grads_t.items():
        if g_t is None:
            assert grads[name] is None, name
        else:
            assert_close(grads[name], g_t, tol, f"grad {name}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_step_matches_torch_cell(impl: ModuleType, tol: float, case: Case) -> None:
    torch = require("torch")
    rng = np.random.default_rng(1)
    w = random_weights(case, rng, bias=True)
    x_t = rng.standard_normal((B, I))
    states = [0.5 * rng.standard_normal((B, H)) for _ in range(case.state_count)]

    cell = getattr(torch.nn, case.torch_class + "Cell")(
        I, H, dtype=torch.float64, **case.torch_options
    )
    with torch.no_grad():
        for name, value in w.items():
            getattr(cell, TORCH_NAMES[name]).copy_(torch.from_numpy(value))
        states_t = [torch.from_numpy(s) for s in states]
        expected = cell(torch.from_numpy(x_t), tuple(states_t) if case.kind == "lstm" else
                        states_t[0])
    expected = [e.numpy() for e in expected] if case.kind == "lstm" else [expected.numpy()]

    pack = getattr(impl, f"pack_{case.kind}")
    weights = pack(w["w_ih"], w["w_hh"], w["b_ih"], w["b_hh"], **case.options)
    got = getattr(impl, f"{case.kind}_step")(x_t, *states, weights)
    got = list(got) if case.kind == "lstm" else [got]
    for k, (g, e) in enumerate(zip(got, expected)):
        assert_close(g, e, tol, ("h", "c")[k])
