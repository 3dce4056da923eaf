"""``import rnnkit`` tunes glibc's malloc so a training loop does not fault its memory in again
every step (rnnkit/_malloc.py); the user's own settings and RNNKIT_MALLOC_TUNING=0 win."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from rnnkit import _core, ops
from test_ops import CELL_PARAMS, make_problem

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's mallopt and ru_minflt are Linux's"
)

_TRAIN = r"""
import resource, numpy as np, rnnkit
from rnnkit.layers import LSTM, Dense, Embedding, Input
rnnkit.utils.set_random_seed(0)
model = rnnkit.Sequential([Input((64,), dtype="int32"), Embedding(50, 16),
                           LSTM(64, return_sequences=True), Dense(50, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
x = np.random.default_rng(0).integers(0, 50, (64, 64))
model.fit(x, x, batch_size=32, epochs=1, verbose=0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
model.fit(x, x, batch_size=32, epochs=5, verbose=0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run(program: str, **env: str) -> list[int]:
    """The integers a fresh interpreter prints running ``program``, without the caller's malloc
    settings and with ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "RNNKIT_MALLOC"))}
    out = subprocess.run(
        [sys.executable, "-c", program],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return [int(v) for v in out.split()]


def _faults(**env: str) -> int:
    return _run(_TRAIN, **env)[-1]


def test_training_steps_stop_faulting_their_memory_in() -> None:
    tuned = _faults()
    untuned = _faults(RNNKIT_MALLOC_TUNING="0")
    # 10 steps: without the tuning every step faults megabytes back in
    assert untuned > 5 * tuned and untuned > 10_000, (tuned, untuned)


def test_user_settings_win() -> None:
    from rnnkit import _malloc

    for name, value in (("RNNKIT_MALLOC_TUNING", "0"), ("MALLOC_TRIM_THRESHOLD_", "131072")):
        previous = os.environ.get(name)
        os.environ[name] = value
        try:
            assert _malloc.tune() is False
        finally:
            if previous is None:
                del os.environ[name]
            else:
                os.environ[name] = previous


# ---- the saved-activation cache (cpp/bindings/common.cpp, ActivationCache) -----------------


@pytest.fixture
def small_blocks_cached():
    """Every saved block cached (min_bytes 0), so small shapes exercise the reuse; restores the
    import-time setting after."""
    import rnnkit

    _core._set_activation_cache(64 << 20, 0)
    yield
    _core._set_activation_cache(0, 0)
    if rnnkit._malloc.tune():
        rnnkit._malloc.activation_cache()


def _train(cell, p, fwd_kw):
    y, final, saved = cell.forward(ops, p.x, p.states, p.weights, training=True, **fwd_kw)
    grads = cell.backward(ops, p.dy, p.d_final(cell), saved, return_dh_seq=True)
    return y, final, grads


VARIANTS = {
    "plain": lambda T, B: {},
    "mask-reverse": lambda T, B: {
        "mask": np.random.default_rng(2).random((T, B)) < 0.6,
        "reverse": True,
    },
    "lengths": lambda T, B: {"lengths": np.arange(B) % (T + 1)},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("cell", CELL_PARAMS)
def test_reused_blocks_give_the_fresh_blocks_results(cell, variant, small_blocks_cached):
    """A training forward that takes a cached block (still holding another call's activations,
    here from a longer sequence, so a larger block) writes every value backward reads: its
    results are bitwise those of a call on fresh memory."""
    T, B, I, H = 7, 5, 3, 9
    stale = make_problem(cell, T + 1, B, I, H, seed=1)
    _train(cell, stale, VARIANTS["plain"](T + 1, B))  # fills the cache
    assert _core._activation_cache_info()[0] >= 2
    p = make_problem(cell, T, B, I, H, seed=2)
    kw = VARIANTS[variant](T, B)
    got = _train(cell, p, kw)
    _core._set_activation_cache(0, 0)
    want = _train(cell, p, kw)
    for a, b in zip(got[:2], want[:2]):
        np.testing.assert_array_equal(a, b)
    for name in want[2]:
        np.testing.assert_array_equal(got[2][name], want[2][name], err_msg=name)


def test_the_cache_takes_blocks_back_and_stays_within_its_bound(small_blocks_cached):
    cell = CELL_PARAMS[2].values[0]  # LSTM: x, w_ih, w_hh, gates, hs and cs blocks
    p = make_problem(cell, 6, 4, 3, 8, seed=3)
    _, _, saved = cell.forward(ops, p.x, p.states, p.weights, training=True)
    assert _core._activation_cache_info() == (0, 0)  # held by saved
    nbytes = saved.nbytes
    del saved
    blocks, held = _core._activation_cache_info()
    assert blocks == 6 and held == nbytes  # nbytes counts the blocks' own sizes
    _, _, saved = cell.forward(ops, p.x, p.states, p.weights, training=True)
    assert _core._activation_cache_info() == (0, 0)  # all six taken back
    _core._set_activation_cache(held // 2, 0)  # a bound below what saved holds
    del saved
    blocks, now = _core._activation_cache_info()
    assert now <= held // 2 and blocks < 6
    _core._set_activation_cache(0, 0)
    assert _core._activation_cache_info() == (0, 0)


_LARGE_STEP = r"""
import numpy as np, rnnkit
from rnnkit import _core, ops
rng = np.random.default_rng(0)
T, B, I, H = 64, 64, 4, 512  # LSTM gates: 64*64*4*512 floats, 33.5 MB
x = rng.standard_normal((T, B, I), dtype=np.float32)
w = [0.05 * rng.standard_normal(s, dtype=np.float32) for s in [(4*H, I), (4*H, H), (4*H,), (4*H,)]]
y, _, saved = ops.lstm_forward(x, None, None, *w, training=True)
ops.lstm_backward(np.ones_like(y), None, saved)
del saved
print(*_core._activation_cache_info())
"""


def test_only_blocks_glibc_would_map_afresh_are_kept_and_only_when_tuning() -> None:
    blocks, nbytes = _run(_LARGE_STEP)
    assert blocks == 1 and nbytes >= 32 << 20  # the gates; hs and cs (8 MB) are glibc's
    assert _run(_LARGE_STEP, RNNKIT_MALLOC_TUNING="0") == [0, 0]
