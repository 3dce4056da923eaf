"""How long after SIGINT a long kernel call returns (issue 8: the latency figure for README).

Each run is a fresh subprocess that starts a T = 100,000 ``ops.lstm_forward`` (B = 1, H = 256,
about 10x longer than the wait), has a helper thread send SIGINT to the process 0.2 s in, and
reports the time from ``os.kill`` to the ``KeyboardInterrupt`` reaching Python. The kernels poll
for pending signals between steps (DESIGN.md section 9), so the figure is about one step plus
the unwinding. Prints the median of 5 runs (and each run) in milliseconds.

    python bench/cancel_latency.py [--runs 5] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

CHILD = r"""
import os, signal, sys, threading, time
import numpy as np
import rnnkit
from rnnkit import ops

rnnkit.set_num_threads(int(sys.argv[1]))
T, B, I, H = 100_000, 1, 8, 256
x = np.zeros((T, B, I), np.float32)
w_ih = np.zeros((4 * H, I), np.float32)
w_hh = np.zeros((4 * H, H), np.float32)
ops.lstm_forward(x[:10], None, None, w_ih, w_hh, None, None)  # warm-up
sent = []

def fire():
    time.sleep(0.2)
    sent.append(time.perf_counter())
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=fire, daemon=True).start()
start = time.perf_counter()
try:
    ops.lstm_forward(x, None, None, w_ih, w_hh, None, None)
    print("completed", time.perf_counter() - start)
except KeyboardInterrupt:
    print("interrupted", time.perf_counter() - sent[0])
"""


def one_run(threads: int) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(threads)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    status, seconds = proc.stdout.split()
    if status != "interrupted":
        raise SystemExit(f"the call completed in {float(seconds):.2f} s before SIGINT took effect")
    return float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    latencies = [one_run(args.threads) for _ in range(args.runs)]
    runs = ", ".join(f"{s * 1e3:.2f}" for s in latencies)
    print(
        f"SIGINT -> KeyboardInterrupt, lstm_forward T=100,000 B=1 H=256, "
        f"{args.threads} thread(s): median {statistics.median(latencies) * 1e3:.2f} ms "
        f"over {args.runs} runs ({runs} ms)"
    )


if __name__ == "__main__":
    main()
