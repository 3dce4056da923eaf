"""A threadpoolctl controller for rnnkit's kernels (``user_api="rnnkit"``).

With it, ``threadpoolctl.threadpool_info()`` lists rnnkit's thread count and
``threadpool_limits(limits=1)`` (or ``user_api="rnnkit"``) limits rnnkit like BLAS and OpenMP.
The counts go through the extension's C entry points ``rnnkit_get_num_threads`` /
``rnnkit_set_num_threads``, so they are the same process-wide setting as
:func:`rnnkit.set_num_threads`.
"""

from __future__ import annotations

from typing import Any


def register() -> bool:
    """Register the controller with threadpoolctl if it is installed; True if registered."""
    try:
        import threadpoolctl
    except ImportError:
        return False
    if "rnnkit" in getattr(threadpoolctl, "_ALL_USER_APIS", []):
        return True

    class RnnkitController(threadpoolctl.LibController):  # type: ignore[misc]
        user_api = "rnnkit"
        internal_api = "rnnkit"
        filename_prefixes = ("_core.",)

        def _symbol(self, name: str) -> Any:
            # Another package's extension may also be called _core: only ours has the symbol.
            return getattr(self.dynlib, name, None)

        def get_num_threads(self) -> int | None:
            getter = self._symbol("rnnkit_get_num_threads")
            return int(getter()) if getter is not None else None

        def set_num_threads(self, num_threads: int) -> None:
            setter = self._symbol("rnnkit_set_num_threads")
            if setter is not None:
                setter(int(num_threads))

        def get_version(self) -> str | None:
            from rnnkit._version import __version__

            return __version__ if self._symbol("rnnkit_get_num_threads") else None

    threadpoolctl.register(RnnkitController)
    return True
