"""rnnkit.diagnostics.gradient_norms against PyTorch autograd on the same weights (dL/dh_t)."""

from __future__ import annotations

import numpy as np
import pytest
import rnnkit
from rnnkit.diagnostics import gradient_norms, recurrent_layers
from rnnkit.layers import GRU, LSTM, Bidirectional, Dense, Input, SimpleRNN

from conftest import require

B, T, I = 3, 9, 4


def _torch_cell(torch, layer):
    """A torch cell holding ``layer``'s weights (the layer's kernel layout is PyTorch's)."""
    w_ih, w_hh, b_ih, b_hh = (None if w is None else np.array(w) for w in layer._torch_weights())
    units = layer.units
    if isinstance(layer, LSTM):
        cell = torch.nn.LSTMCell(w_ih.shape[1], units)
    elif isinstance(layer, GRU):
        cell = torch.nn.GRUCell(w_ih.shape[1], units)
    else:
        cell = torch.nn.RNNCell(w_ih.shape[1], units, nonlinearity=layer.activation)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(w_ih))
        cell.weight_hh.copy_(torch.from_numpy(w_hh))
        cell.bias_ih.copy_(torch.from_numpy(b_ih))
        cell.bias_hh.copy_(torch.from_numpy(b_hh if b_hh is not None else np.zeros_like(b_ih)))
    return cell


def _torch_run(torch, layer, x, reverse=False):
    """Run ``layer`` as a torch cell loop; returns (outputs by input timestep, states h_t)."""
    cell = _torch_cell(torch, layer)
    batch = x.shape[0]
    h = torch.zeros(batch, layer.units)
    c = torch.zeros(batch, layer.units)
    states = [None] * x.shape[1]
    order = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    for t in order:
        if isinstance(layer, LSTM):
            h, c = cell(x[:, t], (h, c))
        else:
            h = cell(x[:, t], h)
        h.retain_grad()
        states[t] = h
    return states


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU], ids=lambda c: c.__name__)
def test_stacked_layers_match_torch_autograd(cell) -> None:
    torch = require("torch")
    rnnkit.utils.set_random_seed(3)
    model = rnnkit.Sequential(
        [
            Input((T, I)),
            cell(5, return_sequences=True),
            cell(4, return_sequences=True, go_backwards=True),
            cell(3),
            Dense(2),
        ]
    )
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    y = rng.standard_normal((B, 2)).astype(np.float32)
    norms = gradient_norms(model, x, y)
    per_sample = gradient_norms(model, x, y, per_sample=True)

    first, second, third, dense = model.layers
    h1 = _torch_run(torch, first, torch.from_numpy(x))
    # Keras's go_backwards returns outputs in processing (reversed) order.
    h2 = _torch_run(torch, second, torch.stack(h1, dim=1), reverse=True)
    h3 = _torch_run(torch, third, torch.stack(h2[::-1], dim=1))
    pred = h3[-1] @ torch.from_numpy(np.array(dense.kernel)) + torch.from_numpy(dense.bias)
    loss = torch.mean((pred - torch.from_numpy(y)) ** 2)
    loss.backward()
    for layer, states in ((first, h1), (second, h2), (third, h3)):
        grads = np.stack([h.grad.numpy() for h in states], axis=1)  # (B, T, H)
        np.testing.assert_allclose(
            norms[layer.name], np.sqrt((grads**2).sum(axis=(0, 2))), rtol=2e-4, atol=1e-7
        )
        np.testing.assert_allclose(
            per_sample[layer.name], np.sqrt((grads**2).sum(axis=2)), rtol=2e-4, atol=1e-7
        )


def test_simple_rnn_gradient_vanishes_over_time() -> None:
    """The article's chapter 4 in one assertion: on the same loss at the last step, dL/dh_0
    is orders of magnitude smaller than dL/dh_T for a tanh SimpleRNN with small weights."""
    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential(
        [Input((60, 2)), SimpleRNN(16, recurrent_initializer="glorot_uniform"), Dense(1)]
    )
    model.compile("adam", "mse")
    x = np.random.default_rng(1).random((16, 60, 2)).astype(np.float32)
    norms = gradient_norms(model, x, np.ones((16, 1)))[model.layers[0].name]
    assert norms[0] < 1e-3 * norms[-1]


def test_bidirectional_paths_and_flag_is_cleared() -> None:
    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential(
        [Input((T, I)), Bidirectional(GRU(3, return_sequences=True)), LSTM(2), Dense(1)]
    )
    model.compile("adam", "mse")
    x = np.random.default_rng(0).standard_normal((B, T, I)).astype(np.float32)
    norms = gradient_norms(model, x, np.zeros((B, 1)))
    bidi = model.layers[0]
    assert list(norms) == [
        f"{bidi.name}/{bidi.forward_layer.name}",
        f"{bidi.name}/{bidi.backward_layer.name}",
        model.layers[1].name,
    ]
    assert all(v.shape == (T,) and (v > 0).all() for v in norms.values())
    assert not any(layer.record_dh_seq for layer in recurrent_layers(model).values())
    before = [w.copy() for w in model.get_weights()]
    gradient_norms(model, x, np.zeros((B, 1)))
    for w, v in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w, v)  # no update


def test_errors() -> None:
    model = rnnkit.Sequential([Input((3,)), Dense(1)])
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="no recurrent layer"):
        gradient_norms(model, np.zeros((2, 3)), np.zeros((2, 1)))
    model = rnnkit.Sequential([Input((T, I)), LSTM(2), Dense(1)])
    with pytest.raises(RuntimeError, match="compiled"):
        gradient_norms(model, np.zeros((2, T, I)), np.zeros((2, 1)))
    assert not model.layers[0].record_dh_seq
