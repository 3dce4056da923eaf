"""Benchmarks: rnnkit's kernels against the NumPy reference and PyTorch, in one process.

The method is fixed so that no baseline can be gamed: the same weights and inputs for every
backend, the same thread count for all of them (rnnkit, torch, and NumPy's BLAS through
threadpoolctl when it is installed), a warm-up call, then the median of ``repeats`` timed calls.
Torch inference runs under ``torch.inference_mode()``; torch training is forward plus
``backward()`` of ``y.sum()`` with gradients for x and h0 as well as the parameters — the same
gradients rnnkit's ``*_forward(training=True)`` + ``*_backward`` produce. The reference runs in
float32. Ratios are baseline time / rnnkit time.

``python -m rnnkit bench`` prints the table; ``bench/`` runs the same cases under
pytest-benchmark. ``python -m rnnkit bench --scaling`` times rnnkit alone on 1 and 2 threads
at the issue's scaling shapes instead.
"""

from __future__ import annotations

import contextlib
import math
import platform
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from rnnkit import _core, ops, reference

CELLS = ("lstm", "gru", "rnn")
MODES = ("inference", "training")
GATES = {"lstm": 4, "gru": 3, "rnn": 1}

# (T, B, I, H): the shapes of the fast-kernels issue; "quick" is a subset that runs in seconds.
SHAPES: tuple[tuple[int, int, int, int], ...] = (
    (50, 64, 256, 256),
    (100, 32, 512, 512),
    (25, 16, 1024, 1024),
    (150, 16, 256, 256),
    (100, 64, 64, 512),
    (100, 1, 256, 256),
    (25, 1, 512, 512),
    (3, 99, 1, 10),
)
QUICK_SHAPES: tuple[tuple[int, int, int, int], ...] = ((50, 64, 256, 256), (3, 99, 1, 10))
# The 1 -> 2 thread scaling target (>= 1.8x) is set at these shapes.
SCALING_SHAPES: tuple[tuple[int, int, int, int], ...] = ((100, 32, 512, 512), (25, 16, 1024, 1024))
SCALING_TARGET = 1.8


@dataclass(frozen=True)
class Case:
    """One benchmark: a cell, a mode and a shape."""

    cell: str
    mode: str
    T: int
    B: int
    I: int
    H: int

    @property
    def name(self) -> str:
        return f"{self.cell}-{self.mode}-T{self.T}-B{self.B}-I{self.I}-H{self.H}"

    def flops(self) -> float:
        """GEMM flops: forward 2*T*B*G*H*(I+H); training adds twice that for backward."""
        forward = 2.0 * self.T * self.B * GATES[self.cell] * self.H * (self.I + self.H)
        return forward * (3.0 if self.mode == "training" else 1.0)


def cases(shapes: tuple[tuple[int, int, int, int], ...] = SHAPES) -> list[Case]:
    return [Case(c, m, *s) for c in CELLS for m in MODES for s in shapes]


@dataclass
class Inputs:
    """Identical float32 inputs and PyTorch-layout weights for every backend."""

    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray


def make_inputs(case: Case, seed: int = 0) -> Inputs:
    rng = np.random.default_rng(seed)
    G, H, I = GATES[case.cell], case.H, case.I
    scale = 1.0 / np.sqrt(H)

    def draw(*shape: int, s: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * s).astype(np.float32)

    return Inputs(
        x=draw(case.T, case.B, I),
        h0=draw(case.B, H, s=0.5),
        c0=draw(case.B, H, s=0.5),
        w_ih=draw(G * H, I, s=scale),
        w_hh=draw(G * H, H, s=scale),
        b_ih=draw(G * H, s=0.1),
        b_hh=draw(G * H, s=0.1),
    )


def _functional_call(module: Any, case: Case, inp: Inputs) -> Callable[[], Any]:
    """A call of rnnkit.ops or rnnkit.reference for the case (inference or training)."""
    training = case.mode == "training"
    x, h0, c0 = inp.x, inp.h0, inp.c0
    w = (inp.w_ih, inp.w_hh, inp.b_ih, inp.b_hh)

    if case.cell == "lstm":

        def run() -> Any:
            y, _, saved = module.lstm_forward(x, h0, c0, *w, training=training)
            if training:
                return module.lstm_backward(np.ones_like(y), None, saved)
            return y

    else:
        forward = getattr(module, f"{case.cell}_forward")
        backward = getattr(module, f"{case.cell}_backward")

        def run() -> Any:
            y, _, saved = forward(x, h0, *w, training=training)
            if training:
                return backward(np.ones_like(y), None, saved)
            return y

    return run


def rnnkit_call(case: Case, inp: Inputs) -> Callable[[], Any]:
    return _functional_call(ops, case, inp)


def reference_call(case: Case, inp: Inputs) -> Callable[[], Any]:
    return _functional_call(reference, case, inp)


def torch_call(case: Case, inp: Inputs) -> Callable[[], Any] | None:
    """The equivalent torch.nn module call, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[case.cell]
    module = cls(case.I, case.H)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(inp.w_ih))
        module.weight_hh_l0.copy_(torch.from_numpy(inp.w_hh))
        module.bias_ih_l0.copy_(torch.from_numpy(inp.b_ih))
        module.bias_hh_l0.copy_(torch.from_numpy(inp.b_hh))
    x = torch.from_numpy(inp.x)
    h0 = torch.from_numpy(inp.h0)[None]
    c0 = torch.from_numpy(inp.c0)[None]
    state = (h0, c0) if case.cell == "lstm" else h0

    if case.mode == "inference":

        def run() -> Any:
            with torch.inference_mode():
                return module(x, state)[0]

        return run

    def run_training() -> Any:
        xg = x.clone().requires_grad_(True)
        if case.cell == "lstm":
            st: Any = (h0.clone().requires_grad_(True), c0.clone().requires_grad_(True))
        else:
            st = h0.clone().requires_grad_(True)
        module.zero_grad(set_to_none=True)
        y, _ = module(xg, st)
        y.sum().backward()
        return xg.grad

    return run_training


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``repeats`` calls after ``warmup`` calls, in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@contextlib.contextmanager
def same_threads(n: int) -> Iterator[None]:
    """rnnkit, torch and NumPy's BLAS all on n threads for the duration."""
    import rnnkit

    previous = rnnkit.get_num_threads()
    rnnkit.set_num_threads(n)
    torch_previous = None
    try:
        import torch

        torch_previous = torch.get_num_threads()
        torch.set_num_threads(n)
    except ImportError:
        pass
    limits: Any = contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=n, user_api="blas")
    except ImportError:
        pass
    try:
        with limits:
            yield
    finally:
        rnnkit.set_num_threads(previous)
        if torch_previous is not None:
            import torch

            torch.set_num_threads(torch_previous)


def blas_threads_sleep(seconds: float = 0.3) -> None:
    """Wait until NumPy's BLAS threads sleep again. OpenBLAS's threads spin for up to about
    0.2 s after a call; whatever runs then shares the cores with them (measured here: an LSTM
    forward at (50, 64, 256, 256) took 33 ms right after a matmul, 15 ms 0.2 s later)."""
    time.sleep(seconds)


def sgemm_peak(n: int = 2048, repeats: int = 7) -> float:
    """GFLOP/s of NumPy's float32 n³ matmul (its BLAS): the machine's practical peak.

    The fastest of ``repeats`` calls after a warm-up: a peak is what the machine can do, and on a
    shared host the slower calls measure the neighbours."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a @ b
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    blas_threads_sleep()
    return 2.0 * n**3 / best / 1e9


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def repeats_for(case: Case, budget_s: float = 0.4, minimum: int = 5) -> int:
    """At least ``minimum`` repeats; more for fast cases, to steady the median: up to 1000 for
    calls of tens of microseconds, whose times one busy moment of the host shifts most (the toy
    shapes: 50 repeats gave medians 10-20% apart from run to run)."""
    rough = case.flops() / 20e9  # seconds at a modest 20 GFLOP/s
    return max(minimum, min(1000, int(budget_s / max(rough, 1e-6))))


def warmups_for(repeats: int) -> int:
    """Untimed calls first, a tenth of the timed ones: caches, branch predictors and thread
    pools settle over more than one call of a few microseconds."""
    return max(1, repeats // 10)


def run(
    selected: list[Case], threads: int = 2, with_reference: bool = True,
    with_torch: bool = True,
) -> list[dict[str, Any]]:
    """Time each case on each backend; one row of results per case."""
    rows = []
    with same_threads(threads):
        for case in selected:
            inp = make_inputs(case)
            repeats = repeats_for(case)
            t_ref = None
            if with_reference:
                ref_repeats = max(5, repeats // 4)
                t_ref = median_time(
                    reference_call(case, inp), ref_repeats, warmups_for(ref_repeats)
                )
                blas_threads_sleep()
            t_rnnkit = median_time(rnnkit_call(case, inp), repeats, warmups_for(repeats))
            row: dict[str, Any] = {
                "case": case.name, "cell": case.cell, "mode": case.mode,
                "shape": (case.T, case.B, case.I, case.H), "repeats": repeats,
                "rnnkit_ms": t_rnnkit * 1e3,
                "gflops": case.flops() / t_rnnkit / 1e9,
            }
            if t_ref is not None:
                row["reference_ms"] = t_ref * 1e3
                row["vs_reference"] = t_ref / t_rnnkit
            call = torch_call(case, inp) if with_torch else None
            if call is not None:
                t_torch = median_time(call, repeats, warmups_for(repeats))
                row["torch_ms"] = t_torch * 1e3
                row["vs_torch"] = t_torch / t_rnnkit
            rows.append(row)
    return rows


def scaling(
    selected: list[Case], threads: tuple[int, int] = (1, 2), repeats: int = 5,
) -> list[dict[str, Any]]:
    """rnnkit alone on ``threads[0]`` and ``threads[1]`` threads, one row per case.

    The two thread counts alternate call by call (after a warm-up of each), so a change in
    the machine's load during the run falls on both. ``speedup`` is the ratio of the medians;
    ``best_speedup``, of the fastest calls, is what other processes' load distorts least.
    """
    import rnnkit

    rows = []
    previous = rnnkit.get_num_threads()
    try:
        for case in selected:
            call = rnnkit_call(case, make_inputs(case))
            times: dict[int, list[float]] = {n: [] for n in threads}
            for n in threads:
                rnnkit.set_num_threads(n)
                call()
            for _ in range(repeats):
                for n in threads:
                    rnnkit.set_num_threads(n)
                    t0 = time.perf_counter()
                    call()
                    times[n].append(time.perf_counter() - t0)
            few, many = (statistics.median(times[n]) for n in threads)
            best_few, best_many = (min(times[n]) for n in threads)
            rows.append({
                "case": case.name, "cell": case.cell, "mode": case.mode,
                "shape": (case.T, case.B, case.I, case.H), "repeats": repeats,
                "threads": list(threads), "ms": [few * 1e3, many * 1e3], "speedup": few / many,
                "best_ms": [best_few * 1e3, best_many * 1e3], "best_speedup": best_few / best_many,
            })
    finally:
        rnnkit.set_num_threads(previous)
    return rows


def format_scaling(rows: list[dict[str, Any]]) -> str:
    n0, n1 = rows[0]["threads"] if rows else (1, 2)
    cols = ["case", f"ms_{n0}_thread", f"ms_{n1}_threads", "speedup", "target",
            "best_speedup"]
    lines = [" | ".join(cols), " | ".join("---" for _ in cols)]
    for row in rows:
        met = "met" if row["speedup"] >= SCALING_TARGET else "not met"
        lines.append(
            f"{row['case']} | {row['ms'][0]:.3f} | {row['ms'][1]:.3f} | {row['speedup']:.2f}x "
            f"| {SCALING_TARGET:g}x {met} | {row['best_speedup']:.2f}x"
        )
    return "\n".join(lines)


def header(threads: int) -> dict[str, Any]:
    import rnnkit

    out: dict[str, Any] = {
        "rnnkit": rnnkit.__version__, "isa": _core.get_isa(), "threads": threads,
        "cpu": cpu_name(), "numpy": np.__version__,
    }
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:
        out["torch"] = None
    return out


def format_table(rows: list[dict[str, Any]], peak: float | None) -> str:
    cols = ["case", "rnnkit_ms", "reference_ms", "torch_ms", "vs_reference", "vs_torch",
            "gflops"]
    if peak:
        cols.append("%peak")
    lines = [" | ".join(cols), " | ".join("---" for _ in cols)]
    for row in rows:
        cells = []
        for c in cols:
            if c == "%peak":
                cells.append(f"{100 * row['gflops'] / peak:.0f}%")
                continue
            v = row.get(c)
            if v is None:
                cells.append("-")
            elif isinstance(v, float):
                cells.append(f"{v:.2f}x" if c.startswith("vs_") else f"{v:.3f}")
            else:
                cells.append(str(v))
        lines.append(" | ".join(cells))
    return "\n".join(lines)
