"""rnnkit.interop.from_keras / to_keras against Keras 3 itself (torch backend).

Keras models with random weights are converted and their predictions compared within 1e-5,
masks included (post-padding, pre-padding and holes), with equal parameter counts; converting
rnnkit models to Keras is held to the same, and a round trip keeps weights bit-exact.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import rnnkit
from rnnkit import interop
from rnnkit import layers as rk

from conftest import require_keras_on_torch

TOL = 1e-5
B, T, V = 5, 7, 11


@pytest.fixture(scope="module")
def keras():
    return require_keras_on_torch()


def assert_close(actual, expected, tol=TOL):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    assert np.all(np.abs(actual - expected) <= tol * (1 + np.abs(expected)))


def padded_ids(seed=0):
    """Token ids with post-padding, pre-padding, a hole and an empty row."""
    ids = np.random.default_rng(seed).integers(1, V, (B, T))
    ids[1, 4:] = 0
    ids[2, :3] = 0
    ids[3, 2] = 0
    ids[4, :] = 0
    return ids


def randomize(model, seed=1):
    rng = np.random.default_rng(seed)
    model.set_weights([0.5 * rng.standard_normal(w.shape) for w in model.get_weights()])


RECURRENT = {
    "simple_rnn_relu": lambda L: L.SimpleRNN(4, activation="relu", return_sequences=True),
    "lstm": lambda L: L.LSTM(4),
    "gru_reset_after": lambda L: L.GRU(4, return_sequences=True),
    "gru_reset_before": lambda L: L.GRU(4, reset_after=False),
    "bi_lstm_concat": lambda L: L.Bidirectional(L.LSTM(4, return_sequences=True)),
    "bi_gru_sum": lambda L: L.Bidirectional(L.GRU(4), merge_mode="sum"),
    "bi_rnn_mul": lambda L: L.Bidirectional(
        L.SimpleRNN(4, return_sequences=True), merge_mode="mul"
    ),
    "go_backwards_gru": lambda L: L.GRU(4, go_backwards=True, return_sequences=True),
}


def text_model(lib, make_recurrent):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((None,), dtype="int32"),
            L.Embedding(V, 3, mask_zero=True),
            make_recurrent(L),
            L.Dropout(0.5),
            L.Dense(2, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("name", list(RECURRENT))
def test_from_keras_predicts_the_same(keras, name):
    kmodel = text_model(keras, RECURRENT[name])
    randomize(kmodel)
    model = interop.from_keras(kmodel)
    assert isinstance(model, rnnkit.Sequential)
    assert model.count_params() == kmodel.count_params()
    assert [layer.count_params() for layer in model.layers] == [
        layer.count_params() for layer in kmodel.layers
    ]
    ids = padded_ids()
    assert_close(model.predict(ids, verbose=0), kmodel.predict(ids, verbose=0))


@pytest.mark.parametrize("name", list(RECURRENT))
def test_to_keras_predicts_the_same_and_round_trips(keras, name):
    model = interop.from_keras(text_model(keras, RECURRENT[name]))  # rnnkit's own, ...
    randomize(model, seed=2)  # ... with its own weights
    kmodel = interop.to_keras(model)
    assert kmodel.count_params() == model.count_params()
    ids = padded_ids(3)
    assert_close(kmodel.predict(ids, verbose=0), model.predict(ids, verbose=0))
    back = interop.from_keras(kmodel)
    for a, b in zip(back.get_weights(), model.get_weights()):
        assert np.array_equal(a, b)


def test_float_input_stacked_layers_and_single_layers(keras):
    L = keras.layers
    kmodel = keras.Sequential(
        [
            keras.Input((None, 3)),
            L.LSTM(5, return_sequences=True),
            L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="ave"),
            L.TimeDistributed(L.Dense(2)),
            L.Activation("tanh"),
        ]
    )
    randomize(kmodel, seed=4)
    x = np.random.default_rng(4).standard_normal((B, T, 3)).astype(np.float32)
    assert_close(interop.from_keras(kmodel).predict(x, verbose=0), kmodel.predict(x, verbose=0))
    klayer = kmodel.layers[0]
    layer = interop.from_keras(klayer)
    assert isinstance(layer, rk.LSTM) and layer.return_sequences
    assert_close(layer(x), keras.ops.convert_to_numpy(klayer(x)))
    assert_close(keras.ops.convert_to_numpy(interop.to_keras(layer)(x)), layer(x))


def test_unsupported_keras_options_are_refused(keras):
    L = keras.layers
    with pytest.raises(ValueError, match="recurrent_dropout"):
        interop.from_keras(L.LSTM(3, recurrent_dropout=0.2))
    with pytest.raises(ValueError, match="kernel_regularizer"):
        interop.from_keras(L.Dense(3, kernel_regularizer="l2"))
    with pytest.raises(TypeError, match="Conv1D"):
        interop.from_keras(L.Conv1D(2, 3))
    inputs = keras.Input((3,))
    with pytest.raises(TypeError, match="Sequential"):
        interop.from_keras(keras.Model(inputs, L.Dense(2)(inputs)))
