"""Data-parallel training on MPI: a GRU learns whether a noisy sequence's sum is positive.

    pip install 'rnnkit[dist]'
    mpiexec -n 2 python examples/distributed_mpi_train.py
    python examples/distributed_mpi_train.py             # the same program on one rank

Every rank runs this same program on the same data. ``fit(..., distributed=True)`` gives each
rank its slice of every global batch of 64, averages the gradients with one Allreduce per step
and keeps the replicas bitwise identical; only rank 0 prints progress and writes the model.

Printed here (2 cores, so 2 ranks of 1 thread each; ``mpiexec -n 2``):

    2 rank(s) x 1 thread(s); 4,000 sequences of 30 steps, global batch 64
    epoch 1: loss 0.4201
    epoch 2: loss 0.1310
    epoch 3: loss 0.0984
    test accuracy 0.962; weights identical on every rank: True
    fit: 0.3 s; saved distributed_gru.rnnkit

and without ``mpiexec`` (one rank of 2 threads) the same losses and accuracy, in 0.3 s: the
two ranks trained on the same global batches as the single process.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time

import numpy as np
import rnnkit
from rnnkit import distributed
from rnnkit.callbacks import LambdaCallback
from rnnkit.layers import GRU, Dense, Input

comm = distributed.init()  # MPI, the abort-on-error hook, and cores // local ranks threads
root = distributed.is_root()
rnnkit.utils.set_random_seed(0)  # the same data on every rank; rank 0's weights are used

rng = np.random.default_rng(0)
x = rng.normal(size=(5000, 30, 1)).astype(np.float32)
y = (x.sum(axis=(1, 2)) > 0).astype(np.float32)[:, None]
x_train, y_train, x_test, y_test = x[:4000], y[:4000], x[4000:], y[4000:]

model = rnnkit.Sequential([Input((30, 1)), GRU(32), Dense(1, activation="sigmoid")])
model.compile(optimizer=rnnkit.optimizers.Adam(3e-3), loss="binary_crossentropy")
if root:
    print(
        f"{comm.Get_size()} rank(s) x {rnnkit.get_num_threads()} thread(s); "
        f"{len(x_train):,} sequences of 30 steps, global batch 64"
    )
report = LambdaCallback(
    on_epoch_end=lambda epoch, logs: root and print(f"epoch {epoch + 1}: loss {logs['loss']:.4f}")
)
started = time.perf_counter()
model.fit(
    x_train, y_train, batch_size=64, epochs=3, verbose=0, callbacks=[report], distributed=True
)
elapsed = time.perf_counter() - started

digest = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()
identical = len(set(comm.allgather(digest))) == 1
if root:
    accuracy = float(np.mean((model.predict(x_test, verbose=0) > 0.5) == y_test))
    out = (
        sys.argv[1]
        if len(sys.argv) > 1
        else os.path.join(tempfile.gettempdir(), "distributed_gru.rnnkit")
    )
    model.save(out)
    print(f"test accuracy {accuracy:.3f}; weights identical on every rank: {identical}")
    print(f"fit: {elapsed:.1f} s; saved {os.path.basename(out)}")
