"""rnnkit.metrics against Keras's published examples, a plain NumPy count and, when installed,
Keras 3's metrics over several weighted and masked batches."""

from __future__ import annotations

import numpy as np
import pytest
from rnnkit import losses, metrics

from conftest import require, require_keras_on_torch

B, T, K = 4, 5, 3

DOCUMENTED = [
    (metrics.BinaryAccuracy(), [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], None, 0.75),
    (metrics.BinaryAccuracy(), [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], [1, 0, 0, 1], 0.5),
    (
        metrics.CategoricalAccuracy(),
        [[0, 0, 1], [0, 1, 0]],
        [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
        [0.7, 0.3],
        0.3,
    ),
    (
        metrics.SparseCategoricalAccuracy(),
        [[2], [1]],
        [[0.1, 0.6, 0.3], [0.05, 0.95, 0]],
        None,
        0.5,
    ),
    (
        metrics.SparseCategoricalAccuracy(),
        [[2], [1]],
        [[0.1, 0.6, 0.3], [0.05, 0.95, 0]],
        [0.7, 0.3],
        0.3,
    ),
    (metrics.MeanSquaredError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], None, 0.25),
    (metrics.MeanAbsoluteError(), [[0, 1], [0, 0]], [[1, 1], [0, 0]], None, 0.25),
]


@pytest.mark.parametrize("metric, y_true, y_pred, sample_weight, expected", DOCUMENTED)
def test_keras_documented_values(metric, y_true, y_pred, sample_weight, expected) -> None:
    metric.reset_state()
    metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    assert metric.result() == pytest.approx(expected)


def _batches(kind: str, seed: int = 0):
    """Three batches of (y_true, y_pred (B, T, K'), sample_weight (B,), mask (B, T))."""
    rng = np.random.default_rng(seed)
    for batch_size in (B, 2, B + 1):
        width = 1 if kind == "binary" else K
        y_pred = rng.random((batch_size, T, width))
        if kind == "binary":
            y_true = rng.integers(0, 2, size=(batch_size, T, 1)).astype(float)
        elif kind == "sparse":
            y_true = rng.integers(0, K, size=(batch_size, T))
        elif kind == "one_hot":
            y_true = np.eye(K)[rng.integers(0, K, size=(batch_size, T))]
        else:
            y_true = rng.random((batch_size, T, K))
        weight = rng.uniform(0.1, 2.0, size=batch_size)
        mask = rng.random((batch_size, T)) > 0.3
        yield y_true, y_pred, weight, mask


METRICS = {
    "binary_accuracy": ("binary", metrics.BinaryAccuracy, "BinaryAccuracy"),
    "categorical_accuracy": ("one_hot", metrics.CategoricalAccuracy, "CategoricalAccuracy"),
    "sparse_categorical_accuracy": (
        "sparse",
        metrics.SparseCategoricalAccuracy,
        "SparseCategoricalAccuracy",
    ),
    "mse": ("dense", metrics.MeanSquaredError, "MeanSquaredError"),
    "mae": ("dense", metrics.MeanAbsoluteError, "MeanAbsoluteError"),
}


def _per_element(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """The textbook definitions, (B, T) values."""
    if name == "binary_accuracy":
        return ((y_pred[..., 0] > 0.5) == (y_true[..., 0] == 1)).astype(float)
    if name == "categorical_accuracy":
        return (y_pred.argmax(-1) == y_true.argmax(-1)).astype(float)
    if name == "sparse_categorical_accuracy":
        return (y_pred.argmax(-1) == y_true).astype(float)
    if name == "mse":
        return ((y_pred - y_true) ** 2).mean(-1)
    return np.abs(y_pred - y_true).mean(-1)


@pytest.mark.parametrize("name", METRICS)
def test_weighted_masked_mean_over_batches(name: str) -> None:
    kind, cls, _ = METRICS[name]
    metric = cls()
    # Keras averages per sample: sum_b mean_t(v w) / sum_b mean_t(w), over all batches.
    total = count = 0.0
    for y_true, y_pred, weight, mask in _batches(kind):
        metric.update_state(y_true, y_pred, sample_weight=weight, mask=mask)
        w = weight[:, None] * mask
        total += np.sum(np.mean(_per_element(name, y_true, y_pred) * w, axis=1))
        count += np.sum(np.mean(w, axis=1))
    assert metric.result() == pytest.approx(total / count, rel=1e-12)
    metric.reset_state()
    assert metric.result() == 0.0


@pytest.mark.parametrize("name", METRICS)
def test_matches_keras(name: str) -> None:
    keras = require_keras_on_torch()
    torch = require("torch")
    from keras.src.backend import set_keras_mask

    kind, cls, keras_name = METRICS[name]
    ours, theirs = cls(), getattr(keras.metrics, keras_name)()
    for y_true, y_pred, weight, mask in _batches(kind, seed=7):
        ours.update_state(y_true, y_pred, sample_weight=weight, mask=mask)
        pred = torch.tensor(y_pred)
        set_keras_mask(pred, torch.tensor(mask))
        # Keras combines a (B,) weight with a (B, T) mask only when it is (B, T) already.
        theirs.update_state(
            torch.tensor(y_true), pred, sample_weight=torch.tensor(weight[:, None] * np.ones(T))
        )
    assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5)


def test_masked_steps_are_ignored_whatever_they_hold() -> None:
    rng = np.random.default_rng(3)
    y_pred = rng.random((B, T, K))
    labels = rng.integers(0, K, size=(B, T))
    mask = rng.random((B, T)) > 0.4
    mask[0, 0] = True
    garbage = y_pred.copy()
    garbage[~mask] = np.nan
    metric = metrics.SparseCategoricalAccuracy()
    metric.update_state(labels, garbage, mask=mask)
    assert metric.result() == pytest.approx(np.mean(y_pred.argmax(-1)[mask] == labels[mask]))


def test_mean() -> None:
    mean = metrics.Mean()
    mean.update_state([1.0, 2.0, 3.0])
    mean.update_state(10.0, sample_weight=2.0)
    assert mean.result() == pytest.approx((1 + 2 + 3 + 20) / 5)


@pytest.mark.parametrize(
    "loss, y_true_shape, y_pred_shape, expected",
    [
        ("binary_crossentropy", (B, K), (B, K), metrics.BinaryAccuracy),
        ("sparse_categorical_crossentropy", (B,), (B, K), metrics.SparseCategoricalAccuracy),
        ("categorical_crossentropy", (B, K), (B, K), metrics.CategoricalAccuracy),
        (
            losses.CategoricalCrossentropy(from_logits=True),
            (B, K),
            (B, K),
            metrics.CategoricalAccuracy,
        ),
        ("mse", (B, 1), (B, 1), metrics.BinaryAccuracy),  # Keras 3: from the shapes
        (None, (B, T), (B, T, K), metrics.SparseCategoricalAccuracy),
        (None, (B, 1), (B, K), metrics.SparseCategoricalAccuracy),
        (None, (B, K), (B, K), metrics.CategoricalAccuracy),
    ],
)
def test_accuracy_picks_its_kind(loss, y_true_shape, y_pred_shape, expected) -> None:
    rng = np.random.default_rng(4)
    y_pred = rng.random(y_pred_shape)
    y_true = (
        rng.integers(0, 2, size=y_true_shape).astype(float)
        if expected is not metrics.SparseCategoricalAccuracy
        else rng.integers(0, y_pred_shape[-1], size=y_true_shape)
    )
    metric = metrics.get("accuracy", loss=loss)
    metric.update_state(y_true, y_pred)
    reference = expected()
    reference.update_state(y_true, y_pred)
    assert metric.name == "accuracy"
    assert metric.result() == reference.result()
    assert metrics.get("acc").name == "acc"


def test_binary_accuracy_from_logits_thresholds_at_zero() -> None:
    metric = metrics.get("accuracy", loss=losses.BinaryCrossentropy(from_logits=True))
    metric.update_state([[1.0], [0.0], [1.0]], [[0.3], [-0.2], [-0.1]])
    assert metric.result() == pytest.approx(2 / 3)


def test_get() -> None:
    assert isinstance(metrics.get("mae"), metrics.MeanAbsoluteError)
    assert metrics.get("mae").name == "mae"
    assert metrics.get("mean_squared_error").name == "mean_squared_error"
    assert metrics.get("CategoricalAccuracy").name == "categorical_accuracy"
    assert metrics.get(metrics.sparse_categorical_accuracy).name == "sparse_categorical_accuracy"
    instance = metrics.BinaryAccuracy(threshold=0.3)
    assert metrics.get(instance) is instance

    def max_error(y_true, y_pred):
        return np.max(np.abs(np.asarray(y_true) - y_pred), axis=-1)

    custom = metrics.get(max_error)
    custom.update_state([[0.0, 1.0]], np.array([[0.5, 0.0]]))
    assert custom.name == "max_error" and custom.result() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown metric 'acuracy'.*sparse_categorical_accuracy"):
        metrics.get("acuracy")


def test_bad_shapes_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"y \(sparse labels\) has shape \(4, 2\)"):
        metrics.SparseCategoricalAccuracy().update_state(np.zeros((B, 2)), np.zeros((B, K)))
    with pytest.raises(ValueError, match=r"y \(one-hot targets\) has shape"):
        metrics.CategoricalAccuracy().update_state(np.zeros(B), np.zeros((B, K)))
    with pytest.raises(ValueError, match="mask has shape"):
        metrics.MeanSquaredError().update_state(
            np.zeros((B, T, K)), np.zeros((B, T, K)), mask=np.ones((T, B), bool)
        )
