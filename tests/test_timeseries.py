"""rnnkit.timeseries.windows against hand-written values and a plain-loop oracle.

The oracle is the definition read literally: window i starts at ``s = i * stride``; its input
is ``series[s : s + L]`` and its target ``series[s + L : s + L + H]``, for every s whose target
fits. Shapes follow the documented squeeze rules (X keeps a feature axis; y drops H when it is
1 and F when the series is 1-D).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnkit.timeseries import windows

from conftest import require


def _windows_by_loop(series: np.ndarray, lookback: int, horizon: int, stride: int):
    """The plainest reading of the definition, with the documented output shapes."""
    xs, ys, positions = [], [], []
    s = 0
    while s + lookback + horizon <= len(series):
        xs.append(series[s : s + lookback])
        ys.append(series[s + lookback : s + lookback + horizon])
        positions.append(s + lookback)
        s += stride
    x, y = np.array(xs), np.array(ys)
    if series.ndim == 1:
        x = x[..., None]
    if horizon == 1:
        y = y[:, 0]
    return x, y, np.array(positions)


def test_one_dimensional_series_by_hand() -> None:
    x, y = windows(np.arange(10.0), lookback=3)
    assert x.shape == (7, 3, 1) and y.shape == (7,)
    np.testing.assert_array_equal(x[0, :, 0], [0, 1, 2])
    np.testing.assert_array_equal(x[-1, :, 0], [6, 7, 8])
    np.testing.assert_array_equal(y, np.arange(3.0, 10.0))


def test_horizon_and_stride_by_hand() -> None:
    x, y = windows(np.arange(10), lookback=3, horizon=2)
    assert x.shape == (6, 3, 1) and y.shape == (6, 2)
    np.testing.assert_array_equal(y[0], [3, 4])
    np.testing.assert_array_equal(y[-1], [8, 9])
    x, y, index = windows(np.arange(10), lookback=3, stride=3, return_index=True)
    np.testing.assert_array_equal(x[:, :, 0], [[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    np.testing.assert_array_equal(y, [3, 6, 9])
    np.testing.assert_array_equal(index, [3, 6, 9])


def test_multivariate_series_by_hand() -> None:
    series = np.stack([np.arange(8), 100 + np.arange(8)], axis=1)  # (T=8, F=2)
    x, y = windows(series, lookback=2, horizon=3)
    assert x.shape == (4, 2, 2) and y.shape == (4, 3, 2)
    np.testing.assert_array_equal(x[1], [[1, 101], [2, 102]])
    np.testing.assert_array_equal(y[1], [[3, 103], [4, 104], [5, 105]])
    x, y = windows(series, lookback=2)
    assert y.shape == (6, 2)
    np.testing.assert_array_equal(y[0], [2, 102])


def test_exactly_enough_rows_gives_one_window() -> None:
    x, y = windows([1.0, 2.0, 3.0], lookback=2)
    assert x.shape == (1, 2, 1)
    np.testing.assert_array_equal(y, [3.0])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 30),
    features=st.sampled_from([None, 1, 3]),
    lookback=st.integers(1, 8),
    horizon=st.integers(1, 4),
    stride=st.integers(1, 5),
)
def test_matches_the_loop_definition(rows, features, lookback, horizon, stride) -> None:
    shape = (rows,) if features is None else (rows, features)
    series = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    if rows < lookback + horizon:
        with pytest.raises(ValueError, match="series has"):
            windows(series, lookback, horizon, stride)
        return
    x, y, index = windows(series, lookback, horizon, stride, return_index=True)
    x_ref, y_ref, index_ref = _windows_by_loop(series, lookback, horizon, stride)
    assert x.shape == x_ref.shape and y.shape == y_ref.shape
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(index, index_ref)
    assert x.dtype == y.dtype == np.float32


def test_outputs_are_fresh_contiguous_copies() -> None:
    series = np.asfortranarray(np.arange(24.0).reshape(12, 2))
    series.setflags(write=False)  # read-only input is fine: nothing is written to it
    x, y = windows(series, lookback=4, horizon=2)
    assert x.flags.c_contiguous and y.flags.c_contiguous
    assert not np.shares_memory(x, series) and not np.shares_memory(y, series)
    x[...] = -1
    assert series[0, 0] == 0.0


def test_dtype_kept_and_nan_passed_through() -> None:
    x, y = windows(np.array([1, 2, 3, 4], dtype=np.int16), lookback=2)
    assert x.dtype == y.dtype == np.int16
    series = np.array([0.0, np.nan, 2.0, np.inf, 4.0])
    x, y = windows(series, lookback=2)
    np.testing.assert_array_equal(x[:, :, 0], [[0, np.nan], [np.nan, 2], [2, np.inf]])
    np.testing.assert_array_equal(y, [2.0, np.inf, 4.0])


ERRORS = [
    ("lookback 0", {"lookback": 0}, ValueError, "lookback"),
    ("negative horizon", {"lookback": 2, "horizon": -1}, ValueError, "horizon"),
    ("stride 0", {"lookback": 2, "stride": 0}, ValueError, "stride"),
    ("float lookback", {"lookback": 2.0}, ValueError, "lookback"),
    ("bool stride", {"lookback": 2, "stride": True}, ValueError, "stride"),
    ("too short", {"lookback": 9, "horizon": 2}, ValueError, "series has 10 rows"),
    ("3-D series", {"series": np.zeros((10, 2, 2)), "lookback": 2}, ValueError, "series"),
    ("scalar series", {"series": 3.0, "lookback": 1}, ValueError, "series"),
    ("strings", {"series": np.array(list("abcdef")), "lookback": 2}, TypeError, "series"),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"), [case[1:] for case in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_errors_name_the_argument(kwargs, error, message) -> None:
    kwargs = {"series": np.arange(10.0), **kwargs}
    with pytest.raises(error, match=message):
        windows(**kwargs)


def test_pandas_series_with_datetime_index() -> None:
    pd = require("pandas")
    times = pd.date_range("2024-01-01", periods=10, freq="h")
    series = pd.Series(np.arange(10.0), index=times)
    x, y, index = windows(series, lookback=3, stride=2, return_index=True)
    assert isinstance(index, pd.DatetimeIndex)
    assert list(index) == [times[3], times[5], times[7], times[9]]
    np.testing.assert_array_equal(y, series.loc[index].to_numpy())
    np.testing.assert_array_equal(x[1, :, 0], [2.0, 3.0, 4.0])
    x_plain, y_plain = windows(series, lookback=3, stride=2)
    np.testing.assert_array_equal(x_plain, x)
    np.testing.assert_array_equal(y_plain, y)


def test_pandas_dataframe() -> None:
    pd = require("pandas")
    frame = pd.DataFrame(
        {"load": np.arange(6.0), "temp": 10 + np.arange(6.0)},
        index=pd.date_range("2024-03-01", periods=6, freq="D"),
    )
    x, y, index = windows(frame, lookback=2, horizon=2, return_index=True)
    assert x.shape == (3, 2, 2) and y.shape == (3, 2, 2)
    np.testing.assert_array_equal(y[0], frame.iloc[2:4].to_numpy())
    assert list(index) == list(frame.index[2:5])
