"""Keras-shaped layers: ``from rnnkit.layers import LSTM, Dense, Embedding, Input`` ...

Recurrent layers run on rnnkit's C++ kernels (or the NumPy reference, see
:func:`rnnkit.set_backend`); the others are vectorised NumPy. All are batch-first.
"""

from .base import Input, InputLayer, Layer, SymbolicTensor, deserialize_layer, serialize_layer
from .core import (
    Activation,
    Add,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Masking,
    RepeatVector,
    TimeDistributed,
)
from .recurrent import GRU, LSTM, Recurrent, SimpleRNN
from .wrappers import Bidirectional

serialize = serialize_layer
deserialize = deserialize_layer

__all__ = [
    "GRU",
    "LSTM",
    "Activation",
    "Add",
    "Bidirectional",
    "Concatenate",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Input",
    "InputLayer",
    "Layer",
    "Masking",
    "Recurrent",
    "RepeatVector",
    "SimpleRNN",
    "SymbolicTensor",
    "TimeDistributed",
    "deserialize",
    "serialize",
]
