"""rnnkit: fast CPU recurrent neural networks (SimpleRNN, LSTM, GRU).

C++ kernels with SIMD and OpenMP under a Keras-shaped Python API, and a pure-NumPy reference
(`rnnkit.reference`) that is both the correctness oracle and the benchmark baseline.
"""

from __future__ import annotations

from rnnkit import (
    _threadpool,
    backend,
    callbacks,
    diagnostics,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    sampling,
    text,
    utils,
)
from rnnkit._runtime import get_num_threads, info, set_num_threads
from rnnkit._version import __version__
from rnnkit.backend import floatx, get_backend, set_backend, set_floatx
from rnnkit.io import load_model
from rnnkit.models import Model, Sequential

_threadpool.register()

__all__ = [
    "Model",
    "Sequential",
    "__version__",
    "backend",
    "callbacks",
    "diagnostics",
    "floatx",
    "get_backend",
    "get_num_threads",
    "info",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "sampling",
    "set_backend",
    "set_floatx",
    "set_num_threads",
    "text",
    "utils",
]
