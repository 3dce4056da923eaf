"""Utilities with Keras's names: seeding, the batch-sequence base class for ``fit``, and the
Keras paths of ``to_categorical`` and ``pad_sequences`` (defined in :mod:`rnnkit.text`)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from rnnkit import _random
from rnnkit._categorical import to_categorical
from rnnkit.text import pad_sequences

__all__ = ["PyDataset", "Sequence", "pad_sequences", "set_random_seed", "to_categorical"]


def set_random_seed(seed: int) -> None:
    """Seed every random source rnnkit uses: initializers, dropout, shuffling.

    Also seeds Python's :mod:`random` and NumPy's legacy global generator, as Keras does. With
    the same seed, thread count and SIMD path, training gives bitwise the same weights.

    Raises:
        ValueError: `seed` is not a non-negative integer.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    _random.seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


class Sequence:
    """Base class for a dataset of batches that ``Model.fit`` indexes (Keras's ``Sequence``).

    Subclasses define ``__len__`` (batches per epoch) and ``__getitem__(i)`` returning
    ``(x, y)`` or ``(x, y, sample_weight)``; ``on_epoch_end`` runs after every epoch. rnnkit
    loads batches in the calling thread: ``workers``, ``use_multiprocessing`` and
    ``max_queue_size`` are accepted for compatibility and do not start workers.
    """

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ) -> None:
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def on_epoch_end(self) -> None:
        """Called by ``fit`` after each epoch (e.g. to reshuffle)."""


PyDataset = Sequence
