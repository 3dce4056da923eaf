"""Data-parallel training on MPI: 1 rank vs N ranks at the same global batch, and the figures
of docs/distributed.md's cost model (gradient bytes per step, compute and Allreduce time).

For each shape this launches ``mpiexec -n 1`` and ``mpiexec -n N`` (the mpich wheel's, next to
this Python) running this file as a worker: a character model (Embedding(64, 32) -> LSTM(H,
return_sequences) -> Dense(64, softmax), Adam) trained with ``fit(..., distributed=True)`` on
global batches of B windows of T = 64 characters. Each rank runs rnnkit on its share of the
cores (``rnnkit.distributed.init``: cores // ranks per machine), so both runs use the whole
machine. Every worker also times, on rank 0, a step on its shard without communication and the
Allreduce of the step's flat gradient buffer alone. Each setting runs ``--rounds`` times,
interleaved with the others, and keeps its best run (a shared machine has busy spells; the
spread is printed). Prints a table with the speedup of N ranks over 1 measured in this run,
and the command.

    python bench/distributed.py [--ranks 2] [--steps 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

SHAPES = [(128, 32), (128, 128), (512, 32)]  # (H, global batch B)
VOCAB, EMBED, STEPS_T = 64, 32, 64


def worker(units: int, batch: int, steps: int, threads: int) -> None:
    import statistics

    import numpy as np
    import rnnkit
    from rnnkit import distributed
    from rnnkit.callbacks import Callback
    from rnnkit.layers import LSTM, Dense, Embedding, Input

    comm = distributed.init(threads=threads or None)
    rank, size = comm.Get_rank(), comm.Get_size()
    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential(
        [
            Input((None,), dtype="int32"),
            Embedding(VOCAB, EMBED),
            LSTM(units, return_sequences=True),
            Dense(VOCAB, activation="softmax"),
        ]
    )
    model.compile(optimizer=rnnkit.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, (batch * steps, STEPS_T))
    y = rng.integers(0, VOCAB, (batch * steps, STEPS_T))
    fit = {"batch_size": batch, "epochs": 1, "shuffle": False, "verbose": 0, "distributed": True}

    class StepTimes(Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            stamps.append(time.perf_counter())

    def median_seconds(run: object, repeats: int) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()  # type: ignore[operator]
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    model.fit(x[: 3 * batch], y[: 3 * batch], **fit)  # warm-up: packing, buffers, the pool
    comm.Barrier()
    stamps = [time.perf_counter()]
    model.fit(x, y, callbacks=[StepTimes()], **fit)
    # The median step: the machine may be shared, and a median ignores the odd slow step.
    step = statistics.median(b - a for a, b in zip(stamps, stamps[1:]))
    # The parts: a step on this rank's shard without communication, and the Allreduce alone.
    lo, hi = distributed.shard_bounds(batch, rank, size)
    _, local = model.compute_gradients(x[lo:hi], y[lo:hi])
    compute = median_seconds(lambda: model.compute_gradients(x[lo:hi], y[lo:hi]), 5)
    reducer = distributed.DistributedOptimizer(model.optimizer)
    comm.Barrier()
    allreduce = median_seconds(lambda: reducer.allreduce_gradients(local, weight=hi - lo), 30)
    if rank == 0:
        params = sum(int(w.size) for w in model.trainable_weights)
        print(
            json.dumps(
                {
                    "ranks": size,
                    "threads": rnnkit.get_num_threads(),
                    "isa": rnnkit.info()["isa"],
                    "step_s": step,
                    "gradient_s": compute,
                    "allreduce_s": allreduce,
                    "gradient_bytes": 4 * (params + 4),
                }
            )
        )


def launch(mpiexec: str, ranks: int, units: int, batch: int, steps: int, threads: int = 0) -> dict:
    """One run; ``threads`` 0 = the default, the usable cores divided by the ranks."""
    command = [mpiexec, "-n", str(ranks), sys.executable, __file__, "--worker"]
    command += [str(units), str(batch), str(steps), str(threads)]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranks", type=int, default=2, help="ranks to compare with 1")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setting (best kept)")
    parser.add_argument("--worker", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which(
        "mpiexec"
    )
    if mpiexec is None:
        raise SystemExit("no mpiexec: pip install 'rnnkit[dist]'")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"python bench/distributed.py --ranks {args.ranks} --steps {args.steps} "
        f"--rounds {args.rounds}"
    )
    print(f"{cores} usable cores; LSTM char model, T={STEPS_T}, vocab {VOCAB}, Adam")
    header = (
        f"{'H':>4} {'B':>4} {'grad KB':>8} | 1 rank ms/step: {'all cores':>9} {'1 thread':>8} | "
        f"{args.ranks} ranks: {'ms/step':>7} {'shard grad ms':>13} {'allreduce ms':>12} | "
        f"speedup vs: {'all cores':>9} {'1 thread':>8}"
    )
    print(header)
    print("-" * len(header))
    spreads = []
    for units, batch in SHAPES:
        runs: dict[str, list[dict]] = {"one": [], "serial": [], "many": []}
        for _ in range(args.rounds):  # interleaved, so that a busy spell hits every setting
            runs["one"].append(launch(mpiexec, 1, units, batch, args.steps))
            runs["serial"].append(launch(mpiexec, 1, units, batch, args.steps, threads=1))
            runs["many"].append(launch(mpiexec, args.ranks, units, batch, args.steps))
        one, serial, many = (min(r, key=lambda run: run["step_s"]) for r in runs.values())
        spreads += [
            max(x["step_s"] for x in r) / min(x["step_s"] for x in r) for r in runs.values()
        ]
        print(
            f"{units:>4} {batch:>4} {many['gradient_bytes'] / 1024:>8.0f} | "
            f"{'':>15} {one['step_s'] * 1e3:>9.1f} {serial['step_s'] * 1e3:>8.1f} | "
            f"{'':>9}{many['step_s'] * 1e3:>7.1f} {many['gradient_s'] * 1e3:>13.1f} "
            f"{many['allreduce_s'] * 1e3:>12.3f} | {'':>12}"
            f"{one['step_s'] / many['step_s']:>8.2f}x {serial['step_s'] / many['step_s']:>7.2f}x"
        )
    print(
        f"ISA {one['isa']}; 1 rank ran {one['threads']} threads (all cores) or 1; each of "
        f"{args.ranks} ranks ran {many['threads']}; each figure is the best of {args.rounds} "
        f"runs of the median step; slowest / best run of a setting: up to {max(spreads):.1f}x"
    )


if __name__ == "__main__":
    main()
