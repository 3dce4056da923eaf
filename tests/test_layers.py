"""Layers one at a time: shapes, masks, options Keras has and rnnkit refuses, initializers,
activations, backend switching, configs. Whole-model numbers are in test_keras_parity.py and
test_model_gradients.py."""

from __future__ import annotations

import numpy as np
import pytest
import rnnkit
from rnnkit import activations, initializers
from rnnkit.layers import (
    GRU,
    LSTM,
    Activation,
    Add,
    Bidirectional,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Masking,
    RepeatVector,
    SimpleRNN,
    TimeDistributed,
    deserialize,
    serialize,
)
from rnnkit.layers.recurrent import kernel_masking, repeat_last_valid, repeat_last_valid_backward
from rnnkit.utils import set_random_seed

B, T, F = 3, 5, 4


def rng(seed=0):
    return np.random.default_rng(seed)


# ---- backend -----------------------------------------------------------------------------------


def test_backend_switch_and_floatx_rules():
    assert rnnkit.get_backend() == "native" and rnnkit.floatx() == "float32"
    with pytest.raises(ValueError, match="float64 needs the reference backend"):
        rnnkit.set_floatx("float64")
    with pytest.raises(ValueError, match="name must be one of"):
        rnnkit.set_backend("cuda")
    with pytest.raises(ValueError, match="dtype must be one of"):
        rnnkit.set_floatx("float16")
    rnnkit.set_backend("reference")
    try:
        assert rnnkit.backend.ops() is rnnkit.reference
        rnnkit.set_floatx("float64")
        with pytest.raises(ValueError, match="set_floatx\\('float32'\\)"):
            rnnkit.set_backend("native")
        layer = LSTM(3)
        y = layer(rng().standard_normal((B, T, F)))
        assert y.dtype == np.float64 and layer.kernel.dtype == np.float64
    finally:
        rnnkit.set_floatx("float32")
        rnnkit.set_backend("native")
    assert rnnkit.backend.ops() is rnnkit.ops


def test_reference_and_native_backends_agree():
    x = rng().standard_normal((B, T, F)).astype(np.float32)
    layer = Bidirectional(GRU(4, return_sequences=True))
    native = layer(x)
    rnnkit.set_backend("reference")
    try:
        reference = layer(x)
    finally:
        rnnkit.set_backend("native")
    np.testing.assert_allclose(native, reference, rtol=1e-5, atol=1e-6)


# ---- initializers and activations -----------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "zeros",
        "ones",
        "glorot_uniform",
        "glorot_normal",
        "he_normal",
        "he_uniform",
        "lecun_normal",
        "lecun_uniform",
        "orthogonal",
        "random_normal",
        "random_uniform",
        "truncated_normal",
        "uniform",
        "normal",
        "identity",
        "GlorotUniform",
        "Orthogonal",
    ],
)
def test_initializer_names(name):
    value = initializers.get(name)((6, 6))
    assert value.shape == (6, 6) and value.dtype == np.float32
    again = initializers.get(initializers.serialize(initializers.get(name)))
    assert type(again) is type(initializers.get(name))


def test_initializer_formulas():
    set_random_seed(0)
    glorot = initializers.GlorotUniform()((200, 300))
    limit = np.sqrt(6 / 500)
    assert np.abs(glorot).max() <= limit and np.abs(glorot).max() > 0.99 * limit
    he = initializers.HeNormal()((400, 300))
    assert np.abs(he).max() <= 2 * np.sqrt(2 / 400) / 0.87962566103423978 + 1e-6
    assert abs(he.std() - np.sqrt(2 / 400)) < 0.05 * np.sqrt(2 / 400)
    q = initializers.Orthogonal(gain=2.0)((5, 20))
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(5), atol=1e-5)
    np.testing.assert_array_equal(initializers.Constant(0.25)((2, 3)), np.full((2, 3), 0.25))


def test_seeded_initializer_repeats_and_global_seed_reproduces():
    init = initializers.RandomNormal(seed=7)
    np.testing.assert_array_equal(init((3, 3)), init((3, 3)))
    set_random_seed(3)
    a = initializers.GlorotUniform()((4, 4))
    set_random_seed(3)
    np.testing.assert_array_equal(a, initializers.GlorotUniform()((4, 4)))


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="glorot_uniform"):
        initializers.get("glorot")
    with pytest.raises(ValueError, match="'relu'"):
        activations.get("rleu")
    with pytest.raises(ValueError, match="valid names"):
        Dense(3, activation="rleu")
    with pytest.raises(TypeError, match="no derivative"):
        activations.get(lambda x: x)


@pytest.mark.parametrize(
    "name",
    [
        "linear",
        "relu",
        "tanh",
        "sigmoid",
        "softmax",
        "elu",
        "selu",
        "softplus",
        "softsign",
        "swish",
        "exponential",
        "hard_sigmoid",
        "relu6",
    ],
)
def test_activation_derivatives_match_finite_differences(name):
    act = activations.get(name)
    x = rng(1).standard_normal((4, 5)) * 2
    x[np.abs(x) < 0.05] += 0.1  # keep away from kinks
    x[np.abs(np.abs(x) - 3) < 0.05] += 0.1
    dy = rng(2).standard_normal((4, 5))
    analytic = act.backward(dy, x, act(x))
    eps = 1e-6
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = np.sum(dy * (act(up) - act(down))) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_sigmoid_and_softmax_saturate_without_nan():
    x = np.array([[-1e4, 0.0, 1e4]], dtype=np.float32)
    np.testing.assert_array_equal(activations.sigmoid(x), [[0.0, 0.5, 1.0]])
    np.testing.assert_array_equal(activations.softmax(x), [[0.0, 0.0, 1.0]])


# ---- layers ------------------------------------------------------------------------------------


def test_dense_on_last_axis_of_sequences():
    x = rng().standard_normal((B, T, F)).astype(np.float32)
    layer = Dense(2, activation="tanh")
    y = layer(x)
    expected = np.tanh(x.reshape(-1, F) @ layer.kernel + layer.bias).reshape(B, T, 2)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    with pytest.raises(ValueError, match=r"input x has shape \(3, 5, 7\), expected last axis"):
        layer(np.zeros((B, T, 7)))


def test_embedding_lookup_mask_and_bad_ids():
    layer = Embedding(10, 3, mask_zero=True)
    ids = np.array([[0, 4, 9], [1, 0, 2]])
    out = layer(ids)
    np.testing.assert_array_equal(out, layer.embeddings[ids])
    np.testing.assert_array_equal(layer.compute_mask([ids], [None])[0], ids != 0)
    np.testing.assert_array_equal(layer(ids.astype(float)), out)
    with pytest.raises(ValueError, match=r"token id 10, expected ids in \[0, 9\]"):
        layer(np.array([[1, 10]]))
    with pytest.raises(TypeError, match="integer token ids"):
        layer(np.array([[0.5, 1.0]]))
    grads = layer.backward([np.ones((2, 3, 3))], layer.forward([ids], True, [None])[1])[1][0]
    np.testing.assert_array_equal(grads[:, 0], np.bincount(ids.ravel(), minlength=10))


def test_masking_zeroes_and_masks_timesteps():
    x = rng().standard_normal((B, T, F))
    x[0, 2] = 0.0
    layer = Masking(0.0)
    out = layer(x)
    mask = layer.compute_mask([x], [None])[0]
    assert mask.shape == (B, T) and not mask[0, 2] and mask.sum() == B * T - 1
    np.testing.assert_array_equal(out[0, 2], 0)


def test_feedforward_shapes_and_passthrough():
    x = rng().standard_normal((B, T, F)).astype(np.float32)
    assert Flatten()(x).shape == (B, T * F)
    assert RepeatVector(4)(x[:, 0]).shape == (B, 4, F)
    assert TimeDistributed(Dense(6))(x).shape == (B, T, 6)
    np.testing.assert_array_equal(Dropout(0.5)(x), x)  # inference: identity
    np.testing.assert_allclose(Activation("relu")(x), np.maximum(x, 0))
    assert Concatenate()([x, x]).shape == (B, T, 2 * F)
    np.testing.assert_allclose(Add()([x, x]), 2 * x)


def test_dropout_training_is_inverted_and_backward_uses_same_mask():
    layer = Dropout(0.25, seed=1)
    x = np.ones((2000, 10), dtype=np.float32)
    (y,), cache = layer.forward([x], True, [None])
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.75)
    assert abs(kept.mean() - 0.75) < 0.02
    (dx,), _ = layer.backward([np.ones_like(x)], cache)
    np.testing.assert_array_equal(dx, y)


def test_recurrent_dropout_applies_in_training_only():
    x = rng().standard_normal((B, T, F)).astype(np.float32)
    layer = LSTM(3, dropout=0.5, seed=0)
    np.testing.assert_array_equal(layer(x), layer(x, training=False))
    assert not np.allclose(layer(x, training=True), layer(x))


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: LSTM(3, recurrent_activation="hard_sigmoid"), "hard_sigmoid.*not supported"),
        (lambda: GRU(3, activation="relu"), "activation='relu' is not supported"),
        (lambda: SimpleRNN(3, activation="sigmoid"), "supported: 'tanh', 'relu'"),
        (lambda: LSTM(3, unroll=True), "unroll=True is not supported"),
        (lambda: GRU(3, recurrent_dropout=0.2), "recurrent_dropout=0.2 is not supported"),
        (lambda: LSTM(3, kernel_regularizer="l2"), "kernel_regularizer is not supported"),
        (lambda: Dense(3, kernel_constraint="max_norm"), "kernel_constraint is not supported"),
        (lambda: SimpleRNN(3, time_major=True), "time_major=True is not supported"),
        (lambda: LSTM(3, frobnicate=1), r"\['frobnicate'\] are not supported"),
        (lambda: LSTM(0), "units must be a positive integer"),
        (lambda: Bidirectional(LSTM(3), merge_mode="max"), "merge_mode must be one of"),
        (lambda: Dense(3, dtype="mixed_float16"), "dtype='mixed_float16' is not supported"),
    ],
)
def test_unsupported_keras_options_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_recurrent_input_checks():
    layer = GRU(3)
    layer(np.zeros((B, T, F)))
    with pytest.raises(ValueError, match=r"input x has shape \(3, 5\), expected 3 dimensions"):
        layer(np.zeros((B, T)))
    with pytest.raises(ValueError, match=r"expected last axis \(features\) 4"):
        layer(np.zeros((B, T, 2)))
    with pytest.raises(ValueError, match=r"initial_state\[0\] has shape \(3, 2\)"):
        layer(np.zeros((B, T, F)), initial_state=[np.zeros((B, 2))])
    with pytest.raises(ValueError, match="initial_state has 1 arrays, expected 2"):
        LSTM(3)(np.zeros((B, T, F)), initial_state=[np.zeros((B, 3))])
    with pytest.raises(ValueError, match=r"mask has shape \(3, 4\), expected \(B, T\)"):
        layer(np.zeros((B, T, F)), mask=np.ones((B, 4), bool))


def test_eager_mask_equals_masking_layer_model():
    x = rng().standard_normal((B, T, F)).astype(np.float32)
    mask = np.array([[1, 1, 0, 1, 1], [0, 0, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    layer = LSTM(4, return_sequences=True)
    eager = layer(x, mask=mask)
    masked_x = x * mask[..., None]
    model = rnnkit.Sequential([rnnkit.layers.Input((T, F)), Masking(0.0), layer])
    np.testing.assert_allclose(eager, model.predict(masked_x, verbose=0), rtol=1e-6)


def test_return_state_and_initial_state():
    x = rng().standard_normal((B, T, F)).astype(np.float32)
    out, h, _ = LSTM(4, return_state=True)(x)
    np.testing.assert_array_equal(out, h)
    seq, h2 = GRU(4, return_sequences=True, return_state=True)(x)
    np.testing.assert_array_equal(seq[:, -1], h2)
    layer = SimpleRNN(4, return_sequences=True)
    full = layer(x)
    np.testing.assert_allclose(
        layer(x[:, 2:], initial_state=full[:, 1]), full[:, 2:], rtol=1e-5, atol=1e-6
    )


def test_go_backwards_reverses_the_output():
    x = rng().standard_normal((B, T, F)).astype(np.float32)
    forward = GRU(3, return_sequences=True)
    expected = forward(x[:, ::-1])
    backward = GRU.from_config({**forward.get_config(), "go_backwards": True, "name": "b"})
    backward.build([(None, T, F)])
    backward.set_weights(forward.get_weights())
    np.testing.assert_allclose(backward(x), expected, rtol=1e-6)


def test_stateful_layer_carries_and_resets():
    x = rng().standard_normal((B, T, F)).astype(np.float32)
    layer = SimpleRNN(3, stateful=True)
    first = layer(x)
    second = layer(x)
    assert not np.allclose(first, second)
    stateless = SimpleRNN.from_config({**layer.get_config(), "stateful": False, "name": "s"})
    stateless.build([(None, T, F)])
    stateless.set_weights(layer.get_weights())
    np.testing.assert_allclose(second, stateless(np.concatenate([x, x], axis=1)), rtol=1e-5)
    layer.reset_states()
    np.testing.assert_array_equal(layer(x), first)
    with pytest.raises(ValueError, match="stateful with batch size 3"):
        layer(x[:2])
    layer.reset_state([np.ones((B, 3))])
    np.testing.assert_array_equal(layer.states[0], np.ones((B, 3)))
    with pytest.raises(ValueError, match="not stateful"):
        LSTM(2).reset_state()


def test_lstm_unit_forget_bias_and_gru_bias_shapes():
    lstm = LSTM(3)
    lstm.build([(None, T, F)])
    np.testing.assert_array_equal(lstm.bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    assert LSTM(3, unit_forget_bias=False)(np.zeros((1, 2, F))) is not None
    gru = GRU(3)
    gru.build([(None, T, F)])
    assert gru.bias.shape == (2, 9)
    gru_v1 = GRU(3, reset_after=False)
    gru_v1.build([(None, T, F)])
    assert gru_v1.bias.shape == (9,)
    assert GRU(3, use_bias=False).count_params() == 0  # unbuilt


def test_trainable_flag_moves_weights():
    layer = Bidirectional(LSTM(2))
    layer.build([(None, T, F)])
    assert len(layer.trainable_weights) == 6
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 6
    assert not layer.forward_layer.trainable


def test_set_weights_checks_count_and_shapes():
    layer = Dense(2)
    layer.build([(None, 3)])
    with pytest.raises(ValueError, match="weights has 1 arrays, expected 2"):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"dense.*/kernel has shape \(2, 2\), expected \(3, 2\)"):
        layer.set_weights([np.zeros((2, 2)), np.zeros(2)])
    with pytest.raises(ValueError, match="not built"):
        Dense(2).set_weights([])


@pytest.mark.parametrize(
    "layer",
    [
        lambda: Dense(3, activation="relu", use_bias=False),
        lambda: Embedding(7, 2, mask_zero=True, input_length=4),
        lambda: SimpleRNN(3, activation="relu", go_backwards=True),
        lambda: LSTM(3, return_sequences=True, unit_forget_bias=False, dropout=0.1),
        lambda: GRU(3, reset_after=False, stateful=True, return_state=True),
        lambda: Bidirectional(GRU(2, return_sequences=True), merge_mode="ave"),
        lambda: TimeDistributed(Dense(2)),
        lambda: Masking(-1.0),
        lambda: Dropout(0.3, seed=2),
        lambda: Activation("softmax"),
        lambda: RepeatVector(3),
        lambda: Concatenate(axis=1),
    ],
)
def test_config_roundtrip(layer):
    original = layer()
    config = serialize(original)
    rebuilt = deserialize(config)
    assert type(rebuilt) is type(original)
    assert serialize(rebuilt) == config


# ---- the mask helpers against plain loops ------------------------------------------------------


def test_kernel_masking_classifies_masks():
    post = np.array([[1, 1, 0], [1, 0, 0]], bool)
    lengths, mask = kernel_masking(post, 3)
    np.testing.assert_array_equal(lengths, [2, 1])
    assert mask is None
    lengths, mask = kernel_masking(np.array([[0, 1, 1], [1, 1, 1]], bool), 3)
    assert lengths is None and mask.shape == (3, 2)
    assert kernel_masking(np.ones((2, 3), bool), 3) == (None, None)


def test_repeat_last_valid_and_its_gradient_against_loops():
    r = rng(3)
    steps, batch, hidden = 7, 4, 3
    valid = r.random((steps, batch)) < 0.5
    y = r.standard_normal((steps, batch, hidden)) * valid[..., None]
    expected = np.zeros_like(y)
    for b in range(batch):
        last = np.zeros(hidden)
        for t in range(steps):
            if valid[t, b]:
                last = y[t, b]
            expected[t, b] = last
    np.testing.assert_array_equal(repeat_last_valid(y, valid), expected)
    dy = r.standard_normal((steps, batch, hidden))
    grad = np.zeros_like(dy)
    for b in range(batch):
        for t in range(steps):
            src = [s for s in range(t + 1) if valid[s, b]]
            if src:
                grad[src[-1], b] += dy[t, b]
    np.testing.assert_allclose(repeat_last_valid_backward(dy, valid), grad, atol=1e-12)


def test_embedding_gradient_cpp_path_equals_the_numpy_path_bit_for_bit(monkeypatch) -> None:
    """The C++ per-id row sum and the np.add.at fallback add in one order: equal bits."""
    from rnnkit import _core

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50, 3000)  # many repeats per id
    rows = rng.standard_normal((1, 3000, 7)).astype(np.float32)
    layer = rnnkit.layers.Embedding(50, 7)
    layer(np.zeros((1, 3000), np.int64))  # builds it
    _, (fast,) = layer._backward(rows, ids.astype(np.int32).reshape(1, -1))
    monkeypatch.setattr(_core, "_embedding_grad", lambda *args: False)
    _, (slow,) = layer._backward(rows, ids.reshape(1, -1))
    np.testing.assert_array_equal(fast, slow)
    monkeypatch.undo()
    # out-of-range ids or wrong shapes: declined, nothing written
    out = np.zeros((50, 7), np.float32)
    assert _core._embedding_grad(ids, rows[0], out) and out.any()
    out[:] = 0
    assert not _core._embedding_grad(np.array([0, 50]), rows[0, :2], out)
    assert not _core._embedding_grad(ids[:5], rows[0, :4], out)
    assert not out.any()


@pytest.mark.parametrize("shape", [(0, 3, 4), (5, 0, 4), (1, 1, 1), (7, 13, 5), (70, 129, 300)])
def test_dense_matmul_on_rnnkit_threads_matches_numpy(isa, shape) -> None:
    """Dense's products run on rnnkit's GEMM (not NumPy's BLAS threads): float64 oracle,
    transposed and strided operands, every SIMD path; other dtypes are declined."""
    from rnnkit import _core

    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    want = a.astype(np.float64) @ b
    for got in (
        _core._matmul(a, b),
        _core._matmul(np.ascontiguousarray(a.T), np.ascontiguousarray(b.T), True, True),
        _core._matmul(np.asfortranarray(a), b[:, ::1]),
    ):
        assert got.shape == (m, n) and got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(k, 1) ** 0.5)
    wide = np.zeros((m, 2 * k), np.float32)
    wide[:, ::2] = a  # a strided view (column stride 2)
    np.testing.assert_allclose(_core._matmul(wide[:, ::2], b), want, rtol=1e-4, atol=1e-3)
    assert _core._matmul(a.astype(np.float64), b) is None
    with pytest.raises(ValueError, match="inner dimensions"):
        _core._matmul(a, np.zeros((k + 1, n), np.float32))


def test_training_step_cpp_paths_accept_unpickled_and_refuse_unaligned_arrays() -> None:
    """An array that went through pickle (Dask, joblib workers) has an equal but distinct
    float32 dtype object: the C++ paths must still take it (else predictions computed in a
    worker would differ in the last bits); an unaligned buffer is declined, not read."""
    import pickle

    from rnnkit import _core

    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 5)).astype(np.float32)
    b = rng.standard_normal((5, 3)).astype(np.float32)
    a2, b2 = pickle.loads(pickle.dumps(a)), pickle.loads(pickle.dumps(b))
    np.testing.assert_array_equal(_core._matmul(a2, b2), _core._matmul(a, b))
    grads = [pickle.loads(pickle.dumps(np.ones(3, np.float32)))]
    m, v = np.zeros(3, np.float32), np.zeros(3, np.float32)
    assert _core._adam_update([np.ones(3, np.float32)], grads, m, v, 0.1, 0.1, 0.001, 1e-7,
                              False, 0.0, 0.1)
    raw = np.zeros(6 * 5 * 4 + 1, np.uint8)
    unaligned = np.frombuffer(raw.data, np.float32, count=30, offset=1).reshape(6, 5)
    assert not unaligned.flags.aligned
    assert _core._matmul(unaligned, b) is None

    model = rnnkit.Sequential([rnnkit.layers.Input((5,)), Dense(7, activation="relu"), Dense(3)])
    x = rng.standard_normal((9, 5)).astype(np.float32)
    np.testing.assert_array_equal(
        model.predict(pickle.loads(pickle.dumps(x)), verbose=0), model.predict(x, verbose=0)
    )


def test_dense_backward_on_an_empty_batch() -> None:
    """A rank's shard of a short last batch can be empty: the step must not fail."""
    model = rnnkit.Sequential(
        [rnnkit.layers.Input((4, 3)), LSTM(5, return_sequences=True), Dense(2)]
    )
    model.compile(optimizer="sgd", loss="mse")
    _, grads = model.compute_gradients(np.zeros((0, 4, 3), np.float32),
                                       np.zeros((0, 4, 2), np.float32))
    assert [g.shape for g in grads] == [w.shape for w in model.trainable_weights]
