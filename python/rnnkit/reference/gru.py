"""GRU in NumPy, gates r, z, n (PyTorch order).

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    reset_after=True (PyTorch, Keras 3):  n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    reset_after=False (Cho et al. 2014):  n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
    h' = (1 - z) * n + z * h

Shapes: x (T,B,I)  h (B,H)  w_ih (3*H,I)  w_hh (3*H,H)  b_ih, b_hh (3*H,)  y (T,B,H).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _common as cm


@dataclass(frozen=True, eq=False, repr=False)
class GRUSaved:
    """What gru_backward needs, copied by gru_forward(training=True). Read-only."""

    x: np.ndarray  # (T,B,I)
    h0: np.ndarray  # (B,H)
    w_ih: np.ndarray  # (3*H,I)
    w_hh: np.ndarray  # (3*H,H)
    b_ih: np.ndarray | None  # (3*H,) or None
    b_hh: np.ndarray | None  # (3*H,) or None
    valid: np.ndarray  # (T,B) bool: which steps ran
    reverse: bool
    reset_after: bool
    h_prev: np.ndarray  # (T,B,H) state entering step t
    r: np.ndarray  # (T,B,H) gate activations at step t (valid rows only)
    z: np.ndarray  # (T,B,H)
    n: np.ndarray  # (T,B,H)
    hn: np.ndarray | None  # (T,B,H) W_hn h + b_hn when reset_after, else None


@dataclass(frozen=True, eq=False, repr=False)
class GRUWeights:
    """Weights packed by pack_gru for gru_step: read-only float64 copies."""

    w_ih: np.ndarray  # (3*H,I)
    w_hh: np.ndarray  # (3*H,H)
    b_ih: np.ndarray | None  # (3*H,) or None
    b_hh: np.ndarray | None  # (3*H,) or None
    reset_after: bool


def _cell(
    x_t: np.ndarray,
    h: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b_ih: np.ndarray | None,
    b_hh: np.ndarray | None,
    reset_after: bool,
) -> tuple[Any, ...]:
    """One step: x_t (B,I), h (B,H) -> r, z, n, hn (None unless reset_after), h' (B,H each)."""
    w_ir, w_iz, w_in = cm.gate_blocks(w_ih, 3)  # (H,I) each
    w_hr, w_hz, w_hn = cm.gate_blocks(w_hh, 3)  # (H,H) each
    b_ir, b_iz, b_in = cm.gate_blocks(b_ih, 3)  # (H,) each, or None
    b_hr, b_hz, b_hn = cm.gate_blocks(b_hh, 3)
    r = cm.sigmoid(cm.linear(x_t, w_ir, b_ir) + cm.linear(h, w_hr, b_hr))
    z = cm.sigmoid(cm.linear(x_t, w_iz, b_iz) + cm.linear(h, w_hz, b_hz))
    if reset_after:
        hn = cm.linear(h, w_hn, b_hn)
        n = np.tanh(cm.linear(x_t, w_in, b_in) + r * hn)
    else:
        hn = None
        n = np.tanh(cm.linear(x_t, w_in, b_in) + cm.linear(r * h, w_hn, b_hn))
    h_new = (1 - z) * n + z * h
    return r, z, n, hn, h_new


def gru_forward(
    x: Any,
    h0: Any,
    w_ih: Any,
    w_hh: Any,
    b_ih: Any,
    b_hh: Any,
    *,
    reset_after: bool = True,
    lengths: Any = None,
    mask: Any = None,
    reverse: bool = False,
    training: bool = False,
) -> tuple[np.ndarray, np.ndarray, GRUSaved | None]:
    """Run a GRU over x (T,B,I) from h0 (B,H) or zeros.

    Returns y (T,B,H) (0 at invalid steps), h_n (B,H) and, when training, a GRUSaved for
    gru_backward (else None). See docs/functional-api.md for lengths, mask and reverse.
    """
    reset_after = cm.check_flag("gru_forward", "reset_after", reset_after)
    x, (w_ih, w_hh, b_ih, b_hh), (h0,), valid, reverse, training = cm.sequence_inputs(
        "gru_forward", 3, x, (h0,), w_ih, w_hh, b_ih, b_hh, lengths, mask, reverse, training
    )
    steps, batch, _ = x.shape
    hidden = w_hh.shape[1]
    dtype = x.dtype

    y = np.zeros((steps, batch, hidden), dtype)
    h_prev, r, z, n, hn = (np.zeros((steps, batch, hidden), dtype) for _ in range(5))
    h = h0.copy()  # (B,H)
    for t in cm.step_order(steps, reverse):
        run = valid[t]  # (B,) the sequences that take step t; the others carry h unchanged
        h_prev[t] = h
        r[t, run], z[t, run], n[t, run], hn_t, h[run] = _cell(
            x[t, run], h[run], w_ih, w_hh, b_ih, b_hh, reset_after
        )
        if reset_after:
            hn[t, run] = hn_t
        y[t, run] = h[run]

    saved = None
    if training:
        copy = cm.frozen_copy
        saved = GRUSaved(
            copy(x), copy(h0), copy(w_ih), copy(w_hh), copy(b_ih), copy(b_hh), copy(valid),
            reverse,
            reset_after,
            copy(h_prev), copy(r), copy(z), copy(n), copy(hn if reset_after else None),
        )
    return y, h, saved


def gru_backward(
    dy: Any, dh_n: Any, saved: GRUSaved, *, return_dh_seq: bool = False
) -> dict[str, np.ndarray | None]:
    """Backpropagation through time for gru_forward.

    dy (T,B,H) and dh_n (B,H) are dLoss/dy and dLoss/dh_n (None: zeros). Returns a fresh dict:
    x (T,B,I), h0 (B,H), w_ih (3*H,I), w_hh (3*H,H), b_ih, b_hh (3*H,) or None, and with
    return_dh_seq dh_seq (T,B,H), dLoss/d(state after step t).
    """
    op = "gru_backward"
    s = cm.check_instance(
        op, "saved", saved, GRUSaved,
        "a saved object from rnnkit.reference.gru_forward(training=True)",
    )
    dy, (dh,), return_dh_seq = cm.incoming_gradients(op, s, dy, (dh_n,), return_dh_seq)
    w_hr, w_hz, w_hn = cm.gate_blocks(s.w_hh, 3)  # (H,H) each
    dx, dw_ih, dw_hh, dh_seq = cm.zero_gradients(s)
    dw_hr, dw_hz, dw_hn = cm.gate_blocks(dw_hh, 3)  # views: updating them fills dw_hh
    db_ih = np.zeros(s.w_hh.shape[0], s.x.dtype)  # (3*H,)
    db_hh = np.zeros(s.w_hh.shape[0], s.x.dtype)
    for t in reversed(cm.step_order(len(dy), s.reverse)):
        run = s.valid[t]  # (B,)
        dh[run] += dy[t, run]  # dh: dLoss/d(state after step t)
        dh_seq[t] = dh
        h, r, z, n = s.h_prev[t, run], s.r[t, run], s.z[t, run], s.n[t, run]  # (b,H) each
        dh_out = dh[run]
        dn = dh_out * (1 - z)
        da_z = dh_out * (h - n) * z * (1 - z)  # gradients of the gates' pre-activations
        da_n = dn * (1 - n**2)
        if s.reset_after:
            assert s.hn is not None  # GRUSaved keeps hn exactly when reset_after
            hn = s.hn[t, run]
            da_r = da_n * hn * r * (1 - r)
            dhn = da_n * r  # dLoss/d(W_hn h + b_hn)
            dh_through_n = dhn @ w_hn
            dw_hn += dhn.T @ h
        else:
            drh = da_n @ w_hn  # dLoss/d(r * h)
            da_r = drh * h * r * (1 - r)
            dhn = da_n
            dh_through_n = drh * r
            dw_hn += da_n.T @ (r * h)
        da_in = np.concatenate([da_r, da_z, da_n], axis=1)  # (b,3*H) input side
        dx[t, run] = da_in @ s.w_ih
        dw_ih += da_in.T @ s.x[t, run]
        db_ih += da_in.sum(axis=0)
        dw_hr += da_r.T @ h
        dw_hz += da_z.T @ h
        db_hh += np.concatenate([da_r, da_z, dhn], axis=1).sum(axis=0)
        # rows that did not run pass their gradient through unchanged
        dh[run] = dh_out * z + da_r @ w_hr + da_z @ w_hz + dh_through_n

    return cm.gradient_dict(s, dx, {"h0": dh}, dw_ih, dw_hh, db_ih, db_hh, dh_seq, return_dh_seq)


def pack_gru(
    w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any, *, reset_after: bool = True
) -> GRUWeights:
    """Copy and check the weights once for gru_step: w_ih (3*H,I), w_hh (3*H,H), biases."""
    op = "pack_gru"
    reset_after = cm.check_flag(op, "reset_after", reset_after)
    w_ih, w_hh, b_ih, b_hh = cm.check_weights(op, 3, w_ih, w_hh, b_ih, b_hh, np.dtype(np.float64))
    copy = cm.frozen_copy
    return GRUWeights(copy(w_ih), copy(w_hh), copy(b_ih), copy(b_hh), reset_after=reset_after)


def gru_step(x_t: Any, h: Any, weights: GRUWeights, *, out: Any = None) -> np.ndarray:
    """One valid step: x_t (B,I), h (B,H) or None (zeros) -> h' (B,H), written to out if given."""
    op = "gru_step"
    x_t, (w_ih, w_hh, b_ih, b_hh) = cm.step_inputs(op, x_t, weights, GRUWeights, "pack_gru")
    dtype = x_t.dtype
    batch = x_t.shape[0]
    hidden = w_hh.shape[1]
    h = cm.array_or_zeros(op, "h", h, dtype, (batch, hidden), "(B, H)")
    if out is not None:
        cm.check_out(op, "out", out, dtype, (batch, hidden))
    *_, h_new = _cell(x_t, h, w_ih, w_hh, b_ih, b_hh, weights.reset_after)
    return cm.write_out(out, h_new)
