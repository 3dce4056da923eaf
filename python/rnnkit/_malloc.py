"""glibc malloc settings for training loops, applied once at ``import rnnkit``.

A training step allocates and frees tens of megabytes (activations kept for backward,
gradients, the loss's arrays). glibc hands freed memory at the top of its heap back to the OS
once more than its trim threshold is free, and serves large blocks with fresh ``mmap`` calls,
so every step faulted the same memory in again. On a character LSTM(128) on 2 cores that was a
third of the training time (630,000 minor page faults for 100 steps; 1.88 s -> 1.29 s with the
settings below). Like a caching allocator, rnnkit keeps up to 256 MB free at the heap's top
and serves blocks under 32 MB from the heap.

Blocks of 32 MB and more are always mapped afresh (glibc cannot serve them from the heap), so
the activations a large training forward saves (an LSTM at (T, B, H) = (100, 64, 512) saves
52 MB of gates) were faulted in 4 KB at a time every step: a quarter of that forward. With the
settings applied, rnnkit also keeps freed saved-activation blocks that large, up to 256 MB (and
at most 1/16 of the machine's memory), and the next training forward reuses them
(:func:`activation_cache`).

Skipped off glibc, when the user set any of glibc's ``MALLOC_*_`` tunables or
``GLIBC_TUNABLES``, and with ``RNNKIT_MALLOC_TUNING=0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_BYTES = 256 * 1024 * 1024
MMAP_BYTES = 32 * 1024 * 1024  # glibc's largest mmap threshold on 64-bit
_USER_SETTINGS = (
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
    "GLIBC_TUNABLES",
)


def tune() -> bool:
    """Apply the settings; whether they were applied."""
    if os.environ.get("RNNKIT_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False  # not glibc (musl has no mallopt tunables)
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_BYTES)
    )


def activation_cache() -> None:
    """Let the kernels keep freed saved-activation blocks of 32 MB and more for reuse."""
    from rnnkit import _core

    try:
        machine = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        machine = 16 * TRIM_BYTES
    _core._set_activation_cache(min(TRIM_BYTES, machine // 16), MMAP_BYTES)
