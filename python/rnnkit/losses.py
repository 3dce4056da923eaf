"""Losses with Keras 3 names, formulas and reduction, each with its exact gradient.

A loss maps `y_pred` (B, ..., K) to one loss per element of `y_pred.shape[:-1]` (the last axis
is averaged for mse/mae/huber/binary crossentropy and summed for crossentropy, as in Keras), then
reduces them Keras's way (`"sum_over_batch_size"`): the weighted sum divided by the number of
unmasked elements. `value_and_grad` returns that value and its gradient with respect to
`y_pred`, which is what `Model.fit` back-propagates (docs/internals-training.md).

    loss = rnnkit.losses.get("sparse_categorical_crossentropy")
    value, grad = loss.value_and_grad(y_true, y_pred, sample_weight=None, mask=None)

Functions (`mean_squared_error`, `mse`, ...) return the unreduced per-element losses, like
`keras.losses.mean_squared_error`. Probabilities are clipped to [1e-7, 1 - 1e-7] like Keras
(the gradient is zero where the clip is active); `from_logits=True` uses the stable
log-sum-exp / softplus forms. Rank-1 `y_pred` (B,) counts each entry as one element.

NaN or Inf in `y_pred` propagate into the value and gradient (never an exception); values at
masked elements are ignored entirely, whatever they are.
"""

from __future__ import annotations

from typing import Any, Callable, Union

import numpy as np

from rnnkit import _core

EPSILON = 1e-7  # Keras's backend.epsilon(): the clip of probabilities
REDUCTIONS = ("sum_over_batch_size", "mean", "sum")

__all__ = [
    "EPSILON",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Huber",
    "Loss",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "deserialize",
    "get",
    "huber",
    "mae",
    "mean_absolute_error",
    "mean_squared_error",
    "mse",
    "serialize",
    "softmax_cross_entropy_from_logits",
    "sparse_categorical_crossentropy",
]


# ---------------------------------------------------------------------------------------------
# Input checks and alignment
# ---------------------------------------------------------------------------------------------


def _as_float_pred(y_pred: Any) -> np.ndarray:
    """y_pred as a float array (float32 unless it already is float64)."""
    y_pred = np.asarray(y_pred)
    if y_pred.dtype.kind not in "fiub":
        raise TypeError(f"y_pred must be a numeric array, got dtype {y_pred.dtype}")
    if y_pred.ndim == 0:
        raise ValueError("y_pred must have at least one axis (the batch), got a scalar")
    if y_pred.dtype.kind != "f":
        y_pred = y_pred.astype(np.float32)
    out: np.ndarray = y_pred
    return out


def _align_dense(y_true: Any, y_pred: np.ndarray) -> np.ndarray:
    """y_true reshaped to y_pred's shape: equal, or differing by a trailing axis of size 1."""
    y_true = np.asarray(y_true)
    if y_true.dtype.kind not in "fiub":
        raise TypeError(f"y (y_true) must be a numeric array, got dtype {y_true.dtype}")
    shape = y_pred.shape
    if y_true.shape != shape:
        trailing_one = (y_true.shape + (1,) == shape) or (y_true.shape == shape + (1,))
        if not trailing_one:
            raise ValueError(
                f"y (y_true) has shape {y_true.shape}, expected {shape} (the shape of y_pred)"
            )
        y_true = y_true.reshape(shape)
    out: np.ndarray = y_true.astype(y_pred.dtype, copy=False)
    return out


def _sparse_labels(y_true: Any, y_pred: np.ndarray, ignore_class: int | None) -> np.ndarray:
    """Integer labels of shape y_pred.shape[:-1], checked to lie in [0, K)."""
    y_true = np.asarray(y_true)
    element_shape = y_pred.shape[:-1]
    num_classes = y_pred.shape[-1]
    if y_true.shape != element_shape:
        if y_true.shape != element_shape + (1,):
            raise ValueError(
                f"y (sparse labels) has shape {y_true.shape}, expected {element_shape} or "
                f"{element_shape + (1,)} (y_pred.shape[:-1] = class indices for y_pred of "
                f"shape {y_pred.shape})"
            )
        y_true = y_true.reshape(element_shape)
    if y_true.dtype.kind == "f":
        if not np.all(np.isfinite(y_true)) or np.any(y_true != np.round(y_true)):
            raise ValueError("y (sparse labels) must hold integer class indices, got non-integers")
    elif y_true.dtype.kind not in "iub":
        raise TypeError(f"y (sparse labels) must be integers, got dtype {y_true.dtype}")
    labels = y_true.astype(np.int64)
    checked = labels if ignore_class is None else labels[labels != ignore_class]
    if checked.size and (checked.min() < 0 or checked.max() >= num_classes):
        bad = checked[(checked < 0) | (checked >= num_classes)][0]
        raise ValueError(
            f"y (sparse labels) must lie in [0, {num_classes - 1}] for y_pred with "
            f"{num_classes} classes, got label {bad}"
        )
    out: np.ndarray = labels
    return out


def _element_weights(
    element_shape: tuple[int, ...],
    sample_weight: Any,
    mask: Any,
    dtype: np.dtype,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(weights, keep): sample weights broadcast to element_shape and the unmasked elements.

    Weights of shape (B,), (B, T) or any prefix of element_shape broadcast over the axes they
    lack (a trailing axis of size 1 is dropped, as Keras squeezes it); the mask likewise.
    """
    weights = None
    if sample_weight is not None:
        weights = _broadcast_prefix(np.asarray(sample_weight), element_shape, "sample_weight")
        if weights.dtype.kind not in "fiub":
            raise TypeError(f"sample_weight must be numeric, got dtype {weights.dtype}")
        weights = weights.astype(dtype, copy=False)
    keep = None
    if mask is not None:
        keep = _broadcast_prefix(np.asarray(mask), element_shape, "mask").astype(bool, copy=False)
    return weights, keep


def _broadcast_prefix(array: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    if array.ndim == len(shape) + 1 and array.shape[-1] == 1:
        array = array.reshape(array.shape[:-1])
    if array.ndim > len(shape) or array.shape != shape[: array.ndim]:
        raise ValueError(
            f"{name} has shape {array.shape}, expected a prefix of {shape} "
            f"(y_pred.shape[:-1], e.g. (B,) or (B, T))"
        )
    return np.broadcast_to(array.reshape(array.shape + (1,) * (len(shape) - array.ndim)), shape)


def _reduce(
    element_losses: np.ndarray,
    weights: np.ndarray | None,
    keep: np.ndarray | None,
    reduction: str,
) -> tuple[float, np.ndarray]:
    """Keras's reduction of per-element losses: (value, d value / d element_losses)."""
    dtype = element_losses.dtype
    scale = np.ones(element_losses.shape, dtype) if weights is None else weights.astype(dtype)
    if keep is not None:
        scale = np.where(keep, scale, dtype.type(0))
        element_losses = np.where(keep, element_losses, dtype.type(0))
    if reduction == "sum":
        divisor = 1.0
    elif keep is not None:
        divisor = float(np.count_nonzero(keep))  # Keras: divide_no_nan(total, valid)
    else:
        divisor = float(element_losses.size)
    if divisor == 0.0:
        return 0.0, np.zeros(element_losses.shape, dtype)
    total = float(np.sum(element_losses.astype(np.float64) * scale))
    return total / divisor, (scale / dtype.type(divisor)).astype(dtype, copy=False)


# ---------------------------------------------------------------------------------------------
# Per-element losses and their gradients. Each returns (losses E, d losses / d y_pred) where
# E = y_pred.shape[:-1] and the gradient has y_pred's shape: every element's loss depends on its
# own last-axis slice only, so the "Jacobian" is that slice-wise derivative.
# ---------------------------------------------------------------------------------------------


def _mse(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diff = y_pred - y_true
    k = y_pred.dtype.type(y_pred.shape[-1])
    return np.mean(np.square(diff), axis=-1), (2 * diff) / k


def _mae(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    diff = y_pred - y_true
    k = y_pred.dtype.type(y_pred.shape[-1])
    return np.mean(np.abs(diff), axis=-1), np.sign(diff) / k


def _huber(y_true: np.ndarray, y_pred: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    dtype = y_pred.dtype.type
    delta = dtype(delta)
    error = y_pred - y_true
    abs_error = np.abs(error)
    quadratic = abs_error <= delta
    half = dtype(0.5)
    losses = np.where(quadratic, half * np.square(error), delta * abs_error - half * delta * delta)
    grad = np.where(quadratic, error, delta * np.sign(error))
    return np.mean(losses, axis=-1), grad / dtype(y_pred.shape[-1])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function."""
    e = np.exp(-np.abs(x))
    out: np.ndarray = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return out


def _binary_ce(
    y_true: np.ndarray, y_pred: np.ndarray, from_logits: bool
) -> tuple[np.ndarray, np.ndarray]:
    dtype = y_pred.dtype.type
    k = dtype(y_pred.shape[-1])
    if from_logits:
        # softplus form: max(x, 0) - x t + log(1 + exp(-|x|)), gradient sigmoid(x) - t
        losses = np.maximum(y_pred, 0) - y_pred * y_true + np.log1p(np.exp(-np.abs(y_pred)))
        return np.mean(losses, axis=-1), (_sigmoid(y_pred) - y_true) / k
    eps = dtype(EPSILON)
    clipped = np.clip(y_pred, eps, 1 - eps)
    one = dtype(1)
    losses = -(y_true * np.log(clipped) + (one - y_true) * np.log(one - clipped))
    grad = -(y_true / clipped - (one - y_true) / (one - clipped))
    grad = np.where((y_pred >= eps) & (y_pred <= 1 - eps), grad, dtype(0))
    return np.mean(losses, axis=-1), grad / k


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    # Array methods rather than np.max/np.sum: the same reductions, without the dispatch that
    # costs more than the arithmetic on a small batch.
    shifted = logits - logits.max(axis=-1, keepdims=True)
    out: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out


def _softmax_xent(target: Any, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-row softmax crossentropy of float32 logits (..., C) in one C++ pass: (losses (N,),
    grad (N, C)) over the N = prod(shape[:-1]) rows, or None where that pass does not apply."""
    if logits.dtype != np.float32 or not logits.size:
        return None
    classes = logits.shape[-1]
    flat = np.ascontiguousarray(logits).reshape(-1, classes)
    dist = np.ascontiguousarray(target, np.float32).reshape(-1, classes)
    losses = np.empty(flat.shape[0], np.float32)
    grad = np.empty_like(flat)
    return (losses, grad) if _core._softmax_xent(flat, dist, losses, grad) else None


def _categorical_ce(
    target: np.ndarray, y_pred: np.ndarray, from_logits: bool
) -> tuple[np.ndarray, np.ndarray]:
    """target: a distribution over the last axis (one-hot, or smoothed) of y_pred's shape."""
    dtype = y_pred.dtype.type
    if from_logits:
        fused = _softmax_xent(target, y_pred)
        if fused is not None:
            losses, grad = fused
            return losses.reshape(y_pred.shape[:-1]), grad.reshape(y_pred.shape)
        log_prob = _log_softmax(y_pred)
        losses = -(target * log_prob).sum(axis=-1)
        grad = np.exp(log_prob) * target.sum(axis=-1, keepdims=True) - target
        return losses, grad
    # Keras: renormalise, clip, log. The gradient goes back through all three.
    total = np.sum(y_pred, axis=-1, keepdims=True)
    normalised = y_pred / total
    eps = dtype(EPSILON)
    clipped = np.clip(normalised, eps, 1 - eps)
    losses = -np.sum(target * np.log(clipped), axis=-1)
    grad_normalised = np.where(
        (normalised >= eps) & (normalised <= 1 - eps), -target / clipped, dtype(0)
    )
    inner = np.sum(grad_normalised * normalised, axis=-1, keepdims=True)
    return losses, (grad_normalised - inner) / total


def _one_hot(labels: np.ndarray, num_classes: int, dtype: np.dtype) -> np.ndarray:
    one_hot = np.zeros(labels.shape + (num_classes,), dtype)
    np.put_along_axis(one_hot, labels[..., None], 1, axis=-1)
    return one_hot


def _smooth(y_true: np.ndarray, label_smoothing: float, classes: float) -> np.ndarray:
    if not label_smoothing:
        return y_true
    dtype = y_true.dtype.type
    out: np.ndarray = y_true * dtype(1 - label_smoothing) + dtype(label_smoothing / classes)
    return out


# ---------------------------------------------------------------------------------------------
# Loss classes
# ---------------------------------------------------------------------------------------------


class Loss:
    """Base class: a per-element loss plus Keras's weighted, masked reduction.

    Subclasses implement `elementwise(y_true, y_pred) -> (losses, grad)` where `losses` has
    shape `y_pred.shape[:-1]` and `grad[e, :]` is d losses[e] / d y_pred[e, :]; that is what a
    custom loss must provide to be trainable.
    """

    #: Rank-1 predictions (B,) are B elements of one value each (False: one distribution).
    rank1_as_elements = True

    def __init__(self, name: str | None = None, reduction: str = "sum_over_batch_size") -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"reduction must be one of {', '.join(REDUCTIONS)} (rnnkit trains on a reduced "
                f"loss), got {reduction!r}"
            )
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = reduction

    def elementwise(self, y_true: Any, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-element losses (y_pred.shape[:-1]) and their gradient (y_pred's shape)."""
        raise NotImplementedError(f"{type(self).__name__} must implement elementwise()")

    def value_and_grad(
        self,
        y_true: Any,
        y_pred: Any,
        sample_weight: Any = None,
        mask: Any = None,
    ) -> tuple[float, np.ndarray]:
        """The reduced loss and d loss / d y_pred (same shape and dtype as y_pred).

        Args:
            y_true: targets as the user gave them (sparse CE: integer labels).
            y_pred: predictions (B, ...) as the model produced them.
            sample_weight: (B,), (B, T) or None.
            mask: bool, a prefix of y_pred.shape[:-1] such as (B, T), or None: masked
                elements contribute nothing to the value or the gradient.
        """
        return self._value_and_grad(self.elementwise, y_true, y_pred, sample_weight, mask)

    def _value_and_grad(
        self,
        elementwise: Callable[[Any, np.ndarray], tuple[np.ndarray, np.ndarray]],
        y_true: Any,
        y_pred: Any,
        sample_weight: Any,
        mask: Any,
    ) -> tuple[float, np.ndarray]:
        y_pred = _as_float_pred(y_pred)
        losses, grad = elementwise(y_true, self._as_elements(y_pred))
        if sample_weight is None and mask is None and self.reduction == "sum_over_batch_size":
            # The common case, as _reduce computes it (every element weighs 1/n), without
            # building the weights: a training step's loss is called once per batch.
            if not losses.size:
                return 0.0, np.zeros(y_pred.shape, y_pred.dtype)
            dtype = losses.dtype.type
            value = float(losses.astype(np.float64).sum()) / losses.size
            grad = grad * (dtype(1) / dtype(losses.size))
            return value, grad.astype(y_pred.dtype, copy=False).reshape(y_pred.shape)
        weights, keep = _element_weights(losses.shape, sample_weight, mask, y_pred.dtype)
        value, d_losses = _reduce(losses, weights, keep, self.reduction)
        grad = np.where(d_losses[..., None] != 0, grad * d_losses[..., None], 0)
        return value, grad.astype(y_pred.dtype, copy=False).reshape(y_pred.shape)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        """The reduced loss value, like calling a Keras loss."""
        return self.value_and_grad(y_true, y_pred, sample_weight)[0]

    def per_element(self, y_true: Any, y_pred: Any) -> np.ndarray:
        """The unreduced losses, shape y_pred.shape[:-1] (what Keras's loss functions return)."""
        return self.elementwise(y_true, self._as_elements(_as_float_pred(y_pred)))[0]

    def _as_elements(self, y_pred: np.ndarray) -> np.ndarray:
        if y_pred.ndim == 1 and self.rank1_as_elements:
            return y_pred.reshape(y_pred.shape + (1,))
        return y_pred

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, for `from_config` and model files."""
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """Rebuild a loss from `get_config()`."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)**2) over the last axis."""

    def __init__(
        self, reduction: str = "sum_over_batch_size", name: str = "mean_squared_error"
    ) -> None:
        super().__init__(name, reduction)

    def elementwise(self, y_true: Any, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _mse(_align_dense(y_true, y_pred), y_pred)


class MeanAbsoluteError(Loss):
    """mean(|y_pred - y_true|) over the last axis."""

    def __init__(
        self, reduction: str = "sum_over_batch_size", name: str = "mean_absolute_error"
    ) -> None:
        super().__init__(name, reduction)

    def elementwise(self, y_true: Any, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _mae(_align_dense(y_true, y_pred), y_pred)


class Huber(Loss):
    """0.5 e**2 where |e| <= delta, else delta (|e| - 0.5 delta); mean over the last axis."""

    def __init__(
        self, delta: float = 1.0, reduction: str = "sum_over_batch_size", name: str = "huber_loss"
    ) -> None:
        super().__init__(name, reduction)
        if not delta >= 0:
            raise ValueError(f"delta must be >= 0, got {delta}")
        self.delta = float(delta)

    def elementwise(self, y_true: Any, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _huber(_align_dense(y_true, y_pred), y_pred, self.delta)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "delta": self.delta}


class _LogitsLoss(Loss):
    """A loss whose predictions may be logits; adds the fused logits path for the model."""

    def __init__(
        self, from_logits: bool, label_smoothing: float, reduction: str, name: str
    ) -> None:
        super().__init__(name, reduction)
        if not 0 <= label_smoothing <= 1:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def elementwise_from(
        self, y_true: Any, y_pred: np.ndarray, from_logits: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def elementwise(self, y_true: Any, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.elementwise_from(y_true, y_pred, self.from_logits)

    def value_and_grad_logits(
        self, y_true: Any, logits: Any, sample_weight: Any = None, mask: Any = None
    ) -> tuple[float, np.ndarray]:
        """The loss of activation(logits) and its gradient w.r.t. the logits, fused and stable.

        For a model whose last layer is Dense(softmax) (crossentropy) or Dense(sigmoid)
        (binary crossentropy) and whose loss takes probabilities: the value is computed from
        the logits (no clipping) and the gradient is softmax(logits) - y_true (or
        sigmoid - y_true), weighted and reduced like `value_and_grad`.
        """
        kind = type(self)
        if (
            kind.value_and_grad is Loss.value_and_grad
            and kind.elementwise is _LogitsLoss.elementwise
        ):
            return self._value_and_grad(
                lambda t, p: self.elementwise_from(t, p, True), y_true, logits, sample_weight, mask
            )
        # A subclass with its own value_and_grad or elementwise: call it on a from_logits twin.
        fused = type(self).from_config({**self.get_config(), "from_logits": True})
        return fused.value_and_grad(y_true, logits, sample_weight, mask)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }


def _check_last_axis(axis: int) -> None:
    if axis != -1:
        raise ValueError(f"axis={axis} is not supported: rnnkit losses reduce the last axis (-1)")


class BinaryCrossentropy(_LogitsLoss):
    """-mean(t log p + (1 - t) log(1 - p)) over the last axis; `from_logits` takes logits."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str = "sum_over_batch_size",
        name: str = "binary_crossentropy",
    ) -> None:
        _check_last_axis(axis)
        super().__init__(from_logits, label_smoothing, reduction, name)

    def elementwise_from(
        self, y_true: Any, y_pred: np.ndarray, from_logits: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        target = _smooth(_align_dense(y_true, y_pred), self.label_smoothing, 2.0)
        return _binary_ce(target, y_pred, from_logits)


class CategoricalCrossentropy(_LogitsLoss):
    """-sum(t log p) over the last axis for one-hot (or soft) targets of y_pred's shape."""

    rank1_as_elements = False

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
    ) -> None:
        _check_last_axis(axis)
        super().__init__(from_logits, label_smoothing, reduction, name)

    def elementwise_from(
        self, y_true: Any, y_pred: np.ndarray, from_logits: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        y_true = np.asarray(y_true)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"y (one-hot targets) has shape {y_true.shape}, expected {y_pred.shape} (the "
                f"shape of y_pred); for integer labels use sparse_categorical_crossentropy"
            )
        target = _smooth(_align_dense(y_true, y_pred), self.label_smoothing, y_pred.shape[-1])
        return _categorical_ce(target, y_pred, from_logits)

    def value_and_grad_logits(
        self, y_true: Any, logits: Any, sample_weight: Any = None, mask: Any = None
    ) -> tuple[float, np.ndarray]:
        # A classifier's training step, as the general path computes it but without its layers
        # of calls (they cost more than the arithmetic on a small batch): float32 logits,
        # float targets of the same shape, no weights, mask or smoothing, the default reduction.
        if (
            sample_weight is None
            and mask is None
            and not self.label_smoothing
            and self.reduction == "sum_over_batch_size"
            and type(self) is CategoricalCrossentropy
            and type(logits) is np.ndarray
            and type(y_true) is np.ndarray
            and logits.ndim >= 2
            and y_true.shape == logits.shape
            and y_true.dtype.kind == "f"
        ):
            fused = _softmax_xent(y_true, logits)
            if fused is not None:
                losses, grad = fused
                scale = np.float32(1) / np.float32(losses.size)
                value = float(losses.astype(np.float64).sum()) / losses.size
                return value, (grad * scale).reshape(logits.shape)
        return super().value_and_grad_logits(y_true, logits, sample_weight, mask)


class SparseCategoricalCrossentropy(_LogitsLoss):
    """Crossentropy against integer labels of shape y_pred.shape[:-1] (or with a trailing 1).

    `ignore_class`: labels equal to it are masked out (value and gradient), as in Keras.
    """

    rank1_as_elements = False

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: str = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
    ) -> None:
        super().__init__(from_logits, 0.0, reduction, name)
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def elementwise_from(
        self, y_true: Any, y_pred: np.ndarray, from_logits: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        labels = _sparse_labels(y_true, y_pred, self.ignore_class)
        if self.ignore_class is None:
            return _categorical_ce(
                _one_hot(labels, y_pred.shape[-1], y_pred.dtype), y_pred, from_logits
            )
        ignored = labels == self.ignore_class
        one_hot = _one_hot(np.where(ignored, 0, labels), y_pred.shape[-1], y_pred.dtype)
        losses, grad = _categorical_ce(one_hot, y_pred, from_logits)
        return np.where(ignored, 0, losses), np.where(ignored[..., None], 0, grad)

    def value_and_grad(
        self, y_true: Any, y_pred: Any, sample_weight: Any = None, mask: Any = None
    ) -> tuple[float, np.ndarray]:
        if self.ignore_class is not None:
            # Keras masks the ignored labels: they leave the divisor too.
            labels = _sparse_labels(y_true, _as_float_pred(y_pred), self.ignore_class)
            kept = labels != self.ignore_class
            mask = (
                kept
                if mask is None
                else kept & _broadcast_prefix(np.asarray(mask, bool), kept.shape, "mask")
            )
        return super().value_and_grad(y_true, y_pred, sample_weight, mask)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["label_smoothing"]
        return {**config, "ignore_class": self.ignore_class}


def softmax_cross_entropy_from_logits(
    y_true: Any,
    logits: Any,
    sparse: bool,
    sample_weight: Any = None,
    mask: Any = None,
) -> tuple[float, np.ndarray]:
    """Crossentropy of softmax(logits), fused: (value, d value / d logits).

    Args:
        y_true: integer labels of shape logits.shape[:-1] (`sparse=True`) or one-hot targets of
            logits' shape.
        logits: (B, ..., K) pre-softmax activations.
        sparse: whether y_true holds labels (sparse crossentropy) or one-hot rows.
        sample_weight: as for `Loss.value_and_grad`.
        mask: as for `Loss.value_and_grad`.

    The gradient is (softmax(logits) - one_hot) * weight / count: exact and free of the clip
    that the probability form applies.
    """
    loss = (
        SparseCategoricalCrossentropy(from_logits=True)
        if sparse
        else (CategoricalCrossentropy(from_logits=True))
    )
    return loss.value_and_grad(y_true, logits, sample_weight, mask)


# ---------------------------------------------------------------------------------------------
# Functions (unreduced, like keras.losses.mean_squared_error) and look-up
# ---------------------------------------------------------------------------------------------


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-element mean squared error over the last axis: shape y_pred.shape[:-1]."""
    return MeanSquaredError().per_element(y_true, y_pred)


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-element mean absolute error over the last axis: shape y_pred.shape[:-1]."""
    return MeanAbsoluteError().per_element(y_true, y_pred)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> np.ndarray:
    """Per-element Huber loss over the last axis: shape y_pred.shape[:-1]."""
    return Huber(delta).per_element(y_true, y_pred)


def binary_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0
) -> np.ndarray:
    """Per-element binary crossentropy, mean over the last axis: shape y_pred.shape[:-1]."""
    return BinaryCrossentropy(from_logits, label_smoothing).per_element(y_true, y_pred)


def categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0
) -> np.ndarray:
    """Per-element crossentropy against one-hot targets: shape y_pred.shape[:-1]."""
    return CategoricalCrossentropy(from_logits, label_smoothing).per_element(y_true, y_pred)


def sparse_categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, ignore_class: int | None = None
) -> np.ndarray:
    """Per-element crossentropy against integer labels: shape y_pred.shape[:-1]."""
    return SparseCategoricalCrossentropy(from_logits, ignore_class).per_element(y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_CLASSES: dict[str, type[Loss]] = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        Huber,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}
_NAMES: dict[str, type[Loss]] = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "huber": Huber,
    "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_FUNCTIONS: dict[Callable[..., np.ndarray], type[Loss]] = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    huber: Huber,
    binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}

LossLike = Union[str, Loss, Callable[..., Any], dict[str, Any]]


def get(identifier: LossLike) -> Loss:
    """A Loss from a name ("mse", "mean_squared_error", "MeanSquaredError", ...), a Loss
    instance, one of this module's loss functions, or a `serialize()` dict.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
        TypeError: a callable that is not a `Loss`: training needs the gradient, so a custom
            loss subclasses `rnnkit.losses.Loss` and implements `elementwise`.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier) or _NAMES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is None:
            valid = ", ".join(sorted(_NAMES) + sorted(_CLASSES))
            raise ValueError(f"unknown loss {identifier!r}; valid names: {valid}")
        return cls()
    if identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        raise TypeError(
            f"loss {identifier!r} is a plain callable; rnnkit needs its gradient: subclass "
            f"rnnkit.losses.Loss and implement elementwise(y_true, y_pred) -> (losses, grad)"
        )
    raise TypeError(f"loss must be a string, a Loss or a dict, got {type(identifier).__name__}")


def serialize(loss: Loss) -> dict[str, Any]:
    """{"class_name": ..., "config": ...} for model files."""
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config: dict[str, Any]) -> Loss:
    """The inverse of `serialize` (built-in losses)."""
    name = config.get("class_name")
    if name not in _CLASSES:
        raise ValueError(f"unknown loss class {name!r}; valid: {', '.join(sorted(_CLASSES))}")
    return _CLASSES[name].from_config(dict(config.get("config", {})))


def _snake_case(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
