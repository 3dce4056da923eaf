"""Sliding windows over a time series, for training a recurrent forecaster.

``windows(series, lookback)`` turns a series of T rows into N training pairs: each input is
`lookback` consecutive rows and its target the `horizon` rows that follow. Shapes use DESIGN's
letters: T rows (time), F features, N windows, L lookback, H horizon.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["windows"]


def windows(
    series: Any,
    lookback: int,
    horizon: int = 1,
    stride: int = 1,
    return_index: bool = False,
) -> tuple[Any, ...]:
    """Cut `series` into (input window, target) pairs: ``X, y = windows(series, 24)``.

    Window i starts at row ``s = i * stride``: ``X[i] = series[s : s + L]`` and the target is
    the next H rows, ``series[s + L : s + L + H]``. There are ``N = (T - L - H) // stride + 1``
    windows; rows left over at the end (fewer than `stride`) are not used.

    Shapes. X is always (N, L, F), ready for a recurrent layer; a 1-D series counts as F = 1.
    y drops the axes that would be of size 1 by construction:

    ============  ==============  ==============
    series        horizon == 1    horizon > 1
    ============  ==============  ==============
    (T,)          y (N,)          y (N, H)
    (T, F)        y (N, F)        y (N, H, F)
    ============  ==============  ==============

    X and y are fresh C-contiguous arrays (never views of `series`) with the series' dtype.
    NaN and Inf are allowed and copied as they are (a series with gaps is the caller's to fill
    or mask); nothing is checked or dropped.

    Args:
        series: A NumPy array-like (T,) or (T, F) of numbers, or a pandas Series / DataFrame
            (its values are used; pandas is never imported by rnnkit itself).
        lookback: L, rows per input window (>= 1).
        horizon: H, rows per target (>= 1).
        stride: Rows between the starts of consecutive windows (>= 1).
        return_index: Also return where each target starts: for a pandas input, the labels
            ``series.index[s + L]`` as an index of the same kind (a ``DatetimeIndex`` stays
            one), for anything else the integer row positions ``s + L`` (N,).

    Returns:
        ``(X, y)``, or ``(X, y, index)`` with `return_index`.

    Raises:
        ValueError: `lookback`, `horizon` or `stride` is not an int >= 1; `series` is not
            1-D or 2-D, or has fewer than ``L + H`` rows.
        TypeError: `series` does not hold numbers (or booleans).
    """
    for name, value in (("lookback", lookback), ("horizon", horizon), ("stride", stride)):
        if (
            isinstance(value, (bool, np.bool_))
            or not isinstance(value, (int, np.integer))
            or value < 1
        ):
            raise ValueError(f"[windows] {name} must be an int >= 1, got {value!r}")
    lookback, horizon, stride = int(lookback), int(horizon), int(stride)
    pandas_index = _pandas_index(series)
    values = np.asarray(series.to_numpy() if pandas_index is not None else series)
    if values.dtype.kind not in "biuf":
        raise TypeError(f"[windows] series must hold numbers, got dtype {values.dtype}")
    if values.ndim not in (1, 2):
        raise ValueError(
            f"[windows] series must be 1-D (T,) or 2-D (T, F), got shape {values.shape}"
        )
    rows = values.shape[0]
    if rows < lookback + horizon:
        raise ValueError(
            f"[windows] series has {rows} rows; lookback + horizon = {lookback} + {horizon} "
            f"needs at least {lookback + horizon}"
        )
    table = values[:, None] if values.ndim == 1 else values  # (T, F)
    count = (rows - lookback - horizon) // stride + 1
    starts = np.arange(count) * stride  # (N,)
    x = table[starts[:, None] + np.arange(lookback)]  # (N, L, F)
    target_rows = starts + lookback  # (N,)
    y = table[target_rows[:, None] + np.arange(horizon)]  # (N, H, F)
    if values.ndim == 1:
        y = y[..., 0]  # (N, H)
    if horizon == 1:
        y = y[:, 0]  # (N,) or (N, F)
    # Fancy indexing already copied; ascontiguousarray only fixes the layout of F-ordered input.
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    if not return_index:
        return x, y
    index = pandas_index[target_rows] if pandas_index is not None else target_rows
    return x, y, index


def _pandas_index(series: Any) -> Any:
    """The index of a pandas Series / DataFrame, or None for anything else (no pandas import)."""
    module = type(series).__module__ or ""
    is_pandas = module.split(".")[0] == "pandas"
    return series.index if is_pandas and hasattr(series, "to_numpy") else None
