"""Keras's import paths for preprocessing, so ported programs run by changing the prefix.

``from tensorflow.keras.preprocessing.text import Tokenizer`` becomes
``from rnnkit.preprocessing.text import Tokenizer``; likewise ``.sequence.pad_sequences``. The
implementations live in :mod:`rnnkit.text`; nothing is defined here.
"""

from __future__ import annotations

from rnnkit.preprocessing import sequence, text

__all__ = ["sequence", "text"]
