"""Accuracy of the vectorised exp, sigmoid and tanh (cpp/core/simd_math.inc) on every SIMD path.

The bar of the fast-kernels issue: <= 4 ulp where the true value is a normal float, absolute
error <= 1e-7 elsewhere, exact 0/1/±1 at saturation, NaN in -> NaN out, never NaN for finite
input. The oracle is NumPy's float64 function of the float32 input; the ulp is float32's
spacing at the true value. "Saturation" is where the true value lies within a quarter of an
ulp of its limit (so it rounds there with margin); exp's true values past the float range must
give +inf.

Inputs (2.9 M): every 2^11-th float32 bit pattern (both signs, the whole range: 2 M), every
float in windows of 2^14 consecutive bit patterns around the points where the formulas switch
or saturate, subnormals, ±0, ±inf, NaNs and the extreme floats.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from rnnkit import _core

FUNCTIONS = ("exp", "sigmoid", "tanh")
F32 = np.finfo(np.float32)
MAX_ULP = 4.0
MAX_ABS = 1e-7

# Where the kernels change formula, lose range or saturate, and a few magnitudes near 0.
WINDOW_CENTRES = (
    1e-30, 1e-7, 1e-3, 0.1, 0.3, 0.5, 0.6931472, 1.0, 2.0,
    8.66434, 9.0,                       # tanh rounds to ±1
    16.6355, 17.3287,                   # sigmoid rounds to 1
    87.33655, 88.0, 88.37627, 88.72284,  # exp: FLT_MIN, the last binade, FLT_MAX
    103.2789, 103.97208,                # exp: smallest subnormal, then 0
)
WINDOW_HALF = 2**13


def _bits(u: np.ndarray) -> np.ndarray:
    return u.astype(np.uint32).view(np.float32)


@functools.cache
def inputs() -> np.ndarray:
    sweep = _bits(np.arange(0, 2**32, 2**11, dtype=np.uint64))
    parts = [sweep]
    for c in WINDOW_CENTRES:
        centre = int(np.float32(c).view(np.uint32))
        window = np.arange(centre - WINDOW_HALF, centre + WINDOW_HALF, dtype=np.uint64)
        parts += [_bits(window), -_bits(window)]
    subnormal = np.arange(1, 2**23, 97, dtype=np.uint64)
    parts += [_bits(subnormal), -_bits(subnormal)]
    specials = np.array(
        [0.0, -0.0, np.inf, -np.inf, F32.max, -F32.max, F32.tiny, -F32.tiny,
         F32.smallest_subnormal, -F32.smallest_subnormal],
        dtype=np.float32,
    )
    nans = _bits(np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFFFFFFF, 0x7FBFFFFF]))
    x = np.concatenate(parts + [specials, nans])
    if x.size % 16 == 0:  # keep a masked tail on every path
        x = np.append(x, np.float32(0.25))
    return x


@functools.cache
def oracle(name: str) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # signalling NaNs, overflow
        d = inputs().astype(np.float64)
        if name == "exp":
            return np.exp(d)
        if name == "tanh":
            return np.tanh(d)
        e = np.exp(-np.abs(d))  # never overflows
        return np.where(d >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def ulp_at(t: np.ndarray) -> np.ndarray:
    """float32's spacing at |t| (t normal)."""
    return np.exp2(np.floor(np.log2(np.abs(t))) - 23)


def measure(name: str, isa: str) -> dict[str, Any]:
    """One function on one path against the bar: the worst errors and every violation."""
    x = inputs()
    t = oracle(name)
    y = _core._vmath(name, x, isa)
    assert y.dtype == np.float32 and y.shape == x.shape
    yd = y.astype(np.float64)
    nan_in = np.isnan(x)

    # Saturation: exactly 0 (every function), ±1 (sigmoid, tanh), +inf (exp past FLT_MAX).
    exact = np.full(x.shape, np.nan)
    exact[np.abs(t) < F32.smallest_subnormal / 4] = 0.0
    if name != "exp":
        at_one = np.abs(np.abs(t) - 1.0) < 2.0**-26  # a quarter of the ulp below 1
        exact[at_one] = np.sign(t[at_one])
    with np.errstate(over="ignore"):
        exact[np.isinf(t.astype(np.float32)) & ~nan_in] = np.inf
    saturated = ~np.isnan(exact)

    rest = ~(nan_in | saturated)
    normal = rest & (np.abs(t) >= F32.tiny)
    tiny = rest & ~normal
    ulps = np.abs(yd[normal] - t[normal]) / ulp_at(t[normal])
    worst = int(np.argmax(ulps))
    abs_err = np.abs(yd[tiny] - t[tiny])
    return {
        "max_ulp": float(ulps[worst]),
        "worst": (x[normal][worst], y[normal][worst], t[normal][worst]),
        "max_abs_not_normal": float(abs_err.max()) if abs_err.size else 0.0,
        "not_saturated": x[saturated & (yd != exact)],
        "nan_lost": x[nan_in & ~np.isnan(y)],
        "nan_made": x[~nan_in & np.isnan(y)],
    }


@pytest.mark.parametrize("name", FUNCTIONS)
def test_accuracy(name: str, isa: str) -> None:
    m = measure(name, isa)
    where = f"{name} on {isa}"
    x, got, true = m["worst"]
    assert m["max_ulp"] <= MAX_ULP, f"{where}: {m['max_ulp']:.2f} ulp at x={x!r}: {got!r} vs {true!r}"
    assert m["max_abs_not_normal"] <= MAX_ABS, f"{where}: abs error {m['max_abs_not_normal']:.3g}"
    assert m["not_saturated"].size == 0, f"{where}: not exactly saturated at {m['not_saturated'][:5]}"
    assert m["nan_lost"].size == 0, f"{where}: NaN in gave a number"
    assert m["nan_made"].size == 0, f"{where}: NaN out for finite x = {m['nan_made'][:5]}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_signed_zeros(name: str, isa: str) -> None:
    zeros = np.array([0.0, -0.0], dtype=np.float32)
    y = _core._vmath(name, zeros, isa)
    want = {"exp": [1.0, 1.0], "sigmoid": [0.5, 0.5], "tanh": [0.0, -0.0]}[name]
    np.testing.assert_array_equal(y, want)
    if name == "tanh":
        assert list(np.signbit(y)) == [False, True]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_tail_length_matches_the_full_vectors(name: str, isa: str) -> None:
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(67) * 10).astype(np.float32)
    full = _core._vmath(name, x, isa)
    for n in range(1, 35):
        np.testing.assert_array_equal(_core._vmath(name, x[-n:].copy(), isa), full[-n:])


def test_bad_arguments_name_the_operation() -> None:
    x = np.zeros(3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"\[_vmath\] name"):
        _core._vmath("log", x, "scalar")
    with pytest.raises(ValueError, match=r"\[_vmath\] isa"):
        _core._vmath("exp", x, "sse2")
    with pytest.raises(TypeError, match=r"\[_vmath\] x must be a float32"):
        _core._vmath("exp", x.astype(np.float64), "scalar")


if __name__ == "__main__":  # the table of BENCHMARKS.md
    print("| function | " + " | ".join(_core.available_isas()) + " |")
    print("|---|" + "---|" * len(_core.available_isas()))
    for fn in FUNCTIONS:
        cells = [f"{measure(fn, isa)['max_ulp']:.2f}" for isa in _core.available_isas()]
        print(f"| {fn} | " + " | ".join(cells) + " |")
