"""Keras path ``preprocessing.sequence``: re-exports :func:`rnnkit.text.pad_sequences`."""

from __future__ import annotations

from rnnkit.text import pad_sequences

__all__ = ["pad_sequences"]
