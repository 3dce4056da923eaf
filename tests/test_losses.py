"""rnnkit.losses against central finite differences, Keras's published examples and, when
installed, Keras 3 itself (values, and gradients by torch autograd through the Keras loss)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from rnnkit import losses

from conftest import require, require_keras_on_torch

B, T, K = 3, 4, 5
RNG_SEED = 1234


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], losses.Loss]
    keras_make: Callable[[Any], Any]  # keras module -> keras loss
    targets: str  # dense, binary, one_hot, sparse
    predictions: str  # any, probability, distribution, logits


CASES = [
    Case("mse", losses.MeanSquaredError, lambda k: k.losses.MeanSquaredError(), "dense", "any"),
    Case("mae", losses.MeanAbsoluteError, lambda k: k.losses.MeanAbsoluteError(), "dense", "any"),
    Case("huber", lambda: losses.Huber(0.7), lambda k: k.losses.Huber(0.7), "dense", "any"),
    Case(
        "bce",
        losses.BinaryCrossentropy,
        lambda k: k.losses.BinaryCrossentropy(),
        "binary",
        "probability",
    ),
    Case(
        "bce_logits_smoothed",
        lambda: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        lambda k: k.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        "binary",
        "logits",
    ),
    Case(
        "cce",
        losses.CategoricalCrossentropy,
        lambda k: k.losses.CategoricalCrossentropy(),
        "one_hot",
        "distribution",
    ),
    Case(
        "cce_logits_smoothed",
        lambda: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
        lambda k: k.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
        "one_hot",
        "logits",
    ),
    Case(
        "scce",
        losses.SparseCategoricalCrossentropy,
        lambda k: k.losses.SparseCategoricalCrossentropy(),
        "sparse",
        "distribution",
    ),
    Case(
        "scce_logits",
        lambda: losses.SparseCategoricalCrossentropy(from_logits=True),
        lambda k: k.losses.SparseCategoricalCrossentropy(from_logits=True),
        "sparse",
        "logits",
    ),
]
SHAPES = {"flat": (B, K), "sequence": (B, T, K)}


def make_data(case: Case, shape: tuple[int, ...], seed: int = RNG_SEED):
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=shape)
    if case.predictions == "probability":
        y_pred = _sigmoid(raw)
    elif case.predictions == "distribution":
        y_pred = _softmax(raw)
    else:
        y_pred = raw
    if case.targets == "dense":
        y_true = rng.normal(size=shape)
    elif case.targets == "binary":
        y_true = rng.integers(0, 2, size=shape).astype(np.float64)
    elif case.targets == "one_hot":
        y_true = np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]
    else:
        y_true = rng.integers(0, shape[-1], size=shape[:-1])
    sample_weight = rng.uniform(0.2, 2.0, size=shape[0])
    mask = rng.random(shape[:-1]) > 0.3 if len(shape) == 3 else None
    return y_true, y_pred, sample_weight, mask


def central_difference(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        grad[index] = (f(plus) - f(minus)) / (2 * h)
    return grad


@pytest.mark.parametrize("shape_name", SHAPES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_gradient_matches_finite_differences(case: Case, shape_name: str) -> None:
    y_true, y_pred, sample_weight, mask = make_data(case, SHAPES[shape_name])
    loss = case.make()
    value, grad = loss.value_and_grad(y_true, y_pred, sample_weight, mask)
    assert grad.shape == y_pred.shape and grad.dtype == np.float64

    def f(p: np.ndarray) -> float:
        return loss.value_and_grad(y_true, p, sample_weight, mask)[0]

    assert value == pytest.approx(f(y_pred))
    np.testing.assert_allclose(grad, central_difference(f, y_pred), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("shape_name", SHAPES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_matches_keras(case: Case, shape_name: str) -> None:
    keras = require_keras_on_torch()
    torch = require("torch")
    from keras.src.backend import set_keras_mask

    y_true, y_pred, sample_weight, mask = make_data(case, SHAPES[shape_name])
    # Keras broadcasts a (B,) weight against a (B, T) mask only when it is (B, T) already.
    keras_weight = np.broadcast_to(
        sample_weight.reshape((-1,) + (1,) * (y_pred.ndim - 2)), y_pred.shape[:-1]
    ).copy()
    pred = torch.tensor(y_pred, requires_grad=True)
    if mask is not None:
        set_keras_mask(pred, torch.tensor(mask))
    keras_value = case.keras_make(keras)(
        torch.tensor(y_true), pred, sample_weight=torch.tensor(keras_weight)
    )
    keras_value.backward()

    value, grad = case.make().value_and_grad(y_true, y_pred, sample_weight, mask)
    assert value == pytest.approx(float(keras_value.detach()), rel=1e-6)
    np.testing.assert_allclose(grad, pred.grad.numpy(), rtol=1e-5, atol=1e-7)


# Keras's docstring examples: published values, independent of a Keras install.
DOCUMENTED = [
    (losses.MeanSquaredError(), [1.0, 0.0, 1.0], [0.9, 0.1, 0.8], None, 0.02),
    (losses.MeanAbsoluteError(), [1.0, 0.3, 1.0], [1.9, 0.3, 1.8], None, 0.5667),
    (
        losses.BinaryCrossentropy(from_logits=True),
        [[0, 1], [0, 0]],
        [[-18.6, 0.51], [2.94, -12.8]],
        None,
        0.8654,
    ),
    (
        losses.BinaryCrossentropy(from_logits=True),
        [[0, 1], [0, 0]],
        [[-18.6, 0.51], [2.94, -12.8]],
        [0.8, 0.2],
        0.243,
    ),
    (
        losses.BinaryCrossentropy(from_logits=True, reduction="sum"),
        [[0, 1], [0, 0]],
        [[-18.6, 0.51], [2.94, -12.8]],
        None,
        1.730,
    ),
    (
        losses.CategoricalCrossentropy(),
        [[0, 1, 0], [0, 0, 1]],
        [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
        None,
        1.177,
    ),
    (
        losses.CategoricalCrossentropy(),
        [[0, 1, 0], [0, 0, 1]],
        [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
        [0.3, 0.7],
        0.814,
    ),
    (
        losses.SparseCategoricalCrossentropy(),
        [1, 2],
        [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
        [0.3, 0.7],
        0.814,
    ),
]


@pytest.mark.parametrize("loss, y_true, y_pred, sample_weight, expected", DOCUMENTED)
def test_keras_documented_values(loss, y_true, y_pred, sample_weight, expected) -> None:
    assert loss(y_true, y_pred, sample_weight) == pytest.approx(expected, abs=1e-3)


def test_per_element_functions() -> None:
    y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
    y_pred = np.array([[1.0, 1.0], [1.0, 0.0]])
    np.testing.assert_allclose(losses.mse(y_true, y_pred), [0.5, 0.5])
    np.testing.assert_allclose(losses.mean_absolute_error(y_true, y_pred), [0.5, 0.5])
    np.testing.assert_allclose(
        losses.categorical_crossentropy([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]),
        [0.0513, 2.303],
        atol=1e-3,
    )
    x = np.full((B, T, K), 1.0 / K)
    scce = losses.sparse_categorical_crossentropy(np.zeros((B, T), int), x)
    np.testing.assert_allclose(scce, np.full((B, T), np.log(K)))
    assert losses.huber(x, x).shape == (B, T)


def test_masked_elements_contribute_nothing() -> None:
    rng = np.random.default_rng(0)
    y_pred = rng.normal(size=(B, T, K))
    labels = rng.integers(0, K, size=(B, T))
    mask = np.ones((B, T), bool)
    mask[0, 2:] = False
    mask[2, 0] = False
    garbage = y_pred.copy()
    garbage[~mask] = np.nan
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    value, grad = loss.value_and_grad(labels, garbage, mask=mask)
    kept_value, kept_grad = loss.value_and_grad(labels[mask], y_pred[mask])
    assert value == pytest.approx(kept_value, rel=1e-12)
    np.testing.assert_allclose(grad[mask], kept_grad, rtol=1e-12)
    assert np.all(grad[~mask] == 0)
    nothing_value, nothing_grad = loss.value_and_grad(labels, y_pred, mask=np.zeros((B, T), bool))
    assert nothing_value == 0.0 and not nothing_grad.any()


def test_ignore_class_is_a_mask() -> None:
    rng = np.random.default_rng(1)
    y_pred = rng.normal(size=(B, T, K))
    labels = rng.integers(0, K, size=(B, T))
    ignored = labels.copy()
    ignored[1, :2] = -1
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    plain = losses.SparseCategoricalCrossentropy(from_logits=True)
    value, grad = loss.value_and_grad(ignored, y_pred)
    expected_value, expected_grad = plain.value_and_grad(labels, y_pred, mask=ignored != -1)
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)


def test_logits_are_stable() -> None:
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0]], dtype=np.float32)
    value, grad = losses.SparseCategoricalCrossentropy(from_logits=True).value_and_grad(
        [0, 0], logits
    )
    assert value == pytest.approx(1e4 / 2)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[0, 0, 0], [-0.5, 0.5, 0]], atol=1e-7)
    bce_value, bce_grad = losses.BinaryCrossentropy(from_logits=True).value_and_grad(
        [[1.0], [0.0]], np.array([[-1e4], [-1e4]], np.float32)
    )
    assert bce_value == pytest.approx(1e4 / 2) and np.all(np.isfinite(bce_grad))


def test_probabilities_are_clipped_like_keras() -> None:
    value, grad = losses.SparseCategoricalCrossentropy().value_and_grad([0], [[0.0, 1.0]])
    assert value == pytest.approx(-np.log(1e-7), rel=1e-6)
    assert not grad.any()  # the clip is active: Keras's gradient is zero there too
    bce_value, _ = losses.BinaryCrossentropy().value_and_grad([[1.0]], [[0.0]])
    assert bce_value == pytest.approx(-np.log(1e-7), rel=1e-6)


@pytest.mark.parametrize("sparse", [True, False])
def test_fused_softmax_head_is_the_chain_rule(sparse: bool) -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(B, T, K))
    labels = rng.integers(0, K, size=(B, T))
    y_true = labels if sparse else np.eye(K)[labels]
    weight, mask = rng.uniform(0.5, 1.5, size=B), rng.random((B, T)) > 0.2
    value, dlogits = losses.softmax_cross_entropy_from_logits(y_true, logits, sparse, weight, mask)
    probability_loss = (
        losses.SparseCategoricalCrossentropy() if sparse else losses.CategoricalCrossentropy()
    )
    p = _softmax(logits)
    p_value, dp = probability_loss.value_and_grad(y_true, p, weight, mask)
    # dL/dz = J_softmax^T dL/dp = p * (dp - sum(p * dp))
    chained = p * (dp - np.sum(p * dp, axis=-1, keepdims=True))
    assert value == pytest.approx(p_value, rel=1e-12)
    np.testing.assert_allclose(dlogits, chained, rtol=1e-9, atol=1e-12)
    fused = probability_loss.value_and_grad_logits(y_true, logits, weight, mask)
    assert fused[0] == value and np.array_equal(fused[1], dlogits)


def test_binary_fused_sigmoid_head_is_the_chain_rule() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(B, 2))
    y_true = rng.integers(0, 2, size=(B, 2)).astype(float)
    value, dlogits = losses.BinaryCrossentropy().value_and_grad_logits(y_true, logits)
    p = _sigmoid(logits)
    p_value, dp = losses.BinaryCrossentropy().value_and_grad(y_true, p)
    assert value == pytest.approx(p_value, rel=1e-9)
    np.testing.assert_allclose(dlogits, dp * p * (1 - p), rtol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_keeps_the_prediction_dtype(dtype) -> None:
    y_pred = np.linspace(-1, 1, B * K).reshape(B, K).astype(dtype)
    for loss in (losses.MeanSquaredError(), losses.CategoricalCrossentropy(from_logits=True)):
        value, grad = loss.value_and_grad(np.eye(K)[[0, 1, 2]], y_pred)
        assert isinstance(value, float) and grad.dtype == dtype


def test_label_shapes_accepted() -> None:
    y_pred = np.array([[0.2], [0.7], [0.9]])
    loss = losses.MeanSquaredError()
    flat = loss([1.0, 0.0, 1.0], y_pred)
    assert flat == pytest.approx(loss([[1.0], [0.0], [1.0]], y_pred))
    assert flat == pytest.approx((0.8**2 + 0.7**2 + 0.1**2) / 3)
    logits = np.zeros((B, T, K))
    scce = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert scce(np.zeros((B, T, 1), int), logits) == pytest.approx(np.log(K))
    assert scce(np.zeros((B, T), np.float32), logits) == pytest.approx(np.log(K))


def test_empty_batch() -> None:
    value, grad = losses.MeanSquaredError().value_and_grad(np.zeros((0, 3)), np.zeros((0, 3)))
    assert value == 0.0 and grad.shape == (0, 3)


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 5, 1], r"\[0, 4\].*got label 5"),
        ([0, -1, 1], r"\[0, 4\].*got label -1"),
        ([0.0, 1.5, 1.0], "integer class indices"),
        ([[0, 1, 1]], r"y \(sparse labels\) has shape \(1, 3\), expected \(3,\)"),
    ],
)
def test_bad_sparse_labels(labels, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        losses.SparseCategoricalCrossentropy().value_and_grad(labels, np.full((3, 5), 0.2))


def test_bad_shapes_name_the_argument() -> None:
    y_pred = np.zeros((B, T, K))
    with pytest.raises(ValueError, match=r"y \(y_true\) has shape \(3, 4, 2\), expected"):
        losses.MeanSquaredError().value_and_grad(np.zeros((B, T, 2)), y_pred)
    with pytest.raises(ValueError, match=r"one-hot targets\) has shape \(3, 4\)"):
        losses.CategoricalCrossentropy().value_and_grad(np.zeros((B, T)), y_pred)
    with pytest.raises(ValueError, match="sample_weight has shape"):
        losses.MeanSquaredError().value_and_grad(y_pred, y_pred, sample_weight=np.ones(B + 1))
    with pytest.raises(ValueError, match="mask has shape"):
        losses.MeanSquaredError().value_and_grad(y_pred, y_pred, mask=np.ones((B, T + 1), bool))
    with pytest.raises(ValueError, match="reduction must be one of"):
        losses.MeanSquaredError(reduction="none")
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=1.5)


def test_get() -> None:
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("mean_squared_error"), losses.MeanSquaredError)
    assert isinstance(losses.get("MAE"), losses.MeanAbsoluteError)
    assert isinstance(losses.get("Huber"), losses.Huber)
    assert isinstance(
        losses.get("sparse_categorical_crossentropy"), losses.SparseCategoricalCrossentropy
    )
    assert isinstance(losses.get(losses.binary_crossentropy), losses.BinaryCrossentropy)
    instance = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(instance) is instance
    with pytest.raises(ValueError, match="unknown loss 'msee'.*mean_squared_error"):
        losses.get("msee")
    with pytest.raises(TypeError, match="subclass rnnkit.losses.Loss"):
        losses.get(lambda y_true, y_pred: (y_true - y_pred) ** 2)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_serialize_round_trip(case: Case) -> None:
    loss = case.make()
    again = losses.get(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    y_true, y_pred, weight, _ = make_data(case, SHAPES["sequence"])
    assert again(y_true, y_pred, weight) == loss(y_true, y_pred, weight)


def test_keras_config_dicts_load() -> None:
    """The dicts keras.losses.serialize writes (Keras 3.15)."""
    bce = losses.get(
        {
            "module": "keras.losses",
            "class_name": "BinaryCrossentropy",
            "config": {
                "name": "binary_crossentropy",
                "reduction": "sum_over_batch_size",
                "from_logits": False,
                "label_smoothing": 0.0,
                "axis": -1,
            },
            "registered_name": None,
        }
    )
    assert isinstance(bce, losses.BinaryCrossentropy) and not bce.from_logits
    scce = losses.get(
        {
            "class_name": "SparseCategoricalCrossentropy",
            "config": {
                "name": "sparse_categorical_crossentropy",
                "reduction": "sum_over_batch_size",
                "from_logits": True,
                "ignore_class": None,
            },
        }
    )
    assert scce.from_logits
    with pytest.raises(ValueError, match="axis=1 is not supported"):
        losses.CategoricalCrossentropy(axis=1)


def test_fused_softmax_crossentropy_cpp_matches_the_numpy_formulas(monkeypatch) -> None:
    """float32 logits take one C++ pass; it must agree with the NumPy path (forced here) to
    float32 round-off, for one-hot and soft targets, large logits, and a NaN row."""
    from rnnkit import _core
    from rnnkit import losses as L

    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((7, 5, 11)) * 4).astype(np.float32)
    logits[0, 0] = [80.0] + [-80.0] * 10  # saturated
    logits[1, 2, 3] = np.nan
    target = rng.dirichlet(np.ones(11), size=(7, 5)).astype(np.float32)
    target[2] = np.eye(11, dtype=np.float32)[rng.integers(0, 11, 5)]  # one-hot rows
    fast = L._categorical_ce(target, logits, True)
    monkeypatch.setattr(_core, "_softmax_xent", lambda *args: False)
    slow = L._categorical_ce(target, logits, True)
    for a, b in zip(fast, slow):
        assert a.dtype == np.float32 and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)  # NaN where NaN
    assert np.isnan(fast[0][1, 2]) and np.isnan(fast[1][1, 2]).all()
    assert np.isfinite(np.delete(fast[1].reshape(35, 11), 7, axis=0)).all()
    monkeypatch.undo()
    out = np.empty(2, np.float32), np.empty((2, 3), np.float32)
    assert not _core._softmax_xent(np.zeros((2, 3)), np.zeros((2, 3), np.float32), *out)
    assert not _core._softmax_xent(np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32), *out)


def test_categorical_crossentropy_logits_fast_path_equals_the_general_path() -> None:
    """The training step's shortcut (float32 logits, float targets, no weights) must give the
    general path's value and gradient bit for bit."""

    class General(losses.CategoricalCrossentropy):  # a subclass skips the shortcut
        pass

    rng = np.random.default_rng(1)
    logits = rng.standard_normal((9, 4, 13)).astype(np.float32)
    for target in (
        np.eye(13, dtype=np.float32)[rng.integers(0, 13, (9, 4))],
        rng.dirichlet(np.ones(13), size=(9, 4)),  # float64 soft targets
    ):
        fast = losses.CategoricalCrossentropy().value_and_grad_logits(target, logits)
        slow = General().value_and_grad_logits(target, logits)
        assert fast[0] == slow[0]
        np.testing.assert_array_equal(fast[1], slow[1])
        assert fast[1].dtype == np.float32 and fast[1].shape == logits.shape
