"""SimpleRNN in NumPy: h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu.

Shapes: x (T,B,I)  h (B,H)  w_ih (H,I)  w_hh (H,H)  b_ih, b_hh (H,)  y (T,B,H).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _common as cm

ACTIVATIONS = ("tanh", "relu")


@dataclass(frozen=True, eq=False, repr=False)
class RNNSaved:
    """What rnn_backward needs, copied by rnn_forward(training=True). Read-only."""

    x: np.ndarray  # (T,B,I)
    h0: np.ndarray  # (B,H)
    w_ih: np.ndarray  # (H,I)
    w_hh: np.ndarray  # (H,H)
    b_ih: np.ndarray | None  # (H,) or None
    b_hh: np.ndarray | None  # (H,) or None
    valid: np.ndarray  # (T,B) bool: which steps ran
    reverse: bool
    activation: str
    h_prev: np.ndarray  # (T,B,H) state entering step t
    h_new: np.ndarray  # (T,B,H) state the cell produced at step t (valid rows only)


@dataclass(frozen=True, eq=False, repr=False)
class RNNWeights:
    """Weights packed by pack_rnn for rnn_step: read-only float64 copies."""

    w_ih: np.ndarray  # (H,I)
    w_hh: np.ndarray  # (H,H)
    b_ih: np.ndarray | None  # (H,) or None
    b_hh: np.ndarray | None  # (H,) or None
    activation: str


def _cell(
    x_t: np.ndarray,
    h: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b_ih: np.ndarray | None,
    b_hh: np.ndarray | None,
    activation: str,
) -> np.ndarray:
    """One step: x_t (B,I), h (B,H) -> h' (B,H)."""
    a = cm.linear(x_t, w_ih, b_ih) + cm.linear(h, w_hh, b_hh)
    h_new: np.ndarray = np.tanh(a) if activation == "tanh" else np.maximum(a, 0)
    return h_new


def rnn_forward(
    x: Any,
    h0: Any,
    w_ih: Any,
    w_hh: Any,
    b_ih: Any,
    b_hh: Any,
    *,
    activation: str = "tanh",
    lengths: Any = None,
    mask: Any = None,
    reverse: bool = False,
    training: bool = False,
) -> tuple[np.ndarray, np.ndarray, RNNSaved | None]:
    """Run a SimpleRNN over x (T,B,I) from h0 (B,H) or zeros.

    Returns y (T,B,H) (0 at invalid steps), h_n (B,H) and, when training, an RNNSaved for
    rnn_backward (else None). See docs/functional-api.md for lengths, mask and reverse.
    """
    activation = cm.check_choice("rnn_forward", "activation", activation, ACTIVATIONS)
    x, (w_ih, w_hh, b_ih, b_hh), (h0,), valid, reverse, training = cm.sequence_inputs(
        "rnn_forward", 1, x, (h0,), w_ih, w_hh, b_ih, b_hh, lengths, mask, reverse, training
    )
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    dtype = x.dtype

    y = np.zeros((steps, batch, hidden), dtype)
    h_prev = np.zeros((steps, batch, hidden), dtype)
    h_new = np.zeros((steps, batch, hidden), dtype)
    h = h0.copy()  # (B,H)
    for t in cm.step_order(steps, reverse):
        run = valid[t]  # (B,) the sequences that take step t; the others carry h unchanged
        h_prev[t] = h
        h_new[t, run] = _cell(x[t, run], h[run], w_ih, w_hh, b_ih, b_hh, activation)
        h[run] = h_new[t, run]
        y[t, run] = h_new[t, run]

    saved = None
    if training:
        copy = cm.frozen_copy
        saved = RNNSaved(
            copy(x), copy(h0), copy(w_ih), copy(w_hh), copy(b_ih), copy(b_hh), copy(valid),
            reverse,
            activation,
            copy(h_prev), copy(h_new),
        )
    return y, h, saved


def rnn_backward(
    dy: Any, dh_n: Any, saved: RNNSaved, *, return_dh_seq: bool = False
) -> dict[str, np.ndarray | None]:
    """Backpropagation through time for rnn_forward.

    dy (T,B,H) and dh_n (B,H) are dLoss/dy and dLoss/dh_n (None: zeros). Returns a fresh dict:
    x (T,B,I), h0 (B,H), w_ih (H,I), w_hh (H,H), b_ih, b_hh (H,) or None, and with
    return_dh_seq dh_seq (T,B,H), dLoss/d(state after step t).
    """
    op = "rnn_backward"
    s = cm.check_instance(
        op, "saved", saved, RNNSaved,
        "a saved object from rnnkit.reference.rnn_forward(training=True)",
    )
    dy, (dh,), return_dh_seq = cm.incoming_gradients(op, s, dy, (dh_n,), return_dh_seq)
    dx, dw_ih, dw_hh, dh_seq = cm.zero_gradients(s)
    db = np.zeros(s.w_hh.shape[0], s.x.dtype)  # (H,) one bias gradient serves b_ih and b_hh
    for t in reversed(cm.step_order(len(dy), s.reverse)):
        run = s.valid[t]  # (B,)
        dh[run] += dy[t, run]  # dh: dLoss/d(state after step t)
        dh_seq[t] = dh
        h_new = s.h_new[t, run]  # (b,H) for the b sequences that ran
        if s.activation == "tanh":
            da = dh[run] * (1 - h_new**2)  # da (b,H): dLoss/d(pre-activation)
        else:
            da = dh[run] * (h_new > 0)
        dx[t, run] = da @ s.w_ih
        dw_ih += da.T @ s.x[t, run]
        dw_hh += da.T @ s.h_prev[t, run]
        db += da.sum(axis=0)
        dh[run] = da @ s.w_hh  # rows that did not run pass their gradient through unchanged

    return cm.gradient_dict(
        s, dx, {"h0": dh}, dw_ih, dw_hh, db, db.copy(), dh_seq, return_dh_seq
    )


def pack_rnn(
    w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any, *, activation: str = "tanh"
) -> RNNWeights:
    """Copy and check the weights once for rnn_step: w_ih (H,I), w_hh (H,H), biases (H,)."""
    op = "pack_rnn"
    activation = cm.check_choice(op, "activation", activation, ACTIVATIONS)
    w_ih, w_hh, b_ih, b_hh = cm.check_weights(op, 1, w_ih, w_hh, b_ih, b_hh, np.dtype(np.float64))
    copy = cm.frozen_copy
    return RNNWeights(copy(w_ih), copy(w_hh), copy(b_ih), copy(b_hh), activation=activation)


def rnn_step(x_t: Any, h: Any, weights: RNNWeights, *, out: Any = None) -> np.ndarray:
    """One valid step: x_t (B,I), h (B,H) or None (zeros) -> h' (B,H), written to out if given."""
    op = "rnn_step"
    x_t, (w_ih, w_hh, b_ih, b_hh) = cm.step_inputs(op, x_t, weights, RNNWeights, "pack_rnn")
    dtype = x_t.dtype
    batch = x_t.shape[0]
    hidden = w_hh.shape[1]
    h = cm.array_or_zeros(op, "h", h, dtype, (batch, hidden), "(B, H)")
    if out is not None:
        cm.check_out(op, "out", out, dtype, (batch, hidden))
    h_new = _cell(x_t, h, w_ih, w_hh, b_ih, b_hh, weights.activation)
    return cm.write_out(out, h_new)
