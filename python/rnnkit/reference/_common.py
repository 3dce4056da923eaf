"""Helpers shared by the reference cells: argument checks, the dtype rule, the valid steps.

Every check raises with the op name in brackets and the argument's name, and for shapes what
was received and what was expected (docs/functional-api.md, "Errors"). Letters: T time,
B batch, I input size, H hidden size, G gates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, TypeVar, cast, overload

import numpy as np

ArrayOrNone = Optional[np.ndarray]
# (w_ih, w_hh, b_ih, b_hh): the weights are arrays, the biases arrays or None.
WeightArrays = tuple[np.ndarray, np.ndarray, ArrayOrNone, ArrayOrNone]
_T = TypeVar("_T")


def _to_ndarray(op: str, name: str, value: Any) -> np.ndarray:
    """`value` as an ndarray (no copy when it is one already); TypeError when it cannot be."""
    if value is None:
        raise TypeError(f"[{op}] {name} is None, expected an array")
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"[{op}] {name} cannot be converted to an array: {exc}") from None


def real_array(op: str, name: str, value: Any) -> np.ndarray:
    """`value` as an ndarray of real numbers: floats or integers (nested lists are converted)."""
    arr = _to_ndarray(op, name, value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(
            f"[{op}] {name} has dtype {arr.dtype}, expected real numbers (a float or integer array)"
        )
    return arr


def contiguous(arr: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`arr` as a C-contiguous array of `dtype`, copied only when needed.

    Strided or Fortran-ordered input then gives bitwise the result of a contiguous copy (the
    matrix products would otherwise round differently for different layouts).
    """
    return np.ascontiguousarray(arr, dtype=dtype)


def compute_dtype(arr: np.ndarray) -> np.dtype:
    """The reference computes in float64 when the input is float64, else in float32."""
    return np.dtype(np.float64) if arr.dtype == np.float64 else np.dtype(np.float32)


def check_ndim(op: str, name: str, arr: np.ndarray, ndim: int, pattern: str) -> None:
    if arr.ndim != ndim:
        raise ValueError(f"[{op}] {name} has shape {arr.shape}, expected {pattern} ({ndim}-D)")


def check_shape(
    op: str, name: str, arr: np.ndarray, expected: tuple[int, ...], pattern: str
) -> None:
    if arr.shape != expected:
        raise ValueError(f"[{op}] {name} has shape {arr.shape}, expected {pattern} = {expected}")


def input_array(op: str, name: str, value: Any, pattern: str) -> tuple[np.ndarray, np.dtype]:
    """The input x (T,B,I) or x_t (B,I), cast to the dtype the op computes in, and that dtype."""
    arr = real_array(op, name, value)
    check_ndim(op, name, arr, pattern.count(",") + 1, pattern)
    dtype = compute_dtype(arr)
    return contiguous(arr, dtype), dtype


def array_or_zeros(
    op: str, name: str, value: Any, dtype: np.dtype, shape: tuple[int, ...], pattern: str
) -> np.ndarray:
    """A fresh array of `shape` in `dtype`: a copy of `value`, or zeros when it is None.

    Used for the initial states h0/c0 (None means zeros) and for the incoming gradients
    dy/dh_n/dc_n (None means zeros).
    """
    if value is None:
        return np.zeros(shape, dtype)
    arr = real_array(op, name, value)
    check_shape(op, name, arr, shape, pattern)
    return np.array(arr, dtype=dtype)


def _gate_rows(gates: int) -> str:
    return "H" if gates == 1 else f"{gates}*H"


def check_weights(
    op: str,
    gates: int,
    w_ih: Any,
    w_hh: Any,
    b_ih: Any,
    b_hh: Any,
    dtype: np.dtype,
    input_size: int | None = None,
) -> WeightArrays:
    """Check and cast w_ih (G*H,I), w_hh (G*H,H), b_ih/b_hh (G*H,) or None.

    H is w_hh.shape[1]; I is `input_size` (from x) or, when that is None (pack_*),
    w_ih.shape[1].
    """
    rows = _gate_rows(gates)
    w_hh = real_array(op, "w_hh", w_hh)
    check_ndim(op, "w_hh", w_hh, 2, f"({rows}, H)")
    hidden = w_hh.shape[1]
    check_shape(op, "w_hh", w_hh, (gates * hidden, hidden), f"({rows}, H)")
    w_ih = real_array(op, "w_ih", w_ih)
    check_ndim(op, "w_ih", w_ih, 2, f"({rows}, I)")
    if input_size is None:
        input_size = w_ih.shape[1]
    check_shape(op, "w_ih", w_ih, (gates * hidden, input_size), f"({rows}, I)")
    biases = []
    for name, bias in (("b_ih", b_ih), ("b_hh", b_hh)):
        if bias is not None:
            bias = real_array(op, name, bias)
            check_shape(op, name, bias, (gates * hidden,), f"({rows},)")
            bias = contiguous(bias, dtype)
        biases.append(bias)
    return contiguous(w_ih, dtype), contiguous(w_hh, dtype), biases[0], biases[1]


def sequence_inputs(
    op: str,
    gates: int,
    x: Any,
    initial: tuple[Any, ...],
    w_ih: Any,
    w_hh: Any,
    b_ih: Any,
    b_hh: Any,
    lengths: Any,
    mask: Any,
    reverse: Any,
    training: Any,
) -> tuple[np.ndarray, WeightArrays, tuple[np.ndarray, ...], np.ndarray, bool, bool]:
    """Check and convert a forward's arguments.

    Returns x (T,B,I) in the compute dtype, (w_ih, w_hh, b_ih, b_hh) in it, the initial states
    as fresh (B,H) arrays (zeros for None; `initial` is (h0,) or (h0, c0)), valid (T,B),
    reverse and training.
    """
    x, dtype = input_array(op, "x", x, "(T, B, I)")
    steps, batch, inputs = x.shape
    weights = check_weights(op, gates, w_ih, w_hh, b_ih, b_hh, dtype, inputs)
    hidden = weights[1].shape[1]
    states = tuple(
        array_or_zeros(op, name, state, dtype, (batch, hidden), "(B, H)")
        for name, state in zip(("h0", "c0"), initial)
    )
    valid = valid_steps(op, steps, batch, lengths, mask)
    return (
        x, weights, states, valid,
        check_flag(op, "reverse", reverse), check_flag(op, "training", training),
    )


def incoming_gradients(
    op: str, saved: Any, dy: Any, d_final: Sequence[Any], return_dh_seq: Any
) -> tuple[np.ndarray, tuple[np.ndarray, ...], bool]:
    """dy (T,B,H) and the final states' gradients (B,H each; `d_final` is (dh_n,) or
    (dh_n, dc_n)) as fresh arrays in the saved dtype, zeros for None; and return_dh_seq."""
    steps, batch, _ = saved.x.shape
    hidden = saved.h0.shape[1]
    dtype = saved.x.dtype
    dy = array_or_zeros(op, "dy", dy, dtype, (steps, batch, hidden), "(T, B, H)")
    d_states = tuple(
        array_or_zeros(op, name, value, dtype, (batch, hidden), "(B, H)")
        for name, value in zip(("dh_n", "dc_n"), d_final)
    )
    return dy, d_states, check_flag(op, "return_dh_seq", return_dh_seq)


def zero_gradients(saved: Any) -> tuple[np.ndarray, ...]:
    """Fresh zero accumulators: dx (T,B,I), dw_ih (G*H,I), dw_hh (G*H,H), dh_seq (T,B,H)."""
    steps, batch, _ = saved.x.shape
    dtype = saved.x.dtype
    return (
        np.zeros(saved.x.shape, dtype),
        np.zeros(saved.w_ih.shape, dtype),
        np.zeros(saved.w_hh.shape, dtype),
        np.zeros((steps, batch, saved.h0.shape[1]), dtype),
    )


def gradient_dict(
    saved: Any,
    dx: np.ndarray,
    d_initial: dict[str, np.ndarray],
    dw_ih: np.ndarray,
    dw_hh: np.ndarray,
    db_ih: np.ndarray,
    db_hh: np.ndarray,
    dh_seq: np.ndarray,
    return_dh_seq: bool,
) -> dict[str, np.ndarray | None]:
    """The backward's result: x, h0 (c0), w_ih, w_hh, b_ih, b_hh (None where the forward had
    no bias) and, with return_dh_seq, dh_seq. The caller passes fresh, unshared arrays."""
    grads: dict[str, np.ndarray | None] = {"x": dx, **d_initial, "w_ih": dw_ih, "w_hh": dw_hh}
    grads["b_ih"] = None if saved.b_ih is None else db_ih
    grads["b_hh"] = None if saved.b_hh is None else db_hh
    if return_dh_seq:
        grads["dh_seq"] = dh_seq
    return grads


def _lengths_mask(op: str, lengths: Any, steps: int, batch: int) -> np.ndarray:
    arr = _to_ndarray(op, "lengths", lengths)
    if arr.size == 0 and not isinstance(lengths, np.ndarray):
        arr = arr.astype(np.int64)  # np.asarray([]) is float64; an empty list holds no values
    if arr.dtype.kind not in "iu":
        raise TypeError(f"[{op}] lengths has dtype {arr.dtype}, expected integers")
    check_shape(op, "lengths", arr, (batch,), "(B,)")
    if batch and (arr.min() < 0 or arr.max() > steps):
        raise ValueError(
            f"[{op}] lengths must lie in [0, T] = [0, {steps}], "
            f"got values from {arr.min()} to {arr.max()}"
        )
    return np.arange(steps)[:, None] < arr[None, :]


def _mask_array(op: str, mask: Any, steps: int, batch: int) -> np.ndarray:
    arr = _to_ndarray(op, "mask", mask)
    if arr.size == 0 and not isinstance(mask, np.ndarray):
        arr = arr.astype(bool)  # an empty nested list converts to float64
    if arr.dtype.kind not in "biu":
        raise TypeError(f"[{op}] mask has dtype {arr.dtype}, expected bool (or integer 0/1)")
    check_shape(op, "mask", arr, (steps, batch), "(T, B)")
    if arr.dtype.kind != "b" and np.any((arr != 0) & (arr != 1)):
        raise ValueError(f"[{op}] mask holds values other than 0 and 1")
    return arr.astype(bool)


def valid_steps(op: str, steps: int, batch: int, lengths: Any, mask: Any) -> np.ndarray:
    """valid (T,B) bool, a fresh array: True where step t of sequence b runs.

    Valid when mask[t, b] is True (mask given), when t < lengths[b] (lengths given), and
    always otherwise.
    """
    if lengths is not None and mask is not None:
        raise ValueError(f"[{op}] got both lengths and mask; give at most one of them")
    if lengths is not None:
        return _lengths_mask(op, lengths, steps, batch)
    if mask is not None:
        return _mask_array(op, mask, steps, batch)
    return np.ones((steps, batch), dtype=bool)


def step_order(steps: int, reverse: bool) -> range:
    """The order steps are processed in: 0 ... T-1, or T-1 ... 0 when reverse."""
    return range(steps - 1, -1, -1) if reverse else range(steps)


def check_flag(op: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"[{op}] {name} must be a bool, got {type(value).__name__}")
    return bool(value)


def check_choice(op: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"[{op}] {name} must be one of {valid}, got {value!r}")
    return value


def check_instance(
    op: str, name: str, value: object, expected_type: type[_T], expected: str
) -> _T:
    """TypeError unless `value` is an `expected_type` (a saved or packed-weights object)."""
    if not isinstance(value, expected_type):
        kind = type(value)
        got = "None" if value is None else f"a {kind.__module__}.{kind.__qualname__}"
        raise TypeError(f"[{op}] {name} is {got}, expected {expected}")
    return value


@overload
def frozen_copy(arr: np.ndarray) -> np.ndarray: ...
@overload
def frozen_copy(arr: None) -> None: ...
@overload
def frozen_copy(arr: ArrayOrNone) -> ArrayOrNone: ...
def frozen_copy(arr: ArrayOrNone) -> ArrayOrNone:
    """A read-only copy (None stays None): what saved and packed-weights objects hold."""
    if arr is None:
        return None
    copy = np.array(arr, copy=True)
    copy.flags.writeable = False
    return copy


def as_dtype(arr: ArrayOrNone, dtype: np.dtype) -> ArrayOrNone:
    return None if arr is None else arr.astype(dtype, copy=False)


def step_inputs(
    op: str, x_t: Any, weights: Any, weights_type: type[Any], pack_name: str
) -> tuple[np.ndarray, WeightArrays]:
    """Check a step's packed weights and x_t (B,I); cast both to the step's compute dtype.

    Returns x_t and (w_ih, w_hh, b_ih, b_hh) in the dtype of x_t's rule (float64 or float32).
    """
    w = check_instance(
        op, "weights", weights, weights_type, f"packed weights from rnnkit.reference.{pack_name}()"
    )
    x_t, dtype = input_array(op, "x_t", x_t, "(B, I)")
    check_shape(op, "x_t", x_t, (x_t.shape[0], w.w_ih.shape[1]), "(B, I)")
    arrays = tuple(as_dtype(a, dtype) for a in (w.w_ih, w.w_hh, w.b_ih, w.b_hh))
    return x_t, cast(WeightArrays, arrays)  # the packed w_ih and w_hh are never None


def check_out(op: str, name: str, out: Any, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """A step's out= buffer: a writeable ndarray of the step's shape and compute dtype."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"[{op}] {name} is a {type(out).__name__}, expected a numpy array")
    check_shape(op, name, out, shape, "(B, H)")
    if out.dtype != dtype:
        raise TypeError(f"[{op}] {name} has dtype {out.dtype}, expected {dtype} (the step's dtype)")
    if not out.flags.writeable:
        raise ValueError(f"[{op}] {name} is read-only")


def write_out(out: np.ndarray | None, value: np.ndarray) -> np.ndarray:
    """A step's result: `value` itself, or copied into the checked out= buffer and that buffer."""
    if out is None:
        return value
    out[...] = value
    return out


def linear(v: np.ndarray, w: np.ndarray, b: ArrayOrNone) -> np.ndarray:
    """v W^T + b: v (B,K), w (N,K), b (N,) or None -> (B,N)."""
    out: np.ndarray = v @ w.T
    return out if b is None else out + b


@overload
def gate_blocks(arr: np.ndarray, gates: int) -> tuple[np.ndarray, ...]: ...
@overload
def gate_blocks(arr: ArrayOrNone, gates: int) -> tuple[ArrayOrNone, ...]: ...
def gate_blocks(arr: ArrayOrNone, gates: int) -> tuple[ArrayOrNone, ...]:
    """Split a weight (G*H,K) or bias (G*H,) into its G gate blocks (H,K) / (H,); None -> Nones."""
    if arr is None:
        return (None,) * gates
    return tuple(np.split(arr, gates, axis=0))


def sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-a), written as e^-log(1 + e^-a) so that no large |a| overflows.

    NaN propagates quietly, as through tanh (logaddexp alone would warn about it).
    """
    with np.errstate(invalid="ignore"):
        s: np.ndarray = np.exp(-np.logaddexp(0.0, -a))
    return s
