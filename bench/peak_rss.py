"""Peak RSS growth of ``*_forward(training=True)`` + ``*_backward``, each case in a fresh process.

    python bench/peak_rss.py                  # every cell at the fast-kernels shapes
    python bench/peak_rss.py --json
    python bench/peak_rss.py --cell lstm --shape 10,4,32,64

The bound of the fast-kernels issue: growth <= 2 x (the activations backward must keep,
T*B*(G+2)*H*4 bytes, plus the input, T*B*I*4) plus the weights (w_ih, w_hh, biases). G = 1
(SimpleRNN), 4 (LSTM), 3 (GRU). Letters: T time, B batch, I input, H hidden.

Method, in the child: import, one tiny forward + backward of the same cell (so the OpenMP
pool, the code pages and the allocator's first arenas are not counted), create the inputs,
weights and ``dy`` in float32 without temporaries, reset the high-water mark
(``/proc/self/clear_refs``), read VmRSS, run forward + backward, read VmHWM. Growth = VmHWM
after - VmRSS before. Where the reset is refused, VmHWM before the call is the floor instead
and the row says so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from rnnkit.bench import CELLS, GATES
from rnnkit.bench import SHAPES as BENCH_SHAPES

SHAPES = BENCH_SHAPES[:5]  # the batched shapes, where the memory bound is set
MB = 1e6


def bound_bytes(cell: str, T: int, B: int, I: int, H: int) -> int:
    """2 x (kept activations + input) + weights, in bytes."""
    G = GATES[cell]
    activations = T * B * (G + 2) * H * 4
    weights = (G * H * (I + H) + 2 * G * H) * 4
    return 2 * (activations + T * B * I * 4) + weights


def _proc_status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(cell: str, T: int, B: int, I: int, H: int, threads: int) -> dict[str, Any]:
    """Runs in the fresh process: one measured forward(training=True) + backward."""
    import numpy as np
    import rnnkit
    from rnnkit import ops

    rnnkit.set_num_threads(threads)
    G = GATES[cell]
    forward = getattr(ops, f"{cell}_forward")
    backward = getattr(ops, f"{cell}_backward")
    rng = np.random.default_rng(0)

    def draw(*shape: int, scale: float = 1.0) -> np.ndarray:
        a = rng.standard_normal(shape, dtype=np.float32)
        a *= np.float32(scale)
        return a

    def make(t: int, b: int, i: int, h: int) -> tuple[np.ndarray, ...]:
        s = 1.0 / np.sqrt(h)
        return (draw(t, b, i), draw(b, h, scale=0.5), draw(b, h, scale=0.5),
                draw(G * h, i, scale=s), draw(G * h, h, scale=s), draw(G * h, scale=0.1),
                draw(G * h, scale=0.1), np.ones((t, b, h), dtype=np.float32))

    def run(arrays: tuple[np.ndarray, ...]) -> None:
        x, h0, c0, w_ih, w_hh, b_ih, b_hh, dy = arrays
        if cell == "lstm":
            _, _, saved = forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, training=True)
        else:
            _, _, saved = forward(x, h0, w_ih, w_hh, b_ih, b_hh, training=True)
        backward(dy, None, saved)

    run(make(2, 3, 5, 7))  # warm-up: thread pool, code pages
    arrays = make(T, B, I, H)
    reset = _reset_high_water_mark()
    before = _proc_status_kb("VmRSS") if reset else _proc_status_kb("VmHWM")
    run(arrays)
    peak = _proc_status_kb("VmHWM")
    growth = (peak - before) * 1024
    bound = bound_bytes(cell, T, B, I, H)
    return {
        "cell": cell, "shape": [T, B, I, H], "threads": threads, "isa": rnnkit.info()["isa"],
        "growth_bytes": growth, "bound_bytes": bound, "ratio": growth / bound,
        "passed": growth <= bound, "hwm_reset": reset,
    }


def measure(cell: str, shape: tuple[int, int, int, int], threads: int = 2) -> dict[str, Any]:
    """Runs one case in a fresh interpreter and returns its row."""
    args = [sys.executable, __file__, "--child", "--cell", cell,
            "--shape", ",".join(map(str, shape)), "--threads", str(threads)]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| cell | T, B, I, H | growth MB | bound MB | growth / bound | within bound |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        note = "" if r["hwm_reset"] else " (HWM not reset)"
        lines.append(
            f"| {r['cell']} | {', '.join(map(str, r['shape']))} | {r['growth_bytes'] / MB:.1f} "
            f"| {r['bound_bytes'] / MB:.1f} | {r['ratio']:.2f} "
            f"| {'yes' if r['passed'] else 'NO'}{note} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cell", choices=CELLS, help="one cell only")
    p.add_argument("--shape", help="one shape T,B,I,H instead of the issue's five")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    shapes = [tuple(int(v) for v in args.shape.split(","))] if args.shape else list(SHAPES)
    cells = [args.cell] if args.cell else list(CELLS)
    if args.child:
        print(json.dumps(child(cells[0], *shapes[0], args.threads)))
        return 0
    rows = [measure(c, s, args.threads) for c in cells for s in shapes]
    print(json.dumps(rows) if args.json else format_table(rows))
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
