"""The process-wide random generator behind initializers, dropout and shuffling.

:func:`rnnkit.utils.set_random_seed` reseeds it, so the same seed (and the same thread count and
SIMD path) gives bitwise the same trained weights. Checkpoints save and restore its state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

_generator = np.random.default_rng()


def generator() -> np.random.Generator:
    """The current global generator (replaced, not mutated, by :func:`seed`)."""
    return _generator


def seed(value: int) -> None:
    """Replace the global generator by a fresh one seeded with `value`."""
    global _generator
    _generator = np.random.default_rng(value)


def get_state() -> Mapping[str, Any]:
    """The generator's bit-generator state (a JSON-friendly dict), for checkpoints."""
    return _generator.bit_generator.state


def set_state(state: Mapping[str, Any]) -> None:
    """Restore a state returned by :func:`get_state`."""
    _generator.bit_generator.state = state
