"""Threads, determinism, fork and interop of rnnkit's kernels (DESIGN.md sections 4 and 9).

- Reductions run in a fixed order: forward, backward and step results are bitwise identical for
  1 and 2 threads and across repeated calls, at a size where the kernels really use 2 threads.
- Many Python threads may call kernels at once (the GIL is released, nothing shared is mutated):
  each gets bitwise the result of the same call made alone.
- A fork()ed child (after the parent ran 2-thread kernels) runs the kernels serially and does
  not hang; so do the workers of a multiprocessing 'fork' pool.
- torch (which ships its own libgomp) imported before or after rnnkit: both run.
- threadpoolctl sees rnnkit's thread count and can limit it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import rnnkit
from rnnkit import _core, ops

from conftest import require

# Big enough for 2 threads: the kernels go parallel above ~1e6 flops of recurrent work a step
# (2*B*G*H*H = 8.4e6 for the LSTM here).
BIG = (20, 16, 64, 256)  # T, B, I, H
# Backward splits B = 16 rows into batch slices (w_hh fits a thread's L2); below two row tiles
# (8 rows on the scalar path, 12 on AVX2, 16 on AVX-512) it splits the hidden units with a
# barrier a step. Both must give the serial bits.
UNITS_SPLIT = (12, 7, 32, 256)
CELLS = {
    "rnn_tanh": ("rnn", 1, {"activation": "tanh"}),
    "rnn_relu": ("rnn", 1, {"activation": "relu"}),
    "lstm": ("lstm", 4, {}),
    "gru": ("gru", 3, {"reset_after": True}),
    "gru_reset_before": ("gru", 3, {"reset_after": False}),
}


@pytest.fixture(autouse=True)
def restore_threads():
    n = rnnkit.get_num_threads()
    yield
    rnnkit.set_num_threads(n)


def problem(cell, shape=BIG, seed=0):
    family, G, _ = CELLS[cell]
    T, B, I, H = shape
    rng = np.random.default_rng(seed)

    def f32(*s, scale=1.0):
        return (rng.standard_normal(s) * scale).astype(np.float32)

    n_states = 2 if family == "lstm" else 1
    return {
        "x": f32(T, B, I),
        "states": tuple(f32(B, H, scale=0.5) for _ in range(n_states)),
        "weights": (
            f32(G * H, I, scale=I**-0.5),
            f32(G * H, H, scale=H**-0.5),
            f32(G * H, scale=0.1),
            f32(G * H, scale=0.1),
        ),
        "dy": f32(T, B, H),
        "d_states": tuple(f32(B, H) for _ in range(n_states)),
    }


def run_all(cell, p, **fwd_kw):
    """Forward (training), backward (with dh_seq) and two chained steps: every output."""
    family, _, options = CELLS[cell]
    lstm = family == "lstm"
    y, final, saved = getattr(ops, f"{family}_forward")(
        p["x"], *p["states"], *p["weights"], **options, training=True, **fwd_kw
    )
    d_final = p["d_states"] if lstm else p["d_states"][0]
    grads = getattr(ops, f"{family}_backward")(p["dy"], d_final, saved, return_dh_seq=True)
    packed = getattr(ops, f"pack_{family}")(*p["weights"], **options)
    step = getattr(ops, f"{family}_step")
    states = p["states"]
    steps = []
    for t in range(2):
        new = step(p["x"][t], *states, packed)
        states = tuple(new) if lstm else (new,)
        steps.append(states)
    return {"y": y, "final": final, "grads": grads, "steps": steps}


def assert_bitwise(a, b, what="result"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), what
        for k in a:
            assert_bitwise(a[k], b[k], f"{what}[{k!r}]")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), what
        for k, (u, v) in enumerate(zip(a, b)):
            assert_bitwise(u, v, f"{what}[{k}]")
    elif a is None:
        assert b is None, what
    else:
        assert a.shape == b.shape and a.dtype == b.dtype, what
        # array_equal on the bytes: NaN-safe and truly bitwise (also -0.0 vs 0.0)
        assert a.tobytes() == b.tobytes(), f"{what} differs"


VARIANTS = {
    "plain": {},
    "lengths-reverse": {"lengths": np.array([20, 3, 0, 17] * 4), "reverse": True},
    "mask": {"mask": np.random.default_rng(1).random((BIG[0], BIG[1])) < 0.7},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("cell", list(CELLS))
def test_bitwise_identical_across_thread_counts_and_runs(cell, variant, isa):
    p = problem(cell)
    kw = VARIANTS[variant]
    rnnkit.set_num_threads(1)
    serial = run_all(cell, p, **kw)
    rnnkit.set_num_threads(2)
    assert _core.effective_num_threads() == 2
    for run in range(3):
        assert_bitwise(serial, run_all(cell, p, **kw), f"{cell} {variant} 2 threads run {run}")


@pytest.mark.parametrize("cell", list(CELLS))
def test_unit_split_backward_is_bitwise_the_serial_one(cell, isa):
    p = problem(cell, UNITS_SPLIT, seed=2)
    mask = np.random.default_rng(4).random(UNITS_SPLIT[:2]) < 0.7
    rnnkit.set_num_threads(1)
    serial = run_all(cell, p, mask=mask)
    rnnkit.set_num_threads(2)
    for run in range(2):
        assert_bitwise(serial, run_all(cell, p, mask=mask), f"{cell} units split run {run}")


def test_two_python_threads_at_once():
    """Two Python threads in lstm_forward together each get their serial result."""
    rnnkit.set_num_threads(2)
    problems = [problem("lstm", seed=s) for s in (1, 2)]

    def call(p):
        return ops.lstm_forward(p["x"], *p["states"], *p["weights"])[:2]

    expected = [call(p) for p in problems]
    barrier = threading.Barrier(2)
    results: dict = {}
    errors: list = []

    def worker(k):
        try:
            for it in range(5):
                barrier.wait(timeout=60)
                results[k, it] = call(problems[k])
        except Exception as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a kernel call hung"
    assert not errors, errors
    for (k, it), got in results.items():
        assert_bitwise(expected[k], got, f"thread {k} iteration {it}")


def test_eight_threads_mixed_kernels():
    """8 Python threads run forward/backward/step of every cell concurrently."""
    rnnkit.set_num_threads(2)
    shape = (8, 8, 32, 64)
    jobs = [(cell, seed) for seed, cell in enumerate(list(CELLS) * 2)][:8]
    problems = {job: problem(job[0], shape, seed=job[1]) for job in jobs}
    expected = {job: run_all(job[0], problems[job]) for job in jobs}
    barrier = threading.Barrier(len(jobs))
    errors: list = []
    mismatches: list = []

    def worker(job):
        try:
            barrier.wait(timeout=60)
            for it in range(4):
                got = run_all(job[0], problems[job])
                try:
                    assert_bitwise(expected[job], got, f"{job} iteration {it}")
                except AssertionError as exc:
                    mismatches.append(str(exc))
        except Exception as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 180
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a kernel call hung"
    assert not errors, errors
    assert not mismatches, mismatches


@pytest.mark.parametrize("what", ["forward", "backward"])
def test_kernels_release_the_gil(what):
    """While one thread is inside a long kernel, Python code runs in another."""
    rnnkit.set_num_threads(1)
    p = problem("lstm", (400, 16, 64, 256), seed=3)
    _, _, saved = ops.lstm_forward(p["x"], *p["states"], *p["weights"], training=True)
    dy = np.ones((400, 16, 256), np.float32)

    def kernel():
        if what == "forward":
            ops.lstm_forward(p["x"], *p["states"], *p["weights"])
        else:
            ops.lstm_backward(dy, None, saved)

    start = time.perf_counter()
    kernel()
    alone = time.perf_counter() - start
    started = threading.Event()

    def worker():
        started.set()
        kernel()

    t = threading.Thread(target=worker)
    t.start()
    started.wait()
    count = 0
    begin = time.perf_counter()
    while t.is_alive():
        count += 1
    elapsed = time.perf_counter() - begin
    t.join()
    # With the GIL held the loop would stall for the whole kernel (~`alone` seconds).
    assert count > 1000, f"{count} iterations in {elapsed:.3f}s beside a {alone:.3f}s kernel"


# ----------------------------------------------------------------------------------------------
# fork


def _wait_child(pid, timeout):
    """Exit status of child `pid`, or None after killing it if it runs past `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_runs_kernels_serially():
    rnnkit.set_num_threads(2)
    p = problem("lstm", seed=4)
    expected = run_all("lstm", p)  # the parent's OpenMP pool now exists
    expected_gru = run_all("gru", problem("gru", seed=5))
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 3
        try:
            code = 4 if _core.effective_num_threads() != 1 else 0
            if code == 0:
                assert_bitwise(expected, run_all("lstm", p))
                assert_bitwise(expected_gru, run_all("gru", problem("gru", seed=5)))
        except AssertionError:
            code = 1
        except Exception:  # noqa: BLE001 (the child must never return into pytest)
            code = 2
        finally:
            os._exit(code)
    exit_code = _wait_child(pid, timeout=120)
    assert exit_code is not None, "the forked child hung in a kernel call"
    assert exit_code != 4, "the forked child does not run serially"
    assert exit_code == 0, f"the forked child failed (exit {exit_code}: 1 wrong result, 2 error)"
    # The parent still runs 2 threads, correctly.
    assert _core.effective_num_threads() == 2
    assert_bitwise(expected, run_all("lstm", p))


def _pool_job(seed):
    p = problem("gru", (6, 4, 16, 32), seed=seed)
    return _core.effective_num_threads(), run_all("gru", p)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_pool_runs_kernels():
    rnnkit.set_num_threads(2)
    run_all("lstm", problem("lstm", seed=6))  # 2-thread kernels in the parent first
    seeds = list(range(6))
    expected = [_pool_job(s)[1] for s in seeds]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        results = pool.map_async(_pool_job, seeds).get(timeout=120)
    for seed, (threads, got), want in zip(seeds, results, expected):
        assert threads == 1
        assert_bitwise(want, got, f"pool job {seed}")


# ----------------------------------------------------------------------------------------------
# torch and threadpoolctl

TORCH_SCRIPT = """
import sys
import numpy as np
{first}
{second}
import rnnkit
from rnnkit import ops

torch.set_num_threads(2)
rnnkit.set_num_threads(2)
T, B, I, H = 20, 16, 64, 256
rng = np.random.default_rng(0)
x = rng.standard_normal((T, B, I)).astype(np.float32)
lstm = torch.nn.LSTM(I, H)
w = [p.detach().numpy() for p in (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                                  lstm.bias_hh_l0)]
for _ in range(2):  # interleave torch's OpenMP and rnnkit's
    with torch.no_grad():
        y_torch = lstm(torch.from_numpy(x))[0].numpy()
    y, _, saved = ops.lstm_forward(x, None, None, *w, training=True)
    ops.lstm_backward(np.ones_like(y), None, saved)
    err = np.max(np.abs(y - y_torch) / (1 + np.abs(y_torch)))
    assert err < 1e-4, err
    a = torch.randn(512, 512)
    assert torch.isfinite(a @ a).all()
print("OK", rnnkit.info()["isa"], torch.__version__)
"""


@pytest.mark.parametrize("order", ["torch-first", "rnnkit-first"])
def test_torch_and_rnnkit_in_one_process(order):
    require("torch")
    imports = ["import torch", "import rnnkit.ops"]
    if order == "rnnkit-first":
        imports.reverse()
    script = TORCH_SCRIPT.format(first=imports[0], second=imports[1])
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{order}: the process hung")
    assert proc.returncode == 0, f"{order}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert proc.stdout.startswith("OK"), proc.stdout


def _rnnkit_entries(threadpoolctl):
    return [e for e in threadpoolctl.threadpool_info() if e.get("user_api") == "rnnkit"]


def test_threadpoolctl_lists_rnnkit():
    threadpoolctl = require("threadpoolctl")
    rnnkit.set_num_threads(2)
    entries = _rnnkit_entries(threadpoolctl)
    assert len(entries) == 1, threadpoolctl.threadpool_info()
    assert entries[0]["num_threads"] == 2
    assert entries[0]["filepath"] == _core.__file__
    rnnkit.set_num_threads(1)
    assert _rnnkit_entries(threadpoolctl)[0]["num_threads"] == 1


@pytest.mark.parametrize("user_api", ["rnnkit", None])
def test_threadpool_limits_changes_and_restores(user_api):
    threadpoolctl = require("threadpoolctl")
    rnnkit.set_num_threads(2)
    with threadpoolctl.threadpool_limits(limits=1, user_api=user_api):
        assert rnnkit.get_num_threads() == 1
        assert _core.effective_num_threads() == 1
    assert rnnkit.get_num_threads() == 2
    # The limit is process-wide: it reaches kernels called from other Python threads.
    seen = []
    with threadpoolctl.threadpool_limits(limits=1, user_api="rnnkit"):
        t = threading.Thread(target=lambda: seen.append(rnnkit.get_num_threads()))
        t.start()
        t.join()
    assert seen == [1]


def test_eight_threads_predict_on_one_shared_model() -> None:
    """predict from 8 Python threads on one model at once equals the serial predictions."""
    import rnnkit
    from rnnkit.layers import GRU, LSTM, Dense, Embedding

    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential([Embedding(50, 16, mask_zero=True), LSTM(64, return_sequences=True),
                               GRU(32), Dense(5, activation="softmax")])
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, 50, (16, 12)) for _ in range(8)]
    expected = [model.predict(x, verbose=0) for x in inputs]
    results: list = [None] * 8

    def work(i: int) -> None:
        for _ in range(5):
            results[i] = model.predict(inputs[i], verbose=0)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_smaller_openmp_team_than_asked() -> None:
    """OMP_THREAD_LIMIT=1 with 2 threads asked: the batch-slice and unit-split paths follow the
    team OpenMP gives, and return what one thread returns, with no error."""
    script = """
import numpy as np
import rnnkit
from rnnkit import ops
rng = np.random.default_rng(0)
T, B, I, H = 3, 16, 8, 256
x = rng.standard_normal((T, B, I)).astype(np.float32)
w = [rng.uniform(-0.1, 0.1, s).astype(np.float32) for s in ((H, I), (H, H))]
out = {}
for n in (1, 2):
    rnnkit.set_num_threads(n)
    out[n] = [ops.rnn_forward(x, None, *w, None, None, training=t)[0] for t in (False, True)]
assert all(np.array_equal(a, b) for a, b in zip(out[1], out[2]))
print("ok")
"""
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok", (proc.stdout, proc.stderr)
