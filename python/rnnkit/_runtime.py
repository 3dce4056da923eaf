"""Process-wide runtime settings: threads and the SIMD path in use."""

from __future__ import annotations

from typing import Any

from rnnkit import _core
from rnnkit._version import __version__


def set_num_threads(n: int) -> None:
    """Set the number of threads every rnnkit kernel uses, process-wide.

    Unlike ``omp_set_num_threads`` (per calling thread in libgomp), this reaches kernels called
    from any Python thread. The default is ``OMP_NUM_THREADS`` if set, else the usable cores.
    A ``fork()``-ed child runs the kernels on one thread whatever this says.
    """
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads rnnkit kernels use (see :func:`set_num_threads`)."""
    return int(_core.get_num_threads())


def info() -> dict[str, Any]:
    """Version, SIMD path in use, paths this CPU has, and thread counts."""
    return {
        "version": __version__,
        "isa": _core.get_isa(),
        "isas_available": list(_core.available_isas()),
        "num_threads": _core.get_num_threads(),
        "effective_num_threads": _core.effective_num_threads(),
        "openmp": _core.openmp_version(),
    }
