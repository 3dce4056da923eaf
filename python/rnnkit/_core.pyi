"""Type stub for rnnkit._core, the compiled extension (cpp/bindings/*.cpp).

Private: users call rnnkit.ops, which re-exports these with docstrings. Array arguments take
anything NumPy can convert (converted once to float32); flags take a Python or NumPy bool.
Letters as in rnnkit.ops: T time, B batch, I input, H hidden, G gates.
"""

from collections.abc import Sequence
from typing import Literal, SupportsIndex, final

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeAlias

_F32: TypeAlias = npt.NDArray[np.float32]
_Flag: TypeAlias = bool | np.bool_
_Grads: TypeAlias = dict[str, _F32 | None]

@final
class Saved:
    """Activations a *_forward(training=True) kept for its backward. Opaque and read-only."""

    @property
    def cell(self) -> Literal["rnn", "lstm", "gru"]: ...
    @property
    def nbytes(self) -> int: ...

@final
class PackedWeights:
    """Weights packed once for the step kernels."""

    @property
    def cell(self) -> Literal["rnn", "lstm", "gru"]: ...
    @property
    def input_size(self) -> int: ...
    @property
    def hidden_size(self) -> int: ...
    @property
    def isa(self) -> str: ...

# Runtime (module.cpp).
def available_isas() -> list[str]: ...
def get_isa() -> str: ...
def _set_isa(name: str) -> None: ...
def _vmath(
    name: Literal["exp", "sigmoid", "tanh"], x: _F32, isa: Literal["avx512", "avx2", "scalar"]
) -> _F32: ...
def get_num_threads() -> int: ...
def set_num_threads(n: SupportsIndex) -> None: ...
def default_num_threads() -> int: ...
def effective_num_threads() -> int: ...
def openmp_version() -> int: ...
def _set_activation_cache(max_bytes: int, min_bytes: int) -> None: ...
def _activation_cache_info() -> tuple[int, int]: ...

# Training helpers (training.cpp), in place; each returns False, touching nothing, when an array
# is not what it handles (the caller then takes the NumPy path).
# Adam: variables, m, v C-contiguous float32 (gradients: any float32 layout), m, v flat.
def _adam_update(
    variables: Sequence[npt.NDArray[np.generic]],
    grads: Sequence[npt.NDArray[np.generic]],
    m: npt.NDArray[np.generic],
    v: npt.NDArray[np.generic],
    alpha: float,
    one_minus_beta_1: float,
    one_minus_beta_2: float,
    epsilon: float,
    has_decay: bool,
    weight_decay: float,
    lr: float,
) -> bool: ...

# Embedding gradient: out (V,D) += rows (N,D) per id, in order; ids (N,) int64, rows, out float32.
# op(a) @ op(b) for float32 2-D arrays on rnnkit's threads; None for other operands.
def _matmul(
    a: npt.NDArray[np.generic],
    b: npt.NDArray[np.generic],
    transpose_a: bool = False,
    transpose_b: bool = False,
) -> npt.NDArray[np.float32] | None: ...
def _embedding_grad(
    ids: npt.NDArray[np.generic], rows: npt.NDArray[np.generic], out: npt.NDArray[np.generic]
) -> bool: ...

# Softmax crossentropy per row: logits, target (rows,C) float32 -> loss (rows,), grad (rows,C).
def _softmax_xent(
    logits: npt.NDArray[np.generic],
    target: npt.NDArray[np.generic],
    loss: npt.NDArray[np.generic],
    grad: npt.NDArray[np.generic],
) -> bool: ...

# SimpleRNN (rnn.cpp): x (T,B,I)  h0 (B,H)  w_ih (H,I)  w_hh (H,H)  y (T,B,H).
def rnn_forward(
    x: npt.ArrayLike,
    h0: npt.ArrayLike | None,
    w_ih: npt.ArrayLike,
    w_hh: npt.ArrayLike,
    b_ih: npt.ArrayLike | None,
    b_hh: npt.ArrayLike | None,
    activation: str = "tanh",
    lengths: npt.ArrayLike | None = None,
    mask: npt.ArrayLike | None = None,
    reverse: _Flag = False,
    training: _Flag = False,
) -> tuple[_F32, _F32, Saved | None]: ...
def rnn_backward(
    dy: npt.ArrayLike | None,
    dh_n: npt.ArrayLike | None,
    saved: Saved,
    return_dh_seq: _Flag = False,
) -> _Grads: ...
def pack_rnn(
    w_ih: npt.ArrayLike,
    w_hh: npt.ArrayLike,
    b_ih: npt.ArrayLike | None = None,
    b_hh: npt.ArrayLike | None = None,
    *,
    activation: str = "tanh",
) -> PackedWeights: ...
def rnn_step(
    x_t: npt.ArrayLike,
    h: npt.ArrayLike | None,
    weights: PackedWeights,
    out: _F32 | None = None,
) -> _F32: ...

# LSTM (lstm.cpp): w_ih (4H,I)  w_hh (4H,H)  states (h, c) each (B,H).
def lstm_forward(
    x: npt.ArrayLike,
    h0: npt.ArrayLike | None,
    c0: npt.ArrayLike | None,
    w_ih: npt.ArrayLike,
    w_hh: npt.ArrayLike,
    b_ih: npt.ArrayLike | None,
    b_hh: npt.ArrayLike | None,
    lengths: npt.ArrayLike | None = None,
    mask: npt.ArrayLike | None = None,
    reverse: _Flag = False,
    training: _Flag = False,
) -> tuple[_F32, tuple[_F32, _F32], Saved | None]: ...
def lstm_backward(
    dy: npt.ArrayLike | None,
    dstate_n: tuple[npt.ArrayLike | None, npt.ArrayLike | None] | list[npt.ArrayLike | None] | None,
    saved: Saved,
    return_dh_seq: _Flag = False,
) -> _Grads: ...
def pack_lstm(
    w_ih: npt.ArrayLike,
    w_hh: npt.ArrayLike,
    b_ih: npt.ArrayLike | None = None,
    b_hh: npt.ArrayLike | None = None,
) -> PackedWeights: ...
def lstm_step(
    x_t: npt.ArrayLike,
    h: npt.ArrayLike | None,
    c: npt.ArrayLike | None,
    weights: PackedWeights,
    out: tuple[_F32, _F32] | None = None,
) -> tuple[_F32, _F32]: ...

# GRU (gru.cpp): w_ih (3H,I)  w_hh (3H,H).
def gru_forward(
    x: npt.ArrayLike,
    h0: npt.ArrayLike | None,
    w_ih: npt.ArrayLike,
    w_hh: npt.ArrayLike,
    b_ih: npt.ArrayLike | None,
    b_hh: npt.ArrayLike | None,
    reset_after: _Flag = True,
    lengths: npt.ArrayLike | None = None,
    mask: npt.ArrayLike | None = None,
    reverse: _Flag = False,
    training: _Flag = False,
) -> tuple[_F32, _F32, Saved | None]: ...
def gru_backward(
    dy: npt.ArrayLike | None,
    dh_n: npt.ArrayLike | None,
    saved: Saved,
    return_dh_seq: _Flag = False,
) -> _Grads: ...
def pack_gru(
    w_ih: npt.ArrayLike,
    w_hh: npt.ArrayLike,
    b_ih: npt.ArrayLike | None = None,
    b_hh: npt.ArrayLike | None = None,
    *,
    reset_after: _Flag = True,
) -> PackedWeights: ...
def gru_step(
    x_t: npt.ArrayLike,
    h: npt.ArrayLike | None,
    weights: PackedWeights,
    out: _F32 | None = None,
) -> _F32: ...
