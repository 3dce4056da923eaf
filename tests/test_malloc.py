"""``import rnnkit`` tunes glibc's malloc so a training loop does not fault its memory in again
every step (rnnkit/_malloc.py); the user's own settings and RNNKIT_MALLOC_TUNING=0 win."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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


def _faults(**env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "RNNKIT_MALLOC"))}
    out = subprocess.run(
        [sys.executable, "-c", _TRAIN],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return int(out.split()[-1])


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
