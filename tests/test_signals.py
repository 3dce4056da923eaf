"""Ctrl-C reaches long kernel calls and training loops (DESIGN §9).

Each case runs in a subprocess that sends SIGINT to itself from a helper thread while its main
thread is inside a long call. The call must end with KeyboardInterrupt instead of completing.
A signal that arrives just after a call returns raises there too, so the inference paths that
run threads without a barrier (batch slices, the batch in vector lanes) are also timed: the
signal goes a third of the way into a call whose full length was measured just before, and the
call must end within the next third. The kernels poll for signals between steps.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
import os, signal, threading, time
import numpy as np
import rnnkit
from rnnkit import ops

def interrupt_after(seconds):
    def fire():
        time.sleep(seconds)
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=fire, daemon=True).start()

# Times call() (the faster of two calls: the first also faults in its output's pages), then runs
# it again with SIGINT sent a third of the way in: a kernel that stops within the next third
# prints 'interrupted', one that runs on to the end prints 'late'.
def interrupt_midway(call):
    times = []
    for _ in range(2):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    full = min(times)
    sent = []
    def fire():
        time.sleep(full / 3)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=fire, daemon=True).start()
    try:
        call()
    except KeyboardInterrupt:
        late = time.perf_counter() - sent[0] > full / 3
        print("late" if late else "interrupted")
        raise SystemExit(0)
"""

KERNEL_CASES = {
    "lstm_forward": """
T, H = 100_000, 256
x = np.zeros((T, 1, 8), np.float32)
w_ih = np.zeros((4 * H, 8), np.float32); w_hh = np.zeros((4 * H, H), np.float32)
interrupt_after(0.2)
ops.lstm_forward(x, None, None, w_ih, w_hh, None, None)
""",
    # Gated cells with a small input: the most work per byte of x and y on these paths.
    "lstm_forward_batch_slices": """
T, B, I, H = 3_000, 16, 8, 300  # each thread runs a slice of the batch on its own
rnnkit.set_num_threads(2)
x = np.zeros((T, B, I), np.float32)
w_ih = np.zeros((4 * H, I), np.float32); w_hh = np.zeros((4 * H, H), np.float32)
interrupt_midway(lambda: ops.lstm_forward(x, None, None, w_ih, w_hh, None, None))
""",
    "lstm_forward_large_slices": """
T, B, I, H = 3_000, 16, 80, 280  # slices again: past 1.5 MB of weights, W_hh within 1.25 MB
rnnkit.set_num_threads(2)
x = np.zeros((T, B, I), np.float32)
w_ih = np.zeros((4 * H, I), np.float32); w_hh = np.zeros((4 * H, H), np.float32)
interrupt_midway(lambda: ops.lstm_forward(x, None, None, w_ih, w_hh, None, None))
""",
    "lstm_forward_small_hidden": """
T, B, H = 100_000, 64, 10  # the batch in the vector lanes, two threads
rnnkit.set_num_threads(2)
x = np.zeros((T, B, 1), np.float32)
w_ih = np.zeros((4 * H, 1), np.float32); w_hh = np.zeros((4 * H, H), np.float32)
interrupt_midway(lambda: ops.lstm_forward(x, None, None, w_ih, w_hh, None, None))
""",
    "gru_backward": """
T, H = 100_000, 256
x = np.zeros((T, 1, 8), np.float32)
w_ih = np.zeros((3 * H, 8), np.float32); w_hh = np.zeros((3 * H, H), np.float32)
y, _, saved = ops.gru_forward(x, None, w_ih, w_hh, None, None, training=True)
interrupt_after(0.2)
ops.gru_backward(np.ones_like(y), None, saved)
""",
    "lstm_backward_batch_slices": """
T, B, I, H = 500, 16, 8, 256  # backward on batch slices: no barrier a step, polls between chunks
rnnkit.set_num_threads(2)
x = np.zeros((T, B, I), np.float32)
w_ih = np.zeros((4 * H, I), np.float32); w_hh = np.zeros((4 * H, H), np.float32)
y, _, saved = ops.lstm_forward(x, None, None, w_ih, w_hh, None, None, training=True)
dy = np.ones_like(y)
interrupt_midway(lambda: ops.lstm_backward(dy, None, saved))
""",
    "fit": """
from rnnkit.layers import LSTM, Dense
rnnkit.utils.set_random_seed(0)
model = rnnkit.Sequential([LSTM(32, input_shape=(20, 4)), Dense(1)])
model.compile(optimizer="adam", loss="mse")
x = np.random.default_rng(0).standard_normal((256, 20, 4)).astype(np.float32)
y = x.sum(axis=(1, 2))[:, None]
interrupt_after(0.5)
try:
    model.fit(x, y, batch_size=8, epochs=10_000, verbose=0)
finally:
    # the model stays usable after the interrupt
    assert np.all(np.isfinite(model.predict(x[:4], verbose=0)))
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
""",
}


@pytest.mark.parametrize("case", sorted(KERNEL_CASES))
def test_sigint_interrupts_long_call(case: str) -> None:
    body = textwrap.indent(KERNEL_CASES[case].strip(), "    ")
    script = PRELUDE + "\ntry:\n" + body + "\n    print('completed')\n"
    script += "except KeyboardInterrupt:\n    print('interrupted')\n"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "interrupted", (proc.stdout, proc.stderr)


HANDLER_FORWARD = """
import signal
import numpy as np
import rnnkit
from rnnkit import ops

rnnkit.set_num_threads({threads})
rng = np.random.default_rng(0)
def weights(H, I):
    return [rng.uniform(-0.2, 0.2, s).astype(np.float32) for s in ((4 * H, I), (4 * H, H))]
T, B, I, H = 4000, {B}, 8, 64
x = rng.standard_normal((T, B, I)).astype(np.float32)
outer = weights(H, I)
inner = weights({inner_H}, I)
x_inner = rng.standard_normal((2, 1, I)).astype(np.float32)
clean = ops.lstm_forward(x, None, None, *outer, None, None)[0]
calls = []
def handler(signum, frame):
    calls.append(ops.lstm_forward(x_inner, None, None, *inner, None, None)[0])
signal.signal(signal.SIGALRM, handler)
signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
results = [ops.lstm_forward(x, None, None, *outer, None, None)[0] for _ in range(5)]
signal.setitimer(signal.ITIMER_REAL, 0, 0)
assert calls, "the handler never ran during a forward"
bad = sum(not np.array_equal(r, clean) for r in results)
print("ok" if bad == 0 else f"{{bad}} of {{len(results)}} results changed")
"""


@pytest.mark.parametrize(
    ("threads", "B", "inner_H"),
    [(1, 1, 64), (1, 1, 256), (2, 32, 64)],
    ids=["same-size", "larger-weights", "batch-slices"],
)
def test_forward_in_a_signal_handler_leaves_the_running_forward_alone(threads, B, inner_H):
    """The kernels run Python signal handlers between steps, on the calling thread. A handler
    that runs a forward of its own must not touch the running forward's packed weights (each
    thread keeps one buffer for inference; a nested call gets its own)."""
    script = HANDLER_FORWARD.format(threads=threads, B=B, inner_H=inner_H)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok", (proc.stdout, proc.stderr)
