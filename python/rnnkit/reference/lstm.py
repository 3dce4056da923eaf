"""LSTM in NumPy, gates i, f, g, o (PyTorch order).

    i, f, o = sigmoid(W_i* x + b_i* + W_h* h + b_h*),  g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    c' = f * c + i * g,  h' = o * tanh(c')

Shapes: x (T,B,I)  h, c (B,H)  w_ih (4*H,I)  w_hh (4*H,H)  b_ih, b_hh (4*H,)  y (T,B,H).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _common as cm


@dataclass(frozen=True, eq=False, repr=False)
class LSTMSaved:
    """What lstm_backward needs, copied by lstm_forward(training=True). Read-only."""

    x: np.ndarray  # (T,B,I)
    h0: np.ndarray  # (B,H)
    c0: np.ndarray  # (B,H)
    w_ih: np.ndarray  # (4*H,I)
    w_hh: np.ndarray  # (4*H,H)
    b_ih: np.ndarray | None  # (4*H,) or None
    b_hh: np.ndarray | None  # (4*H,) or None
    valid: np.ndarray  # (T,B) bool: which steps ran
    reverse: bool
    h_prev: np.ndarray  # (T,B,H) h entering step t
    c_prev: np.ndarray  # (T,B,H) c entering step t
    i: np.ndarray  # (T,B,H) gate activations at step t (valid rows only)
    f: np.ndarray  # (T,B,H)
    g: np.ndarray  # (T,B,H)
    o: np.ndarray  # (T,B,H)
    c_new: np.ndarray  # (T,B,H) c the cell produced at step t


@dataclass(frozen=True, eq=False, repr=False)
class LSTMWeights:
    """Weights packed by pack_lstm for lstm_step: read-only float64 copies."""

    w_ih: np.ndarray  # (4*H,I)
    w_hh: np.ndarray  # (4*H,H)
    b_ih: np.ndarray | None  # (4*H,) or None
    b_hh: np.ndarray | None  # (4*H,) or None


def _cell(
    x_t: np.ndarray,
    h: np.ndarray,
    c: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b_ih: np.ndarray | None,
    b_hh: np.ndarray | None,
) -> tuple[np.ndarray, ...]:
    """One step: x_t (B,I), h, c (B,H) -> i, f, g, o, c', h' (B,H each)."""
    a_i, a_f, a_g, a_o = np.split(cm.linear(x_t, w_ih, b_ih) + cm.linear(h, w_hh, b_hh), 4, 1)
    i = cm.sigmoid(a_i)
    f = cm.sigmoid(a_f)
    g = np.tanh(a_g)
    o = cm.sigmoid(a_o)
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return i, f, g, o, c_new, h_new


def lstm_forward(
    x: Any,
    h0: Any,
    c0: Any,
    w_ih: Any,
    w_hh: Any,
    b_ih: Any,
    b_hh: Any,
    *,
    lengths: Any = None,
    mask: Any = None,
    reverse: bool = False,
    training: bool = False,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], LSTMSaved | None]:
    """Run an LSTM over x (T,B,I) from h0, c0 (B,H) or zeros.

    Returns y (T,B,H) (0 at invalid steps), (h_n, c_n) (B,H) and, when training, an LSTMSaved
    for lstm_backward (else None). See docs/functional-api.md for lengths, mask and reverse.
    """
    x, (w_ih, w_hh, b_ih, b_hh), (h0, c0), valid, reverse, training = cm.sequence_inputs(
        "lstm_forward", 4, x, (h0, c0), w_ih, w_hh, b_ih, b_hh, lengths, mask, reverse, training
    )
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    dtype = x.dtype

    y = np.zeros((steps, batch, hidden), dtype)
    h_prev, c_prev, i, f, g, o, c_new = (np.zeros((steps, batch, hidden), dtype) for _ in range(7))
    h = h0.copy()  # (B,H)
    c = c0.copy()  # (B,H)
    for t in cm.step_order(steps, reverse):
        run = valid[t]  # (B,) the sequences that take step t; the others carry h, c unchanged
        h_prev[t] = h
        c_prev[t] = c
        i[t, run], f[t, run], g[t, run], o[t, run], c_new[t, run], h[run] = _cell(
            x[t, run], h[run], c[run], w_ih, w_hh, b_ih, b_hh
        )
        c[run] = c_new[t, run]
        y[t, run] = h[run]

    saved = None
    if training:
        copy = cm.frozen_copy
        saved = LSTMSaved(
            copy(x), copy(h0), copy(c0), copy(w_ih), copy(w_hh), copy(b_ih), copy(b_hh),
            copy(valid),
            reverse,
            copy(h_prev), copy(c_prev), copy(i), copy(f), copy(g), copy(o), copy(c_new),
        )
    return y, (h, c), saved


def lstm_backward(
    dy: Any, dstate_n: Any, saved: LSTMSaved, *, return_dh_seq: bool = False
) -> dict[str, np.ndarray | None]:
    """Backpropagation through time for lstm_forward.

    dy (T,B,H) is dLoss/dy; dstate_n is (dh_n, dc_n), each (B,H) or None, or None (zeros).
    Returns a fresh dict: x (T,B,I), h0, c0 (B,H), w_ih (4*H,I), w_hh (4*H,H), b_ih, b_hh
    (4*H,) or None, and with return_dh_seq dh_seq (T,B,H), dLoss/d(h after step t).
    """
    op = "lstm_backward"
    s = cm.check_instance(
        op, "saved", saved, LSTMSaved,
        "a saved object from rnnkit.reference.lstm_forward(training=True)",
    )
    if dstate_n is None:
        dstate_n = (None, None)
    if not isinstance(dstate_n, (tuple, list)) or len(dstate_n) != 2:
        raise TypeError(f"[{op}] the final-state gradient must be (dh_n, dc_n) or None")
    dy, (dh, dc), return_dh_seq = cm.incoming_gradients(op, s, dy, dstate_n, return_dh_seq)
    dx, dw_ih, dw_hh, dh_seq = cm.zero_gradients(s)
    db = np.zeros(s.w_hh.shape[0], s.x.dtype)  # (4*H,) one bias gradient serves b_ih and b_hh
    for t in reversed(cm.step_order(len(dy), s.reverse)):
        run = s.valid[t]  # (B,)
        dh[run] += dy[t, run]  # dh: dLoss/d(h after step t)
        dh_seq[t] = dh
        i, f, g, o = s.i[t, run], s.f[t, run], s.g[t, run], s.o[t, run]  # (b,H) each
        tanh_c = np.tanh(s.c_new[t, run])
        dc_new = dc[run] + dh[run] * o * (1 - tanh_c**2)  # dLoss/dc' through c_n and h'
        da_i = dc_new * g * i * (1 - i)  # gradients of the gates' pre-activations
        da_f = dc_new * s.c_prev[t, run] * f * (1 - f)
        da_g = dc_new * i * (1 - g**2)
        da_o = dh[run] * tanh_c * o * (1 - o)
        da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)  # (b,4*H)
        dx[t, run] = da @ s.w_ih
        dw_ih += da.T @ s.x[t, run]
        dw_hh += da.T @ s.h_prev[t, run]
        db += da.sum(axis=0)
        dh[run] = da @ s.w_hh  # rows that did not run pass their gradients through unchanged
        dc[run] = dc_new * f

    return cm.gradient_dict(
        s, dx, {"h0": dh, "c0": dc}, dw_ih, dw_hh, db, db.copy(), dh_seq, return_dh_seq
    )


def pack_lstm(w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any) -> LSTMWeights:
    """Copy and check the weights once for lstm_step: w_ih (4*H,I), w_hh (4*H,H), biases."""
    w_ih, w_hh, b_ih, b_hh = cm.check_weights(
        "pack_lstm", 4, w_ih, w_hh, b_ih, b_hh, np.dtype(np.float64)
    )
    copy = cm.frozen_copy
    return LSTMWeights(copy(w_ih), copy(w_hh), copy(b_ih), copy(b_hh))


def lstm_step(
    x_t: Any, h: Any, c: Any, weights: LSTMWeights, *, out: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """One valid step: x_t (B,I), h, c (B,H) or None (zeros) -> (h', c') (B,H).

    With out=(h_out, c_out) the results are written there (they may be h and c themselves).
    """
    op = "lstm_step"
    x_t, (w_ih, w_hh, b_ih, b_hh) = cm.step_inputs(op, x_t, weights, LSTMWeights, "pack_lstm")
    dtype = x_t.dtype
    batch = x_t.shape[0]
    hidden = w_hh.shape[1]
    h = cm.array_or_zeros(op, "h", h, dtype, (batch, hidden), "(B, H)")
    c = cm.array_or_zeros(op, "c", c, dtype, (batch, hidden), "(B, H)")
    if out is not None:
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"[{op}] out must be a pair (h_out, c_out)")
        cm.check_out(op, "out[0]", out[0], dtype, (batch, hidden))
        cm.check_out(op, "out[1]", out[1], dtype, (batch, hidden))
    *_, c_new, h_new = _cell(x_t, h, c, w_ih, w_hh, b_ih, b_hh)
    if out is None:
        return h_new, c_new
    return cm.write_out(out[0], h_new), cm.write_out(out[1], c_new)
