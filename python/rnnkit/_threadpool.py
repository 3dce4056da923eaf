"""A threadpoolctl controller for rnnkit's kernels (``user_api="rnnkit"``).

With it, ``threadpoolctl.threadpool_info()`` lists rnnkit's thread count and
``threadpool_limits(limits=1)`` (or ``user_api="rnnkit"``) limits rnnkit like BLAS and OpenMP.
The counts go through the extension's C entry points ``rnnkit_get_num_threads`` /
``rnnkit_set_num_threads``, so they are the same process-wide setting as
:func:`rnnkit.set_num_threads`.
"""

from __future__ import annotations


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
        # Other packages' extensions may be called _core too: threadpoolctl keeps only a
        # library that exports one of these.
        check_symbols = ("rnnkit_get_num_threads", "rnnkit_set_num_threads")

        def get_num_threads(self) -> int:
            return int(self.dynlib.rnnkit_get_num_threads())

        def set_num_threads(self, num_threads: int) -> None:
            self.dynlib.rnnkit_set_num_threads(int(num_threads))

        def get_version(self) -> str:
            from rnnkit._version import __version__

            return __version__

    threadpoolctl.register(RnnkitController)
    return True
