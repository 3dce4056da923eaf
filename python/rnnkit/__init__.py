"""rnnkit: fast CPU recurrent neural networks (SimpleRNN, LSTM, GRU).

C++ kernels with SIMD and OpenMP under a Keras-shaped Python API, and a pure-NumPy reference
(`rnnkit.reference`) that is both the correctness oracle and the benchmark baseline.
"""

from __future__ import annotations

from rnnkit import _threadpool
from rnnkit._runtime import get_num_threads, info, set_num_threads
from rnnkit._version import __version__

_threadpool.register()

__all__ = ["__version__", "get_num_threads", "info", "set_num_threads"]
