"""rnnkit: fast CPU recurrent neural networks (SimpleRNN, LSTM, GRU).

C++ kernels with SIMD and OpenMP under a Keras-shaped Python API, and a pure-NumPy reference
(`rnnkit.reference`) that is both the correctness oracle and the benchmark baseline.
"""

from __future__ import annotations

import os as _os

# libgomp's idle threads spin for GOMP_SPINCOUNT iterations (default 300,000, about 10 ms)
# before sleeping. On a loaded machine a spinning worker holds a core that another process (or
# NumPy's BLAS threads) needs, and every per-step barrier then waits a scheduler slice: a
# 2-thread forward measured 4x slower with one core busy. About 0.5 ms of spinning keeps
# barriers fast on an idle machine and sleeps soon enough under load. Set before the extension
# loads libgomp; an explicit user setting wins. (Measured in BENCHMARKS.md.)
_os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from rnnkit import _malloc  # before anything allocates much

if _malloc.tune():
    _malloc.activation_cache()

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
