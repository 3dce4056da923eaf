"""rnnkit models against Keras 3 (torch backend) with the same weights.

Each case builds the same architecture with ``keras`` and with ``rnnkit`` (the same code, the
library passed in), copies Keras's weights into rnnkit with ``set_weights`` (the layouts are
identical by design), and holds rnnkit's ``predict`` to Keras's within 1e-5 and its parameter
counts (per layer and total) to Keras's. Masks cover post-padding, pre-padding and holes.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from types import SimpleNamespace

import numpy as np
import pytest
import rnnkit
from rnnkit import layers as rk_layers

from conftest import require_keras_on_torch

TOL = 1e-5
B, T, F, V = 5, 7, 3, 11


@pytest.fixture(scope="module")
def keras():
    return require_keras_on_torch()


def libs(keras):
    k = SimpleNamespace(
        L=keras.layers, Input=keras.Input, Sequential=keras.Sequential, Model=keras.Model
    )
    r = SimpleNamespace(
        L=rk_layers, Input=rk_layers.Input, Sequential=rnnkit.Sequential, Model=rnnkit.Model
    )
    return k, r


def assert_close(actual, expected, tol=TOL, what=""):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    excess = np.abs(actual - expected) - tol * (1 + np.abs(expected))
    assert not np.any(excess > 0), f"{what}: off by up to {np.max(excess):.3g} beyond {tol}"


def randomize(kmodel, seed=0):
    """Keras's initial biases are zero: give every weight random values so all terms count."""
    rng = np.random.default_rng(seed)
    kmodel.set_weights([0.5 * rng.standard_normal(w.shape) for w in kmodel.get_weights()])


def compare(keras, build, inputs, seed=0):
    """Build with both libraries, copy weights, compare counts and predictions."""
    k, r = libs(keras)
    kmodel, rmodel = build(k), build(r)
    randomize(kmodel, seed)
    rmodel.set_weights(kmodel.get_weights())
    assert rmodel.count_params() == kmodel.count_params()
    klayers = [layer for layer in kmodel.layers if type(layer).__name__ != "InputLayer"]
    rlayers = [layer for layer in rmodel.layers if type(layer).__name__ != "InputLayer"]
    assert [layer.count_params() for layer in rlayers] == [
        layer.count_params() for layer in klayers
    ]
    expected = kmodel.predict(inputs, verbose=0)
    actual = rmodel.predict(inputs, verbose=0)
    if isinstance(expected, (list, tuple)):
        assert isinstance(actual, list) and len(actual) == len(expected)
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, what=f"output {i}")
    else:
        assert_close(actual, expected, what="predict")
    return kmodel, rmodel


def tokens(padding: str, seed=1) -> np.ndarray:
    """(B, T) token ids in [1, V) with zero padding: "post", "pre", "holes" or "none"."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, V, size=(B, T))
    lengths = np.array([T, 1, 4, 0, 6])[:B]
    for b, n in enumerate(lengths):
        if padding == "post":
            x[b, n:] = 0
        elif padding == "pre":
            x[b, : T - n] = 0
        elif padding == "holes":
            x[b, rng.random(T) < 0.35] = 0
    if padding == "holes":
        x[3] = 0  # a fully masked row
    return x


def floats(seed=2) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((B, T, F)).astype(np.float32)


RNN_VARIANTS = [
    ("SimpleRNN", {}),
    ("SimpleRNN", {"activation": "relu"}),
    ("LSTM", {}),
    ("GRU", {}),
    ("GRU", {"reset_after": False}),
]


@pytest.mark.parametrize("cls,options", RNN_VARIANTS)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_recurrent_layers_unmasked(keras, cls, options, return_sequences):
    def build(lib):
        return lib.Sequential(
            [
                lib.Input((T, F)),
                getattr(lib.L, cls)(4, return_sequences=return_sequences, **options),
                lib.L.Dense(2),
            ]
        )

    compare(keras, build, floats())


@pytest.mark.parametrize("cls,options", RNN_VARIANTS)
@pytest.mark.parametrize("padding", ["post", "pre", "holes"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_embedding_recurrent(keras, cls, options, padding, return_sequences, go_backwards):
    def build(lib):
        return lib.Sequential(
            [
                lib.Input((T,), dtype="int32"),
                lib.L.Embedding(V, 3, mask_zero=True),
                getattr(lib.L, cls)(
                    4, return_sequences=return_sequences, go_backwards=go_backwards, **options
                ),
            ]
        )

    compare(keras, build, tokens(padding))


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_zero_output_for_mask(keras, cls, return_sequences):
    def build(lib):
        return lib.Sequential(
            [
                lib.Input((T,), dtype="int32"),
                lib.L.Embedding(V, 3, mask_zero=True),
                getattr(lib.L, cls)(
                    4, return_sequences=return_sequences, zero_output_for_mask=True
                ),
            ]
        )

    compare(keras, build, tokens("holes"))


@pytest.mark.parametrize("padding", ["post", "pre", "holes"])
def test_masking_layer_stacked(keras, padding):
    x = floats()
    x[tokens(padding) == 0] = 0.0

    def build(lib):
        return lib.Sequential(
            [
                lib.Input((T, F)),
                lib.L.Masking(0.0),
                lib.L.LSTM(5, return_sequences=True),
                lib.L.GRU(3, return_sequences=True),
                lib.L.SimpleRNN(2),
            ]
        )

    compare(keras, build, x)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("cls", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("padding", ["none", "post", "pre", "holes"])
def test_bidirectional(keras, merge_mode, cls, padding):
    def build(lib):
        return lib.Sequential(
            [
                lib.Input((T,), dtype="int32"),
                lib.L.Embedding(V, 3, mask_zero=padding != "none"),
                lib.L.Bidirectional(
                    getattr(lib.L, cls)(4, return_sequences=True), merge_mode=merge_mode
                ),
                lib.L.Bidirectional(getattr(lib.L, cls)(3), merge_mode=merge_mode),
                lib.L.Dense(2, activation="softmax"),
            ]
        )

    compare(keras, build, tokens(padding))


@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_merge_none_and_states(keras, return_sequences):
    def build(lib):
        inp = lib.Input((T,), dtype="int32")
        h = lib.L.Embedding(V, 3, mask_zero=True)(inp)
        outs = lib.L.Bidirectional(
            lib.L.LSTM(4, return_sequences=return_sequences, return_state=True), merge_mode=None
        )(h)
        return lib.Model(inp, list(outs))

    compare(keras, build, tokens("pre"))


def test_encoder_decoder_with_states(keras):
    x_enc = floats(3)
    x_dec = floats(4)[:, :5]

    def build(lib):
        enc_in = lib.Input((None, F))
        _, h, c = lib.L.LSTM(6, return_state=True)(enc_in)
        dec_in = lib.Input((None, F))
        seq = lib.L.LSTM(6, return_sequences=True)(dec_in, initial_state=[h, c])
        gru_seq, gru_h = lib.L.GRU(6, return_sequences=True, return_state=True)(
            seq, initial_state=h
        )
        merged = lib.L.Concatenate()([gru_seq, seq])
        out = lib.L.TimeDistributed(lib.L.Dense(V, activation="softmax"))(merged)
        return lib.Model([enc_in, dec_in], [out, gru_h])

    compare(keras, build, [x_enc, x_dec])


def test_feedforward_layers(keras):
    def build(lib):
        return lib.Sequential(
            [
                lib.Input((T, F)),
                lib.L.Dense(6, activation="tanh"),
                lib.L.Dropout(0.5),
                lib.L.TimeDistributed(lib.L.Dense(4, activation="relu")),
                lib.L.Activation("sigmoid"),
                lib.L.Flatten(),
                lib.L.Dense(5),
                lib.L.RepeatVector(3),
                lib.L.SimpleRNN(2, return_sequences=True),
            ]
        )

    compare(keras, build, floats())


def test_stateful_carries_state_across_calls(keras):
    x = floats()

    def build(lib):
        return lib.Sequential(
            [
                lib.Input(batch_shape=(B, T, F)),
                lib.L.GRU(4, stateful=True, return_sequences=True),
                lib.L.LSTM(3, stateful=True),
            ]
        )

    kmodel, rmodel = compare(keras, build, x)  # first call: from zero states
    second = rmodel.predict(x[:, ::-1], batch_size=B, verbose=0)
    assert_close(second, kmodel.predict(x[:, ::-1], batch_size=B, verbose=0), what="second call")
    for layer in kmodel.layers:
        layer.reset_state()
    rmodel.reset_states()
    assert_close(
        rmodel.predict(x, batch_size=B, verbose=0),
        kmodel.predict(x, batch_size=B, verbose=0),
        what="after reset",
    )


def test_summary_counts_match_keras(keras):
    def build(lib):
        return lib.Sequential(
            [
                lib.Input((T,), dtype="int32"),
                lib.L.Embedding(V, 10),
                lib.L.Bidirectional(lib.L.LSTM(8, return_sequences=True)),
                lib.L.GRU(5, reset_after=False),
                lib.L.Dense(V, activation="softmax"),
            ]
        )

    k, r = libs(keras)
    kmodel, rmodel = build(k), build(r)
    lines: list[str] = []
    rmodel.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert f"Total params: {kmodel.count_params():,}" in text
    for klayer, rlayer in zip(kmodel.layers, rmodel.layers):
        assert rlayer.count_params() == klayer.count_params()
        assert f"{rlayer.count_params():,}" in text


def test_default_initializers_have_keras_statistics(keras):
    """Same shapes and the same distributions as Keras's defaults (glorot, orthogonal, ...)."""
    rnnkit.utils.set_random_seed(0)
    k, r = libs(keras)
    kl = k.L.LSTM(64)
    kl.build((None, T, 32))
    rl = r.L.LSTM(64)
    rl.build([(None, T, 32)])
    for kw, rw in zip(kl.get_weights(), rl.get_weights()):
        assert kw.shape == rw.shape
        assert abs(kw.std() - rw.std()) < 0.1 * kw.std() + 1e-6
    kernel, recurrent, bias = rl.get_weights()
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(64), atol=1e-5)  # orthogonal rows
    np.testing.assert_array_equal(bias, np.r_[np.zeros(64), np.ones(64), np.zeros(128)])
    assert np.abs(kernel).max() <= np.sqrt(6 / (32 + 256)) + 1e-7
