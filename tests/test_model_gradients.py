"""Whole-model gradients: central finite differences (float64, reference backend) and PyTorch
autograd on an independent implementation of the same model with Keras's semantics.

``Model.compute_gradients`` returns what one ``fit`` step feeds the optimizer. Against finite
differences of the loss (``test_on_batch``) in float64 it must agree to ~1e-6; against a
hand-written PyTorch model (Keras-layout weights, Keras's cell equations, mask and
``go_backwards`` semantics as a plain loop over time, Keras's loss reduction) run by autograd in
float64, rnnkit's native float32 gradients must agree to float32 round-off.
"""

from __future__ import annotations

import numpy as np
import pytest
import rnnkit
import rnnkit.models
from rnnkit.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Concatenate,
    Dense,
    Embedding,
    Input,
    Masking,
    SimpleRNN,
    TimeDistributed,
)
from rnnkit.optimizers import SGD

from conftest import require

B, T, F, V = 4, 6, 3, 9


@pytest.fixture
def reference64():
    rnnkit.set_backend("reference")
    rnnkit.set_floatx("float64")
    try:
        yield
    finally:
        rnnkit.set_floatx("float32")
        rnnkit.set_backend("native")


def padded_tokens(padding: str, rng: np.random.Generator) -> np.ndarray:
    x = rng.integers(1, V, size=(B, T))
    lengths = [T, 2, 4, 1]
    for b, n in enumerate(lengths):
        if padding == "post":
            x[b, n:] = 0
        elif padding == "pre":
            x[b, : T - n] = 0
        elif padding == "holes":
            x[b, rng.random(T) < 0.4] = 0
            x[b, 0] = rng.integers(1, V)
    return x


def randomize(model: rnnkit.Model, rng: np.random.Generator, scale: float = 0.5) -> None:
    model.set_weights([scale * rng.standard_normal(w.shape) for w in model.get_weights()])


def finite_difference_check(model, x, y, sample_weight=None, samples=5, eps=1e-6, tol=1e-6):
    """Compare compute_gradients with central differences on a few entries of every weight."""
    rng = np.random.default_rng(0)
    _, grads = model.compute_gradients(x, y, sample_weight)
    for weight, grad, name in zip(model.trainable_weights, grads, model.weight_names):
        flat = weight.reshape(-1)
        for i in rng.choice(flat.size, size=min(samples, flat.size), replace=False):
            saved = flat[i]
            flat[i] = saved + eps
            up = model.test_on_batch(x, y, sample_weight=sample_weight, return_dict=True)["loss"]
            flat[i] = saved - eps
            down = model.test_on_batch(x, y, sample_weight=sample_weight, return_dict=True)["loss"]
            flat[i] = saved
            numeric = (up - down) / (2 * eps)
            analytic = grad.reshape(-1)[i]
            assert abs(analytic - numeric) <= tol * (1 + abs(numeric)), (
                f"{name}[{i}]: analytic {analytic:.10g} vs numeric {numeric:.10g}"
            )


# ---------------------------------------------------------------------------------------------
# Finite differences (float64, reference backend)
# ---------------------------------------------------------------------------------------------


def test_stacked_recurrent_mse(reference64):
    rng = np.random.default_rng(1)
    model = rnnkit.Sequential(
        [
            Input((T, F)),
            SimpleRNN(5, return_sequences=True),
            LSTM(4, return_sequences=True),
            GRU(3),
            Dense(2),
        ]
    )
    randomize(model, rng)
    model.compile("sgd", "mse")
    finite_difference_check(model, rng.standard_normal((B, T, F)), rng.standard_normal((B, 2)))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_categorical(reference64, merge_mode):
    rng = np.random.default_rng(2)
    model = rnnkit.Sequential(
        [
            Input((T,), dtype="int32"),
            Embedding(V, 3, mask_zero=True),
            Bidirectional(LSTM(4, return_sequences=True), merge_mode=merge_mode),
            Bidirectional(GRU(3), merge_mode=merge_mode),
            Dense(5, activation="softmax"),
        ]
    )
    randomize(model, rng)
    model.compile("sgd", "categorical_crossentropy")
    y = np.eye(5)[rng.integers(0, 5, B)]
    finite_difference_check(model, padded_tokens("post", rng), y)


@pytest.mark.parametrize("padding", ["pre", "post", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_sequence_outputs_sparse_ce(reference64, padding, go_backwards):
    """Masked steps: repeated outputs (return_sequences) and the loss skipping them."""
    rng = np.random.default_rng(3)
    model = rnnkit.Sequential(
        [
            Input((T,), dtype="int32"),
            Embedding(V, 4, mask_zero=True),
            SimpleRNN(5, return_sequences=True, go_backwards=go_backwards),
            GRU(4, return_sequences=True, reset_after=False),
            LSTM(3, return_sequences=True, zero_output_for_mask=True),
            TimeDistributed(Dense(V, activation="softmax")),
        ]
    )
    randomize(model, rng)
    model.compile("sgd", "sparse_categorical_crossentropy")
    finite_difference_check(model, padded_tokens(padding, rng), rng.integers(0, V, (B, T)))


def test_masking_layer_with_timestep_sample_weights(reference64):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((B, T, F))
    x[padded_tokens("holes", rng) == 0] = 0.0
    model = rnnkit.Sequential(
        [
            Input((T, F)),
            Masking(0.0),
            GRU(4, return_sequences=True),
            Dense(2, activation="tanh"),
        ]
    )
    randomize(model, rng)
    model.compile("sgd", "mse")
    finite_difference_check(
        model, x, rng.standard_normal((B, T, 2)), sample_weight=rng.random((B, T))
    )


@pytest.mark.parametrize(
    "loss,activation,units",
    [
        ("mse", None, 3),
        ("mae", None, 3),
        ("huber", None, 3),
        ("binary_crossentropy", "sigmoid", 3),
        ("categorical_crossentropy", "softmax", 4),
        ("sparse_categorical_crossentropy", "softmax", 4),
    ],
)
def test_each_loss_with_sample_weights(reference64, loss, activation, units):
    rng = np.random.default_rng(5)
    model = rnnkit.Sequential([Input((T, F)), LSTM(4), Dense(units, activation=activation)])
    randomize(model, rng)
    model.compile("sgd", loss)
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, units, B)
    elif loss == "categorical_crossentropy":
        y = np.eye(units)[rng.integers(0, units, B)]
    elif loss == "binary_crossentropy":
        y = (rng.random((B, units)) > 0.5).astype(float)
    else:
        y = 3 * rng.standard_normal((B, units))
    finite_difference_check(
        model, rng.standard_normal((B, T, F)), y, sample_weight=rng.random(B) + 0.5
    )


def test_encoder_decoder_states_and_shared_layer(reference64):
    """Gradients through initial_state into the encoder, a layer used twice, two outputs."""
    rng = np.random.default_rng(6)
    enc_in, dec_in = Input((None, F)), Input((None, F))
    _, h, c = LSTM(4, return_state=True)(enc_in)
    seq = LSTM(4, return_sequences=True)(dec_in, initial_state=[h, c])
    shared = Dense(4, activation="tanh")
    a, b = shared(seq), shared(h)
    bi = Bidirectional(GRU(2, return_sequences=True, return_state=True))(a)
    merged = Concatenate()([bi[0], a])
    model = rnnkit.Model([enc_in, dec_in], [Dense(3)(merged), Dense(1)(Concatenate()([b, bi[1]]))])
    randomize(model, rng)
    model.compile("sgd", ["mse", "mae"], loss_weights=[1.0, 0.5])
    x = [rng.standard_normal((B, T, F)), rng.standard_normal((B, 5, F))]
    finite_difference_check(model, x, [rng.standard_normal((B, 5, 3)), rng.standard_normal((B, 1))])


def _stateful_gru(weights, lr):
    model = rnnkit.Sequential(
        [
            Input(batch_shape=(B, T, F)),
            GRU(4, return_sequences=True, stateful=True),
            Dense(2),
        ]
    )
    model.set_weights(weights)
    model.compile(SGD(lr), "mse")
    return model


def _gru_from_state(weights):
    """The same network without state carrying: x and an explicit initial state in, the
    outputs and the final state out."""
    x_in, h_in = Input((None, F)), Input((4,))
    seq, h = GRU(4, return_sequences=True, return_state=True)(x_in, initial_state=h_in)
    model = rnnkit.Model([x_in, h_in], [Dense(2)(seq), h])
    model.set_weights(weights)
    model.compile("sgd", ["mse", None])
    return model


@pytest.mark.parametrize("window", [T, 4, 2])
def test_truncated_bptt_equals_windowed_full_bptt(reference64, window):
    """train_truncated_bptt = per window, an SGD step with the full-BPTT gradient of that
    window from the state the previous window ended in (no gradient across windows); with
    window = T, one full-BPTT step."""
    rng = np.random.default_rng(7)
    lr = 0.1
    shapes = [(F, 12), (4, 12), (2, 12), (4, 2), (2,)]
    weights = [0.5 * rng.standard_normal(shape) for shape in shapes]
    x, y = rng.standard_normal((B, T, F)), rng.standard_normal((B, T, 2))

    expected = [w.copy() for w in weights]
    state = np.zeros((B, 4))
    for start in range(0, T, window):
        xw, yw = x[:, start : start + window], y[:, start : start + window]
        reference = _gru_from_state(expected)
        _, grads = reference.compute_gradients([xw, state], [yw, np.zeros((B, 4))])
        state = reference.predict([xw, state], verbose=0)[1]
        expected = [w - lr * g for w, g in zip(expected, grads)]

    model = _stateful_gru(weights, lr)
    rnnkit.models.train_truncated_bptt(model, x, y, window=window)
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.layers[0].states[0], state, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# PyTorch autograd on an independent implementation with Keras's semantics
# ---------------------------------------------------------------------------------------------


def _torch_cell(torch, kind, units, weights, activation="tanh", reset_after=True):
    """Keras's cell equations on Keras-layout weights: (x_t, states) -> states."""
    kernel, recurrent = weights[0], weights[1]
    bias = weights[2] if len(weights) > 2 else None
    act = torch.tanh if activation == "tanh" else torch.relu

    def rnn(x, states):
        z = x @ kernel + states[0] @ recurrent + (bias if bias is not None else 0)
        return [act(z)]

    def lstm(x, states):
        h, c = states
        z = x @ kernel + h @ recurrent + bias
        i, f, g, o = torch.split(z, units, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return [torch.sigmoid(o) * torch.tanh(c), c]

    def gru(x, states):
        h = states[0]
        if reset_after:
            xz, xr, xh = torch.split(x @ kernel + bias[0], units, dim=-1)
            hz, hr, hh = torch.split(h @ recurrent + bias[1], units, dim=-1)
            z, r = torch.sigmoid(xz + hz), torch.sigmoid(xr + hr)
            cand = torch.tanh(xh + r * hh)
        else:
            xz, xr, xh = torch.split(x @ kernel + bias, units, dim=-1)
            rz, rr, rh = torch.split(recurrent, units, dim=-1)
            z, r = torch.sigmoid(xz + h @ rz), torch.sigmoid(xr + h @ rr)
            cand = torch.tanh(xh + (r * h) @ rh)
        return [z * h + (1 - z) * cand]

    return {"rnn": rnn, "lstm": lstm, "gru": gru}[kind]


def _torch_recurrent(
    torch, cell, x, mask, units, n_states, go_backwards, return_sequences, zero_output
):
    """Keras's RNN loop: masked steps keep the state and repeat (or zero) the output."""
    batch, steps = x.shape[0], x.shape[1]
    states = [torch.zeros(batch, units, dtype=x.dtype) for _ in range(n_states)]
    prev = torch.zeros(batch, units, dtype=x.dtype)
    outs = []
    for t in range(steps - 1, -1, -1) if go_backwards else range(steps):
        new = cell(x[:, t], states)
        m = torch.ones(batch, 1, dtype=torch.bool) if mask is None else mask[:, t : t + 1]
        states = [torch.where(m, n, s) for n, s in zip(new, states)]
        prev = torch.where(m, new[0], torch.zeros_like(prev) if zero_output else prev)
        outs.append(prev)
    return torch.stack(outs, 1) if return_sequences else outs[-1]


@pytest.mark.parametrize("padding", ["pre", "post", "holes"])
@pytest.mark.parametrize(
    "kind,options",
    [("rnn", {}), ("lstm", {}), ("gru", {}), ("gru", {"reset_after": False})],
)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_native_gradients_match_torch_autograd(padding, kind, options, go_backwards):
    torch = require("torch")
    rng = np.random.default_rng(8)
    cls = {"rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}[kind]
    units = 5
    model = rnnkit.Sequential(
        [
            Input((T,), dtype="int32"),
            Embedding(V, 4, mask_zero=True),
            cls(units, return_sequences=True, go_backwards=go_backwards, **options),
            Dense(V, activation="softmax"),
        ]
    )
    randomize(model, rng)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = padded_tokens(padding, rng), rng.integers(0, V, (B, T))
    sw = rng.random(B) + 0.5
    loss, grads = model.compute_gradients(x, y, sample_weight=sw)

    params = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in model.get_weights()]
    emb, rec, (kernel, bias) = params[0], params[1:-2], params[-2:]
    mask = torch.tensor(x != 0)
    h = emb[torch.tensor(x)]
    cell = _torch_cell(torch, kind, units, rec, reset_after=options.get("reset_after", True))
    seq = _torch_recurrent(
        torch, cell, h, mask, units, 2 if kind == "lstm" else 1, go_backwards, True, False
    )
    logp = torch.log_softmax(seq @ kernel + bias, dim=-1)
    nll = -logp.gather(-1, torch.tensor(y)[..., None])[..., 0]
    weights = torch.tensor(sw)[:, None] * mask
    expected = (nll * weights).sum() / mask.sum()  # Keras: sum over valid steps / their count
    expected.backward()
    assert abs(loss - expected.item()) <= 1e-5 * (1 + abs(expected.item()))
    for p, g, name in zip(params, grads, model.weight_names):
        want = p.grad.numpy()
        np.testing.assert_allclose(g, want, rtol=1e-4, atol=2e-6, err_msg=name)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_native_bidirectional_matches_torch_autograd(merge_mode):
    torch = require("torch")
    rng = np.random.default_rng(9)
    model = rnnkit.Sequential(
        [
            Input((T, F)),
            Masking(0.0),
            Bidirectional(LSTM(4, return_sequences=True), merge_mode=merge_mode),
            Dense(2),
        ]
    )
    randomize(model, rng)
    model.compile("sgd", "mse")
    x = rng.standard_normal((B, T, F))
    x[padded_tokens("pre", rng) == 0] = 0.0
    y = rng.standard_normal((B, T, 2))
    loss, grads = model.compute_gradients(x, y)

    params = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in model.get_weights()]
    xt = torch.tensor(x)
    mask = (xt != 0).any(-1)
    outs = []
    for direction, weights in (("fwd", params[0:3]), ("bwd", params[3:6])):
        cell = _torch_cell(torch, "lstm", 4, weights)
        seq = _torch_recurrent(torch, cell, xt, mask, 4, 2, direction == "bwd", True, True)
        outs.append(seq.flip(1) if direction == "bwd" else seq)
    f, b = outs
    merged = {
        "concat": lambda: torch.cat([f, b], -1),
        "sum": lambda: f + b,
        "mul": lambda: f * b,
        "ave": lambda: (f + b) / 2,
    }[merge_mode]()
    pred = merged @ params[6] + params[7]
    per_step = ((pred - torch.tensor(y)) ** 2).mean(-1)
    expected = (per_step * mask).sum() / mask.sum()
    expected.backward()
    assert abs(loss - expected.item()) <= 1e-5 * (1 + abs(expected.item()))
    for p, g, name in zip(params, grads, model.weight_names):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-4, atol=2e-6, err_msg=name)
