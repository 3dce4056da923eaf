"""``to_categorical``: integer labels to one-hot rows (Keras 2's, re-exported by rnnkit.utils)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_categorical"]


def to_categorical(y: Any, num_classes: int | None = None, dtype: Any = "float32") -> np.ndarray:
    """One-hot encode class labels: y (...,) -> (..., num_classes), as Keras 2 does.

    A trailing axis of size 1 is squeezed first, as in Keras: labels of shape (B, 1) give
    (B, num_classes), not (B, 1, num_classes); a scalar gives (num_classes,). `num_classes`
    defaults to ``max(y) + 1``.

    Stricter than Keras, which wraps negative labels around, raises ``IndexError`` for labels
    ``>= num_classes``, truncates 1.5 to 1 and takes ``num_classes=0`` for "infer": those are
    ``ValueError`` here. Labels may be floats holding whole numbers (1.0).

    Raises:
        ValueError: a label in `y` is negative, fractional, not finite or ``>= num_classes``;
            `y` is empty and `num_classes` is not given; `num_classes` is not an int >= 1.
    """
    if num_classes is not None and (
        isinstance(num_classes, (bool, np.bool_))
        or not isinstance(num_classes, (int, np.integer))
        or num_classes < 1
    ):
        raise ValueError(
            f"[to_categorical] num_classes must be None or an int >= 1, got {num_classes!r}"
        )
    try:
        labels = np.asarray(y)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"[to_categorical] y must be an array of integer labels: {exc}") from None
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"[to_categorical] y must hold integer labels, got dtype {labels.dtype}")
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels) & (labels == np.round(labels))):
        raise ValueError("[to_categorical] y must hold whole numbers (labels), got fractional/NaN")
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1).astype(np.int64)
    if num_classes is None:
        if flat.size == 0:
            raise ValueError("[to_categorical] y is empty: pass num_classes")
        num_classes = int(flat.max()) + 1
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        bad = flat[(flat < 0) | (flat >= num_classes)][0]
        raise ValueError(
            f"[to_categorical] y holds label {bad}, outside [0, num_classes) = [0, {num_classes})"
        )
    categorical = np.zeros((flat.size, int(num_classes)), dtype=dtype)
    categorical[np.arange(flat.size), flat] = 1
    return categorical.reshape(shape + (int(num_classes),))
