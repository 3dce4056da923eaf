"""Batch-1 generation: a 100-step loop of ``*_step`` on pre-packed weights against PyTorch's
cell loop (nn.RNNCell / nn.LSTMCell / nn.GRUCell under ``inference_mode``) and the NumPy
reference's step, all on 2 threads, in one run.

    python bench/test_step_loop.py                      # the table in BENCHMARKS.md
    pytest bench/test_step_loop.py --benchmark-only     # the same loops under pytest-benchmark

Each loop feeds T inputs one step at a time, carrying the state, as generation does. rnnkit
writes every new state into preallocated arrays (``out=``), so the loop allocates nothing.
Shapes are the fast-kernels issue's batch-1 shapes, (T, B, I, H) = (100, 1, 256, 256) and
(25, 1, 512, 512), and the seed toy's hidden size at batch 1. No timing is asserted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import rnnkit
from rnnkit import ops, reference
from rnnkit.bench import blas_threads_sleep, median_time

SHAPES = [(100, 1, 256, 256), (25, 1, 512, 512), (100, 1, 1, 10)]
CELLS = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def weights(cell: str, inputs: int, hidden: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = GATES[cell] * hidden
    scale = 1.0 / np.sqrt(hidden)
    shapes = [(rows, inputs), (rows, hidden), (rows,), (rows,)]
    return [rng.uniform(-scale, scale, s).astype(np.float32) for s in shapes]


def rnnkit_loop(
    module: object, cell: str, x: np.ndarray, w: list[np.ndarray]
) -> Callable[[], np.ndarray]:
    """A closure running the step loop with ``module``'s (rnnkit.ops or reference) kernels."""
    packed = getattr(module, f"pack_{cell}")(*w)
    step = getattr(module, f"{cell}_step")
    batch, hidden = x.shape[1], w[1].shape[1]
    h = [np.zeros((batch, hidden), np.float32) for _ in range(2)]
    c = [np.zeros((batch, hidden), np.float32) for _ in range(2)]

    def run() -> np.ndarray:
        h[0][:] = 0
        c[0][:] = 0
        for t in range(len(x)):
            src, dst = t % 2, (t + 1) % 2
            if cell == "lstm":
                step(x[t], h[src], c[src], packed, out=(h[dst], c[dst]))
            else:
                step(x[t], h[src], packed, out=h[dst])
        return h[len(x) % 2]

    return run


def torch_loop(cell: str, x: np.ndarray, w: list[np.ndarray]) -> Callable[[], np.ndarray]:
    import torch

    make = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[cell]
    module = make(x.shape[2], w[1].shape[1])
    with torch.no_grad():
        for p, value in zip(
            (module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh), w
        ):
            p.copy_(torch.from_numpy(value))
    xt = torch.from_numpy(x)

    def run() -> np.ndarray:
        with torch.inference_mode():
            h = torch.zeros(x.shape[1], w[1].shape[1])
            c = torch.zeros_like(h)
            for t in range(len(xt)):
                if cell == "lstm":
                    h, c = module(xt[t], (h, c))
                else:
                    h = module(xt[t], h)
            return h.numpy()

    return run


def case_id(case: tuple[str, tuple[int, int, int, int]]) -> str:
    cell, (t, _b, i, h) = case
    return f"{cell}-T{t}-I{i}-H{h}"


CASES = [(cell, shape) for shape in SHAPES for cell in CELLS]


def inputs(shape: tuple[int, int, int, int]) -> np.ndarray:
    t, b, i, _ = shape
    return np.random.default_rng(1).standard_normal((t, b, i)).astype(np.float32)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_rnnkit_step_loop(benchmark, case) -> None:
    cell, shape = case
    w = weights(cell, shape[2], shape[3])
    benchmark(rnnkit_loop(ops, cell, inputs(shape), w))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_torch_step_loop(benchmark, case) -> None:
    from conftest import require

    require("torch")
    cell, shape = case
    w = weights(cell, shape[2], shape[3])
    run = torch_loop(cell, inputs(shape), w)
    ours = rnnkit_loop(ops, cell, inputs(shape), w)
    np.testing.assert_allclose(run(), ours(), rtol=1e-4, atol=1e-5)  # the same computation
    benchmark(run)


def main() -> None:
    import torch

    rnnkit.set_num_threads(2)
    torch.set_num_threads(2)
    print(
        f"step loops at batch 1, 2 threads, ISA {rnnkit.info()['isa']}, torch "
        f"{torch.__version__}; median of 7 loops"
    )
    print("  cell  T, B, I, H          rnnkit us/step  torch us/step  reference us/step  vs torch")
    for cell, shape in CASES:
        x, w = inputs(shape), weights(cell, shape[2], shape[3])
        # The NumPy reference first, then a pause: OpenBLAS's threads spin for a while after
        # its calls and would take the cores from whatever runs next.
        ref = median_time(rnnkit_loop(reference, cell, x, w), 7)
        blas_threads_sleep()
        theirs = median_time(torch_loop(cell, x, w), 7)
        ours = median_time(rnnkit_loop(ops, cell, x, w), 7)
        steps = shape[0]
        print(
            f"  {cell:5s} {str(shape)[1:-1]:18s} {ours / steps * 1e6:14.1f} "
            f"{theirs / steps * 1e6:14.1f} {ref / steps * 1e6:18.1f} {theirs / ours:8.2f}x"
        )


if __name__ == "__main__":
    main()
