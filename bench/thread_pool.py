"""model.predict from a ThreadPoolExecutor: how to split the cores between Python threads and
rnnkit's threads.

    python bench/thread_pool.py            # the table in BENCHMARKS.md and the README

The kernels release the GIL, so Python threads run predictions at the same time. The thread
count (rnnkit.set_num_threads) is process-wide: every kernel call, from any Python thread,
uses that many OpenMP threads. So the total is workers x rnnkit threads, and it should not
exceed the cores. This script serves the same requests (``requests`` calls of
``model.predict`` on ``batch`` sequences each) four ways on the same model, checks that every
way returns bitwise the same predictions, and prints the throughput of each as the median of
``repeats`` runs:

* 1 worker x 2 rnnkit threads (one caller; the kernels use both cores),
* 2 workers x 1 rnnkit thread (two callers, one core each),
* 2 workers x 2 rnnkit threads (oversubscribed: 4 threads on 2 cores),
* 1 worker x 1 rnnkit thread (the single-core baseline).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import rnnkit
from rnnkit.layers import LSTM, Dense, Input


def build_model(steps: int, features: int, units: int) -> rnnkit.Model:
    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential([Input((steps, features)), LSTM(units), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def serve(
    model: rnnkit.Model, requests: list[np.ndarray], workers: int, threads: int
) -> tuple[float, list[np.ndarray]]:
    """(seconds, predictions) for all requests with ``workers`` Python threads."""
    rnnkit.set_num_threads(threads)
    batch = len(requests[0])

    def predict(x: np.ndarray) -> np.ndarray:
        return model.predict(x, batch_size=batch, verbose=0)

    start = time.perf_counter()
    if workers == 1:
        out = [predict(x) for x in requests]
    else:
        with ThreadPoolExecutor(workers) as pool:
            out = list(pool.map(predict, requests))
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    model = build_model(args.steps, args.features, args.units)
    rng = np.random.default_rng(1)
    requests = [
        rng.standard_normal((args.batch, args.steps, args.features)).astype(np.float32)
        for _ in range(args.requests)
    ]
    configs = [(1, 2), (2, 1), (2, 2), (1, 1)]
    serve(model, requests[:4], 2, 1)  # warm-up
    times: dict[tuple[int, int], list[float]] = {c: [] for c in configs}
    reference = None
    for _ in range(args.repeats):
        for config in configs:  # interleaved, so load drifts hit every configuration alike
            seconds, out = serve(model, requests, *config)
            times[config].append(seconds)
            if reference is None:
                reference = out
            elif not all(np.array_equal(a, b) for a, b in zip(out, reference)):
                raise SystemExit(f"workers x threads = {config} gave different predictions")

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    sequences = args.requests * args.batch
    print(
        f"model.predict, LSTM({args.units}) on (T={args.steps}, F={args.features}), "
        f"{args.requests} requests of {args.batch} sequences; {cores} cores, "
        f"ISA {rnnkit.info()['isa']}; median of {args.repeats}"
    )
    print("  workers x rnnkit threads   sequences/s   vs 1 x 1")
    base = statistics.median(times[1, 1])
    for (workers, threads), values in times.items():
        median = statistics.median(values)
        print(f"  {workers} x {threads}{'':22s}{sequences / median:11,.0f}   {base / median:6.2f}x")
    print("  predictions: bitwise identical in every configuration")


if __name__ == "__main__":
    main()
