"""rnnkit beyond one machine: MPI data-parallel training, Dask/Ray batch inference.

Training (``pip install 'rnnkit[dist]'``: mpi4py and the mpich wheel), started by ``mpiexec``:

    mpiexec -n 2 python train.py          # train.py calls model.fit(..., distributed=True)
    mpiexec -n 2 python -m rnnkit train-text FILE --distributed

Every rank holds a replica, trains on its slice of every global batch with the same kernels,
and one ``Allreduce`` per step over one flat buffer averages the gradients weighted by each
rank's count of examples or unmasked tokens, so uneven slices average exactly (Horovod's
design). Importing this package does not start MPI; the first call that needs it does.

Batch inference: :func:`predict_partitions` runs ``model.predict`` over a large array in a Dask
cluster; :class:`ModelPredictor` is the picklable callable for Ray Data's ``map_batches`` (or
any worker pool). The model travels as its file bytes, loaded once per worker process.

docs/distributed.md has the weighting, the failure handling and a cost model for a cluster.
"""

from __future__ import annotations

from rnnkit.distributed._inference import (
    ModelPredictor,
    load_once,
    model_bytes,
    predict_partitions,
)
from rnnkit.distributed._mpi import (
    INSTALL_HINT,
    DistributedOptimizer,
    broadcast_weights,
    check_consistent,
    init,
    is_root,
    local_size,
    rank,
    shard_bounds,
    size,
    usable_cores,
    world,
)

__all__ = [
    "INSTALL_HINT",
    "DistributedOptimizer",
    "ModelPredictor",
    "broadcast_weights",
    "check_consistent",
    "init",
    "is_root",
    "load_once",
    "local_size",
    "model_bytes",
    "predict_partitions",
    "rank",
    "shard_bounds",
    "size",
    "usable_cores",
    "world",
]
