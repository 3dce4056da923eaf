"""rnnkit.interop.from_torch / to_torch against PyTorch's own modules.

Each converted object is run on the same random input as the torch module it came from (or
went to) and held to its outputs within 1e-5 (DESIGN.md: |a - b| <= tol * (1 + |b|)); final
states are compared with torch's h_n / c_n. Round trips through torch keep weights bit-exact.
"""

from __future__ import annotations

import numpy as np
import pytest
import rnnkit
from rnnkit import interop
from rnnkit import layers as rk

from conftest import require

torch = require("torch")
nn = torch.nn

TOL = 1e-5
B, T, I, H = 3, 6, 4, 5

MODULES = {
    "rnn_tanh": lambda **kw: nn.RNN(I, H, nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: nn.RNN(I, H, nonlinearity="relu", **kw),
    "lstm": lambda **kw: nn.LSTM(I, H, **kw),
    "gru": lambda **kw: nn.GRU(I, H, **kw),
}
SHAPES = {  # num_layers, bidirectional, bias, batch_first
    "one_layer": (1, False, True, True),
    "bidirectional": (1, True, True, True),
    "stacked_bidirectional_time_major": (2, True, True, False),
    "stacked_no_bias": (3, False, False, True),
}


def assert_close(actual, expected, tol=TOL):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    assert np.all(np.abs(actual - expected) <= tol * (1 + np.abs(expected)))


def torch_run(module, x, batch_first=True):
    """The torch module's outputs for a batch-first x, as NumPy (output batch-first)."""
    xt = torch.from_numpy(x if batch_first else np.ascontiguousarray(x.transpose(1, 0, 2)))
    with torch.no_grad():
        y, states = module(xt)
    y = y.numpy() if batch_first else y.numpy().transpose(1, 0, 2)
    states = states if isinstance(states, tuple) else (states,)
    return y, [s.numpy() for s in states]


def random_input(seed=0, shape=(B, T, I)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def randomize(layer, seed=1):
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("kind", list(MODULES))
def test_from_torch_matches_outputs_and_states(kind, shape):
    torch.manual_seed(0)
    options = dict(zip(("num_layers", "bidirectional", "bias", "batch_first"), SHAPES[shape]))
    module = MODULES[kind](**options).eval()
    x = random_input()
    y, states = torch_run(module, x, options["batch_first"])
    assert_close(interop.from_torch(module)(x), y)
    y_r, *flat = interop.from_torch(module, return_state=True)(x)
    assert_close(y_r, y)
    count = options["num_layers"] * (2 if options["bidirectional"] else 1)
    assert len(flat) == count * len(states)
    for i, expected in enumerate(states):  # h_n, then c_n
        assert_close(np.stack(flat[i * count : (i + 1) * count]), expected)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rk.SimpleRNN(H, activation="relu", return_sequences=True),
        lambda: rk.LSTM(H, return_sequences=True),
        lambda: rk.GRU(H, return_sequences=True, use_bias=False),
        lambda: rk.Bidirectional(rk.LSTM(H, return_sequences=True)),
        lambda: rk.Bidirectional(rk.GRU(H, return_sequences=True)),
    ],
    ids=["rnn_relu", "lstm", "gru_no_bias", "bi_lstm", "bi_gru"],
)
def test_to_torch_matches_and_round_trips_exactly(make):
    layer = make()
    layer.build([(None, None, I)])
    randomize(layer)
    x = random_input(2)
    module = interop.to_torch(layer)
    assert_close(torch_run(module, x)[0], layer(x))
    back = interop.from_torch(module)
    assert type(back) is type(layer)
    for a, b in zip(back.get_weights(), layer.get_weights()):
        assert np.array_equal(a, b)


def test_stacked_sequential_becomes_one_multilayer_module():
    torch.manual_seed(3)
    module = nn.LSTM(I, H, num_layers=3, bidirectional=True, dropout=0.25, batch_first=True)
    model = interop.from_torch(module)
    assert isinstance(model, rnnkit.Sequential)
    again = interop.to_torch(model)
    assert isinstance(again, nn.LSTM)
    assert (again.num_layers, again.bidirectional, again.dropout) == (3, True, 0.25)
    for name, value in module.state_dict().items():
        expected = value.numpy()
        if name.startswith("bias_ih"):  # the two biases come back summed into bias_ih
            expected = expected + module.state_dict()[name.replace("_ih", "_hh")].numpy()
        if name.startswith("bias_hh"):
            expected = np.zeros_like(expected)
        assert np.array_equal(again.state_dict()[name].numpy(), expected), name
    x = random_input(4)
    assert_close(torch_run(again.eval(), x)[0], torch_run(module.eval(), x)[0])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_to_torch_model_with_heads(bidirectional):
    def rec(return_sequences):
        cell = rk.GRU(H, return_sequences=return_sequences)
        return rk.Bidirectional(cell) if bidirectional else cell

    model = rnnkit.Sequential(
        [
            rk.Input((None,), dtype="int64"),
            rk.Embedding(11, I),
            rec(True),
            rec(False),
            rk.Dense(7, activation="relu"),
            rk.Dense(3, activation="softmax"),
        ]
    )
    randomize(model)
    ids = np.random.default_rng(5).integers(0, 11, (B, T))
    module = interop.to_torch(model).eval()
    with torch.no_grad():
        actual = module(torch.from_numpy(ids)).numpy()
    assert_close(actual, model.predict(ids, verbose=0))


def test_from_torch_sequential_of_embedding_and_linear():
    torch.manual_seed(6)
    module = nn.Sequential(
        nn.Embedding(13, I), nn.Linear(I, 8), nn.Tanh(), nn.Linear(8, 3), nn.Softmax(dim=-1)
    ).eval()
    ids = np.random.default_rng(6).integers(0, 13, (B, T))
    with torch.no_grad():
        expected = module(torch.from_numpy(ids)).numpy()
    assert_close(interop.from_torch(module).predict(ids, verbose=0), expected)


def test_what_torch_cannot_express_is_refused():
    with pytest.raises(ValueError, match="proj_size"):
        interop.from_torch(nn.LSTM(I, H, proj_size=2))
    gru = rk.GRU(H, reset_after=False)
    gru.build([(None, None, I)])
    with pytest.raises(ValueError, match="reset_after=False"):
        interop.to_torch(gru)
    masked = rnnkit.Sequential(
        [rk.Input((None,), dtype="int64"), rk.Embedding(5, I, mask_zero=True), rk.LSTM(H)]
    )
    with pytest.raises(ValueError, match="mask"):
        interop.to_torch(masked)
    with pytest.raises(TypeError, match="Conv1d"):
        interop.from_torch(nn.Conv1d(2, 2, 3))
