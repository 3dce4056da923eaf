"""Metrics with Keras 3 names and reduction: stateful means over batches, weighted and masked.

    m = rnnkit.metrics.get("accuracy", loss="sparse_categorical_crossentropy")
    m.update_state(y_true, y_pred, sample_weight=None, mask=None)
    m.result(); m.reset_state(); m.name

A metric computes one value per element of `y_pred.shape[:-1]` (per element of `y_pred` for
binary accuracy), then accumulates Keras's sample-wise mean: each sample contributes the mean of
its weighted values and the mean of its weights, so `result()` is
sum(values * weights) / sum(weights) within a batch, with weights = sample_weight x mask.
Masked elements are ignored entirely. With no data seen, `result()` is 0.0 (Keras's
divide-no-NaN).

"accuracy" (or "acc") picks binary, sparse categorical or categorical accuracy: from the loss
when `get` is given a crossentropy loss (a sigmoid-logits loss thresholds at 0 instead of 0.5),
otherwise from the shapes of the first batch, Keras 3's rule: binary when y_pred's last axis is
1, sparse when y_true has fewer axes than y_pred (or a last axis of 1 against several classes),
else categorical.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import numpy as np

from rnnkit import losses as losses_module

__all__ = [
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "Mean",
    "MeanAbsoluteError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "Metric",
    "SparseCategoricalAccuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "mae",
    "mean_absolute_error",
    "mean_squared_error",
    "mse",
    "sparse_categorical_accuracy",
]


# ---------------------------------------------------------------------------------------------
# Per-element metric functions (unreduced, like keras.metrics.binary_accuracy)
# ---------------------------------------------------------------------------------------------


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """1.0 where (y_pred > threshold) equals y_true, else 0.0; shape of y_pred."""
    y_pred = losses_module._as_float_pred(y_pred)
    y_true = losses_module._align_dense(y_true, y_pred)
    out: np.ndarray = (y_true == (y_pred > threshold)).astype(np.float32)
    return out


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1.0 where argmax(y_true) == argmax(y_pred) over the last axis; shape y_pred.shape[:-1]."""
    y_pred = losses_module._as_float_pred(y_pred)
    y_true = np.asarray(y_true)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y (one-hot targets) has shape {y_true.shape}, expected {y_pred.shape} (the shape "
            f"of y_pred); for integer labels use sparse_categorical_accuracy"
        )
    out: np.ndarray = (y_true.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(np.float32)
    return out


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1.0 where the label equals argmax(y_pred) over the last axis; shape y_pred.shape[:-1].

    Labels outside [0, K) are never correct (no error: a metric only counts).
    """
    y_pred = losses_module._as_float_pred(y_pred)
    y_true = np.asarray(y_true)
    element_shape = y_pred.shape[:-1]
    if y_true.shape == element_shape + (1,):
        y_true = y_true.reshape(element_shape)
    if y_true.shape != element_shape:
        raise ValueError(
            f"y (sparse labels) has shape {y_true.shape}, expected {element_shape} or "
            f"{element_shape + (1,)} (y_pred.shape[:-1] for y_pred of shape {y_pred.shape})"
        )
    out: np.ndarray = (y_true == np.argmax(y_pred, axis=-1)).astype(np.float32)
    return out


mean_squared_error = mse = losses_module.mean_squared_error
mean_absolute_error = mae = losses_module.mean_absolute_error


# ---------------------------------------------------------------------------------------------
# Metric classes
# ---------------------------------------------------------------------------------------------


class Metric:
    """Base class: `update_state`, `result`, `reset_state`, a `name`, and a `direction`
    ("up": larger is better, "down": smaller is better) that callbacks use for mode="auto".
    """

    direction = "down"

    def __init__(self, name: str | None = None) -> None:
        self.name = name or losses_module._snake_case(type(self).__name__)
        self.reset_state()

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        """Accumulate one batch."""
        raise NotImplementedError

    def result(self) -> float:
        """The metric over everything accumulated since the last reset."""
        raise NotImplementedError

    def reset_state(self) -> None:
        """Forget everything accumulated."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        """Rebuild a metric from `get_config()`."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} result={self.result():.6g}>"


class Mean(Metric):
    """The (weighted) mean of the values given to `update_state(values, sample_weight)`.

    Values of shape (B, ...) count per sample: each sample contributes the mean of its weighted
    values and the mean of its weights (Keras's reduction), scalars count once.
    """

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values: Any, sample_weight: Any = None, mask: Any = None) -> None:
        """Accumulate `values` with optional weights and mask (prefixes of values' shape)."""
        values = np.asarray(values, dtype=np.float64)
        per_sample = float(np.prod(values.shape[1:])) if values.ndim > 1 else 1.0
        if sample_weight is None and mask is None:  # every weight 1: the sums below, directly
            self.total += float(values.sum()) / per_sample
            self.count += float(values.size) / per_sample
            return
        weights, keep = losses_module._element_weights(
            values.shape, sample_weight, mask, np.dtype(np.float64)
        )
        if weights is None:
            weights = np.ones(values.shape)
        if keep is not None:
            weights = np.where(keep, weights, 0.0)
            values = np.where(keep, values, 0.0)
        self.total += float(np.sum(values * weights)) / per_sample
        self.count += float(np.sum(weights)) / per_sample

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The mean of `fn(y_true, y_pred, **kwargs)`, per-element values, over all batches."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        direction: str = "down",
        **kwargs: Any,
    ) -> None:
        self._fn = fn
        self._fn_kwargs = kwargs
        self.direction = direction
        super().__init__(name or getattr(fn, "__name__", "mean_metric_wrapper"))

    def update_state(  # type: ignore[override]  # Keras's (y_true, y_pred) form, by design
        self, y_true: Any, y_pred: Any, sample_weight: Any = None, mask: Any = None
    ) -> None:
        """Accumulate one batch; `mask` (e.g. (B, T)) drops elements like a zero weight."""
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight, mask)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self._fn_kwargs}


class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) equals the 0/1 label."""

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5) -> None:
        super().__init__(binary_accuracy, name, "up", threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals argmax of the one-hot y_true."""

    def __init__(self, name: str = "categorical_accuracy") -> None:
        super().__init__(categorical_accuracy, name, "up")


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals the integer label."""

    def __init__(self, name: str = "sparse_categorical_accuracy") -> None:
        super().__init__(sparse_categorical_accuracy, name, "up")


class MeanSquaredError(MeanMetricWrapper):
    """The mean of mean((y_pred - y_true)**2) over the last axis."""

    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(mean_squared_error, name, "down")


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean of mean(|y_pred - y_true|) over the last axis."""

    def __init__(self, name: str = "mean_absolute_error") -> None:
        super().__init__(mean_absolute_error, name, "down")


class _InferredAccuracy(Metric):
    """ "accuracy" whose kind Keras 3 infers from the first batch's shapes."""

    direction = "up"

    def reset_state(self) -> None:
        if getattr(self, "_chosen", None) is not None:
            self._chosen.reset_state()

    def update_state(
        self, y_true: Any, y_pred: Any, sample_weight: Any = None, mask: Any = None
    ) -> None:
        if getattr(self, "_chosen", None) is None:
            self._chosen = _accuracy_for_shapes(np.shape(y_true), np.shape(y_pred), self.name)
        self._chosen.update_state(y_true, y_pred, sample_weight, mask)

    def result(self) -> float:
        chosen = getattr(self, "_chosen", None)
        return 0.0 if chosen is None else chosen.result()


def _accuracy_for_shapes(
    true_shape: tuple[int, ...], pred_shape: tuple[int, ...], name: str
) -> Metric:
    """Keras 3's compile_utils.is_binary_or_sparse_categorical."""
    if pred_shape[-1:] == (1,):
        return BinaryAccuracy(name)
    if len(true_shape) < len(pred_shape) or (true_shape[-1:] == (1,) and pred_shape[-1:] != (1,)):
        return SparseCategoricalAccuracy(name)
    return CategoricalAccuracy(name)


def _accuracy_for_loss(loss: Any, name: str) -> Metric:
    if loss is None:
        return _InferredAccuracy(name)
    loss = losses_module.get(loss)
    if isinstance(loss, losses_module.BinaryCrossentropy):
        return BinaryAccuracy(name, threshold=0.0 if loss.from_logits else 0.5)
    if isinstance(loss, losses_module.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy(name)
    if isinstance(loss, losses_module.CategoricalCrossentropy):
        return CategoricalAccuracy(name)
    return _InferredAccuracy(name)


_NAMES: dict[str, Callable[[str], Metric]] = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
}
_CLASSES: dict[str, type[Metric]] = {
    cls.__name__: cls
    for cls in (
        BinaryAccuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        MeanSquaredError,
        MeanAbsoluteError,
        Mean,
    )
}
_FUNCTIONS: dict[Callable[..., Any], Callable[[str], Metric]] = {
    binary_accuracy: BinaryAccuracy,
    categorical_accuracy: CategoricalAccuracy,
    sparse_categorical_accuracy: SparseCategoricalAccuracy,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
}

MetricLike = Union[str, Metric, Callable[..., Any]]


def get(identifier: MetricLike, loss: Any = None) -> Metric:
    """A fresh Metric from a name, a Metric instance (returned as is) or a function.

    Args:
        identifier: "accuracy"/"acc", "binary_accuracy", "categorical_accuracy",
            "sparse_categorical_accuracy", "mae"/"mean_absolute_error", "mse"/"mean_squared_error",
            a class name ("BinaryAccuracy", ...), a Metric, or a callable
            fn(y_true, y_pred) -> per-element values (averaged like Keras's MeanMetricWrapper).
        loss: the compiled loss (name or Loss), which decides what "accuracy" means.

    A metric given by a string is named by that string, as Keras names it in `History`.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier in ("accuracy", "acc"):
            return _accuracy_for_loss(loss, identifier)
        factory = _NAMES.get(identifier) or _CLASSES.get(identifier)
        if factory is None:
            valid = ", ".join(["acc", "accuracy", *sorted(_NAMES), *sorted(_CLASSES)])
            raise ValueError(f"unknown metric {identifier!r}; valid names: {valid}")
        return factory(identifier) if identifier in _NAMES else factory()  # type: ignore[call-arg]  # classes take no argument
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier](identifier.__name__)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(
        f"metric must be a string, a Metric or a callable, got {type(identifier).__name__}"
    )
