"""``python -m rnnkit train-text FILE --distributed``, under ``mpiexec``: the single-process
command (``rnnkit._demo.train_text(..., distributed=True)``) with the error handling a group
of ranks needs.
"""

from __future__ import annotations

import sys
from typing import Any

from rnnkit import _demo
from rnnkit.distributed import _mpi


def run(**arguments: Any) -> int:
    """`rnnkit._demo.train_text` on every rank: a user error (ValueError, TypeError, OSError)
    on any rank prints one line naming the rank and aborts every rank with status 2 (a rank
    that simply returned would leave the others waiting); other exceptions abort through
    :func:`rnnkit.distributed.init`'s hook."""
    comm = _mpi.init()
    try:
        _demo.train_text(**arguments, distributed=True)
    except (ValueError, TypeError, OSError) as exc:
        if comm.Get_size() == 1:
            raise
        sys.stderr.write(f"rnnkit train-text: error on rank {comm.Get_rank()}: {exc}\n")
        sys.stderr.flush()
        comm.Abort(2)
    return 0
