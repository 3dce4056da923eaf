"""The functional API on rnnkit's C++ kernels: one layer, one direction, time-major, float32.

Letters: T time, B batch, I input size, H hidden size, G gates (RNN 1, GRU 3, LSTM 4).
``x`` is (T, B, I); states are (B, H); ``y`` is (T, B, H). Weights use PyTorch's layout:
``w_ih`` (G*H, I), ``w_hh`` (G*H, H), ``b_ih`` and ``b_hh`` (G*H,) or None; gate order
LSTM i, f, g, o and GRU r, z, n.

Every function here has a twin of the same name and signature in :mod:`rnnkit.reference`
(NumPy), and the two agree to float32 round-off. The full contract — valid steps, ``lengths``
and ``mask``, ``reverse``, what ``saved`` holds, dtypes and errors — is in
``docs/functional-api.md``. In short:

* arrays of any real dtype, layout or writeability are converted once to float32;
  complex/object/string/bool arrays and None where an array is required raise ``TypeError``;
* wrong shapes raise ``ValueError`` naming the operation, the argument, the shape received and
  the shape expected; sizes that cannot be allocated raise ``MemoryError`` before allocating;
* ``saved`` is None unless ``training=True``; it owns copies of what backward needs;
* the kernels release the GIL and use :func:`rnnkit.set_num_threads` threads; results are
  bitwise identical for any thread count;
* a long kernel stops at a step boundary on Ctrl-C (``KeyboardInterrupt``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import numpy.typing as npt

from rnnkit import _core

# Anything NumPy converts to a real array (converted once to float32 by the kernels).
ArrayLike = npt.ArrayLike
F32Array = npt.NDArray[np.float32]
Grads = dict[str, Optional[F32Array]]
Saved = _core.Saved
PackedWeights = _core.PackedWeights

__all__ = [
    "PackedWeights",
    "Saved",
    "gru_backward",
    "gru_forward",
    "gru_step",
    "lstm_backward",
    "lstm_forward",
    "lstm_step",
    "pack_gru",
    "pack_lstm",
    "pack_rnn",
    "rnn_backward",
    "rnn_forward",
    "rnn_step",
]


def rnn_forward(
    x: ArrayLike,
    h0: ArrayLike | None,
    w_ih: ArrayLike,
    w_hh: ArrayLike,
    b_ih: ArrayLike | None,
    b_hh: ArrayLike | None,
    *,
    activation: str = "tanh",
    lengths: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    reverse: bool = False,
    training: bool = False,
) -> tuple[F32Array, F32Array, Saved | None]:
    """Elman RNN over a sequence: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.

    Args:
        x: (T, B, I) inputs.
        h0: (B, H) initial state or None (zeros).
        w_ih: (H, I).
        w_hh: (H, H).
        b_ih: (H,) or None.
        b_hh: (H,) or None.
        activation: "tanh" or "relu".
        lengths: (B,) integers, post-padding: sequence b is valid for steps < lengths[b].
        mask: (T, B) bool, the general form (holes allowed). Not with ``lengths``.
        reverse: process steps T-1 .. 0 (within each sequence's own length).
        training: keep what :func:`rnn_backward` needs.

    Returns:
        ``(y, h_n, saved)``: y (T, B, H) with zero rows at invalid steps, h_n (B, H) the state
        after the last valid step, saved (or None).
    """
    # Positional: pybind11 matches keyword arguments by name, about 1 us a call at toy sizes.
    return _core.rnn_forward(
        x, h0, w_ih, w_hh, b_ih, b_hh, activation, lengths, mask, reverse, training
    )


def lstm_forward(
    x: ArrayLike,
    h0: ArrayLike | None,
    c0: ArrayLike | None,
    w_ih: ArrayLike,
    w_hh: ArrayLike,
    b_ih: ArrayLike | None,
    b_hh: ArrayLike | None,
    *,
    lengths: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    reverse: bool = False,
    training: bool = False,
) -> tuple[F32Array, tuple[F32Array, F32Array], Saved | None]:
    """LSTM over a sequence, gates i, f, g, o: ``c' = f*c + i*g``, ``h' = o*tanh(c')``.

    Args:
        x: (T, B, I).
        h0: (B, H) or None (zeros).
        c0: (B, H) or None (zeros).
        w_ih: (4H, I).
        w_hh: (4H, H).
        b_ih: (4H,) or None.
        b_hh: (4H,) or None.
        lengths: as in :func:`rnn_forward`.
        mask: as in :func:`rnn_forward`.
        reverse: as in :func:`rnn_forward`.
        training: as in :func:`rnn_forward`.

    Returns:
        ``(y, (h_n, c_n), saved)``.
    """
    return _core.lstm_forward(
        x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, mask, reverse, training
    )


def gru_forward(
    x: ArrayLike,
    h0: ArrayLike | None,
    w_ih: ArrayLike,
    w_hh: ArrayLike,
    b_ih: ArrayLike | None,
    b_hh: ArrayLike | None,
    *,
    reset_after: bool = True,
    lengths: ArrayLike | None = None,
    mask: ArrayLike | None = None,
    reverse: bool = False,
    training: bool = False,
) -> tuple[F32Array, F32Array, Saved | None]:
    """GRU over a sequence, gates r, z, n: ``h' = (1-z)*n + z*h``.

    ``reset_after=True`` (PyTorch, Keras 3 default): ``n = tanh(W_in x + b_in + r*(W_hn h +
    b_hn))``; ``reset_after=False`` (Cho et al. 2014): ``n = tanh(W_in x + b_in + W_hn (r*h) +
    b_hn)``.

    Args:
        x: (T, B, I).
        h0: (B, H) or None (zeros).
        w_ih: (3H, I).
        w_hh: (3H, H).
        b_ih: (3H,) or None.
        b_hh: (3H,) or None.
        reset_after: the gate variant above.
        lengths: as in :func:`rnn_forward`.
        mask: as in :func:`rnn_forward`.
        reverse: as in :func:`rnn_forward`.
        training: as in :func:`rnn_forward`.

    Returns:
        ``(y, h_n, saved)``.
    """
    return _core.gru_forward(
        x, h0, w_ih, w_hh, b_ih, b_hh, reset_after, lengths, mask, reverse, training
    )


def rnn_backward(
    dy: ArrayLike | None,
    dh_n: ArrayLike | None,
    saved: Saved,
    *,
    return_dh_seq: bool = False,
) -> Grads:
    """Backpropagation through time for :func:`rnn_forward` (``training=True``).

    Args:
        dy: (T, B, H) dLoss/dy or None (zeros); ignored at invalid steps.
        dh_n: (B, H) dLoss/dh_n or None.
        saved: what the forward returned.
        return_dh_seq: also return ``"dh_seq"`` (T, B, H), dLoss/dh_t at every step.

    Returns:
        A fresh dict: ``x``, ``h0``, ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh`` (None where the
        forward had no bias), and ``dh_seq`` if asked.
    """
    return _core.rnn_backward(dy, dh_n, saved, return_dh_seq)


def lstm_backward(
    dy: ArrayLike | None,
    dstate_n: tuple[ArrayLike | None, ArrayLike | None] | None,
    saved: Saved,
    *,
    return_dh_seq: bool = False,
) -> Grads:
    """Backpropagation through time for :func:`lstm_forward`.

    ``dstate_n`` is ``(dh_n, dc_n)`` (either may be None) or None. The dict also has ``c0``.
    """
    return _core.lstm_backward(dy, dstate_n, saved, return_dh_seq)


def gru_backward(
    dy: ArrayLike | None,
    dh_n: ArrayLike | None,
    saved: Saved,
    *,
    return_dh_seq: bool = False,
) -> Grads:
    """Backpropagation through time for :func:`gru_forward`; as :func:`rnn_backward`."""
    return _core.gru_backward(dy, dh_n, saved, return_dh_seq)


def pack_rnn(
    w_ih: ArrayLike,
    w_hh: ArrayLike,
    b_ih: ArrayLike | None = None,
    b_hh: ArrayLike | None = None,
    *,
    activation: str = "tanh",
) -> PackedWeights:
    """Pack RNN weights once for :func:`rnn_step` (the current SIMD path's panel layout)."""
    return _core.pack_rnn(w_ih, w_hh, b_ih, b_hh, activation=activation)


def pack_lstm(
    w_ih: ArrayLike,
    w_hh: ArrayLike,
    b_ih: ArrayLike | None = None,
    b_hh: ArrayLike | None = None,
) -> PackedWeights:
    """Pack LSTM weights once for :func:`lstm_step`."""
    return _core.pack_lstm(w_ih, w_hh, b_ih, b_hh)


def pack_gru(
    w_ih: ArrayLike,
    w_hh: ArrayLike,
    b_ih: ArrayLike | None = None,
    b_hh: ArrayLike | None = None,
    *,
    reset_after: bool = True,
) -> PackedWeights:
    """Pack GRU weights once for :func:`gru_step`."""
    return _core.pack_gru(w_ih, w_hh, b_ih, b_hh, reset_after=reset_after)


def rnn_step(
    x_t: ArrayLike,
    h: ArrayLike | None,
    weights: PackedWeights,
    *,
    out: F32Array | None = None,
) -> F32Array:
    """One RNN step for B rows: x_t (B, I), h (B, H) → h' (B, H).

    With ``out`` (a float32 C-contiguous (B, H) array, possibly ``h`` itself) the new state is
    written there without allocating, and ``out`` is returned.
    """
    return _core.rnn_step(x_t, h, weights, out)


def lstm_step(
    x_t: ArrayLike,
    h: ArrayLike | None,
    c: ArrayLike | None,
    weights: PackedWeights,
    *,
    out: tuple[F32Array, F32Array] | None = None,
) -> tuple[F32Array, F32Array]:
    """One LSTM step: returns ``(h', c')``; ``out=(h_out, c_out)`` as in :func:`rnn_step`."""
    return _core.lstm_step(x_t, h, c, weights, out)


def gru_step(
    x_t: ArrayLike,
    h: ArrayLike | None,
    weights: PackedWeights,
    *,
    out: F32Array | None = None,
) -> F32Array:
    """One GRU step: returns h'; ``out`` as in :func:`rnn_step`."""
    return _core.gru_step(x_t, h, weights, out)
