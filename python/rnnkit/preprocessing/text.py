"""Keras path ``preprocessing.text``: re-exports :mod:`rnnkit.text`'s tokenizer tools."""

from __future__ import annotations

from rnnkit.text import Tokenizer, text_to_word_sequence, tokenizer_from_json

__all__ = ["Tokenizer", "text_to_word_sequence", "tokenizer_from_json"]
