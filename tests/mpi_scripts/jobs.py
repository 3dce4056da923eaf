"""Jobs that tests/test_distributed.py runs under ``mpiexec -n 2``, one per subcommand:

    mpiexec -n 2 python tests/mpi_scripts/jobs.py fit OUT_DIR        distributed fit, weights out
    mpiexec -n 2 python tests/mpi_scripts/jobs.py gradient OUT_DIR   averaged uneven-shard grads
    mpiexec -n 2 python tests/mpi_scripts/jobs.py fail               rank 1 raises mid-training
    mpiexec -n 2 python tests/mpi_scripts/jobs.py mismatch KIND      ranks differ (config, ...)
    mpiexec -n 2 python tests/mpi_scripts/jobs.py stop OUT_DIR       rank 0 alone stops training
    mpiexec -n 2 python tests/mpi_scripts/jobs.py streams OUT_DIR    random draws during epochs
    mpiexec -n 2 python tests/mpi_scripts/jobs.py resume OUT_DIR     Adam, checkpoint, resume
    python tests/mpi_scripts/jobs.py single                        one rank, no mpiexec

The test imports this file too, for the data and the model of the single-process oracle.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import rnnkit
from rnnkit.callbacks import Callback, ModelCheckpoint
from rnnkit.layers import LSTM, Dense, Embedding, Input

VOCAB, STEPS = 11, 9
EXAMPLES, BATCH, EPOCHS = 23, 5, 2  # 23 = 4 batches of 5 + one of 3: shards of 3|2 and 2|1
ROOT_SEED = 1000  # rank r seeds 1000 + r: rank 0's weights and RNG state must win


def data(n: int = EXAMPLES, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Post-padded token ids (0 = padding, masked), next-token targets, sample weights."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, STEPS + 1, n)
    x = rng.integers(1, VOCAB, (n, STEPS))
    x[np.arange(STEPS)[None, :] >= lengths[:, None]] = 0
    y = rng.integers(0, VOCAB, (n, STEPS))
    return x, y, rng.uniform(0.5, 2.0, n)


def build(seed: int, units: int = 8) -> rnnkit.Sequential:
    rnnkit.utils.set_random_seed(seed)
    model = rnnkit.Sequential(
        [
            Input((None,), dtype="int32"),
            Embedding(VOCAB, 6, mask_zero=True),
            LSTM(units, return_sequences=True),
            Dense(VOCAB, activation="softmax"),
        ]
    )
    model.compile(optimizer=rnnkit.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    return model


def train(model: rnnkit.Sequential, distributed: bool, callbacks: list | None = None) -> list:
    x, y, sw = data()
    history = model.fit(
        x,
        y,
        sample_weight=sw,
        batch_size=BATCH,
        epochs=EPOCHS,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
        distributed=distributed,
    )
    return history.history["loss"]


def save(out: str, rank: int, model: rnnkit.Sequential, **extra: object) -> None:
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    np.savez(os.path.join(out, f"rank{rank}.npz"), **arrays, **extra)


def job_fit(rank: int, out: str) -> None:
    model = build(ROOT_SEED + rank)
    losses = train(model, distributed=True)
    cores = np.array(sorted(os.sched_getaffinity(0)))
    save(out, rank, model, loss=np.array(losses), cores=cores, threads=rnnkit.get_num_threads())


def job_gradient(rank: int, out: str) -> None:
    from rnnkit.distributed import DistributedOptimizer, shard_bounds

    model = build(ROOT_SEED)
    x, y, sw = data(7)
    start, stop = shard_bounds(7, rank, 2)  # 4 | 3 sequences
    _, grads = model.compute_gradients(x[start:stop], y[start:stop], sample_weight=sw[start:stop])
    tokens = np.count_nonzero(x[start:stop])  # the masked loss divides by its unmasked tokens
    reducer = DistributedOptimizer(model.optimizer)
    averaged = reducer.allreduce_gradients(grads, weight=tokens)
    by_examples = reducer.allreduce_gradients(grads, weight=stop - start)
    save(
        out,
        rank,
        model,
        **{f"avg{i}": g for i, g in enumerate(averaged)},
        **{f"examples{i}": g for i, g in enumerate(by_examples)},
    )


class _FailOnRank1(Callback):
    """Rank 1 raises at its third step while rank 0 waits in the step's Allreduce."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.rank == 1 and batch == 2:
            raise RuntimeError("boom on purpose")


def job_fail(rank: int) -> None:
    train(build(ROOT_SEED), distributed=True, callbacks=[_FailOnRank1(rank)])


def job_mismatch(rank: int, kind: str) -> None:
    units = 9 if kind == "config" and rank == 1 else 8
    if kind == "version" and rank == 1:
        rnnkit._version.__version__ += "+other"  # as if rank 1 ran another install
    model = build(ROOT_SEED, units=units)
    n = EXAMPLES + BATCH if kind == "data" and rank == 1 else EXAMPLES
    x, y, _ = data(n)
    try:
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, distributed=True)
    except RuntimeError as exc:
        print(f"rank {rank} refused: {exc}", flush=True)
        return
    print(f"rank {rank} trained", flush=True)


class _StopOnRoot(Callback):
    """Rank 0 alone asks to stop after the first epoch: every rank must stop with it."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.rank == 0:
            self.model.stop_training = True


def job_stop(rank: int, out: str) -> None:
    model = build(ROOT_SEED)
    # Every rank is given a checkpoint writer (its own file name): rank 0's alone may write.
    writer = ModelCheckpoint(os.path.join(out, f"checkpoint-of-rank{rank}.rnnkit"))
    losses = train(model, distributed=True, callbacks=[_StopOnRoot(rank), writer])
    save(out, rank, model, loss=np.array(losses))


class _Draws(Callback):
    """What the global generator gives at each step (dropout draws from it)."""

    def __init__(self) -> None:
        super().__init__()
        self.draws: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        from rnnkit import _random

        self.draws.append(float(_random.generator().random()))


def job_streams(rank: int, out: str) -> None:
    from rnnkit import _random

    rnnkit.utils.set_random_seed(ROOT_SEED + rank)
    model = rnnkit.Sequential(
        [Input((STEPS,), dtype="int32"), Embedding(VOCAB, 6), LSTM(8, dropout=0.3), Dense(VOCAB)]
    )
    model.compile(optimizer=rnnkit.optimizers.SGD(0.1), loss="mse")
    x, y, _ = data()
    draws = _Draws()
    model.fit(
        x,
        np.eye(VOCAB)[y[:, 0]],
        batch_size=BATCH,
        epochs=2,
        verbose=0,
        callbacks=[draws],
        distributed=True,
    )
    after = float(_random.generator().random())
    save(out, rank, model, draws=np.array(draws.draws), after=np.array(after))


def resume_run(out: str, rank: int, distributed: bool) -> rnnkit.Sequential:
    """One epoch with Adam, a checkpoint (rank 0's), then a resumed second epoch."""
    model = build(ROOT_SEED + rank)
    model.compile(optimizer=rnnkit.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    x, y, _ = data()
    fit = {"batch_size": BATCH, "verbose": 0, "distributed": distributed}
    model.fit(x, y, epochs=1, **fit)
    checkpoint = os.path.join(out, "resume.ckpt")
    if rank == 0:
        model.save_checkpoint(checkpoint)
    resumed = build(ROOT_SEED + 10 + rank)  # fresh weights and optimizer: all from the file
    resumed.compile(optimizer=rnnkit.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    if distributed:
        from rnnkit import distributed as dist

        dist.world().Barrier()  # the file is complete before rank 0 reads it
    resumed.fit(x, y, epochs=2, resume_from=checkpoint, **fit)
    return resumed


def job_resume(rank: int, out: str) -> None:
    save(out, rank, resume_run(out, rank, distributed=True))


def job_single() -> None:
    """Without mpiexec: one rank, which trains exactly like plain fit; bad inputs are named."""
    from rnnkit.distributed import DistributedOptimizer

    plain, distributed = build(ROOT_SEED), build(ROOT_SEED + 1)
    distributed.set_weights(plain.get_weights())
    rnnkit.utils.set_random_seed(5)
    train(plain, distributed=False)
    rnnkit.utils.set_random_seed(5)
    train(distributed, distributed=True)
    same = all(np.array_equal(a, b) for a, b in zip(plain.get_weights(), distributed.get_weights()))
    print(f"one rank equals plain fit: {same}")
    reducer = DistributedOptimizer(plain.optimizer)
    for grads, weight in (([None], 1.0), ([np.ones(2)], -1.0)):
        try:
            reducer.allreduce_gradients(grads, weight=weight)
        except ValueError as exc:
            print(f"refused: {exc}")


def main(argv: list[str]) -> None:
    from rnnkit import distributed

    rank = distributed.rank()
    job, *args = argv
    if job == "fit":
        job_fit(rank, args[0])
    elif job == "gradient":
        job_gradient(rank, args[0])
    elif job == "fail":
        job_fail(rank)
    elif job == "mismatch":
        job_mismatch(rank, args[0])
    elif job == "stop":
        job_stop(rank, args[0])
    elif job == "streams":
        job_streams(rank, args[0])
    elif job == "resume":
        job_resume(rank, args[0])
    elif job == "single":
        job_single()
    else:
        raise SystemExit(f"unknown job {job!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
