"""Numerics and scale (issue 8): T = 10,000, memory linear in T, NaN with TerminateOnNaN.

Long sequences. The kernels run T = 10,000 steps forward and backward (float32) and must agree
with rnnkit.reference in float64 to a relative L2 error of 1e-3 on the outputs and on every
gradient. Why 1e-3: each step's float32 rounding (eps ~ 6e-8) enters the state, and the weight
gradients are sums of T = 10^4 per-step terms whose rounding errors add up roughly like
sqrt(T) * eps ~ 1e-5 (measured: at most 3e-6). The recurrences here are contractive (recurrent
weights scaled by 1/sqrt(H)), so errors in the state do not compound. 1e-3 leaves two orders
of margin for other ISA paths and summation orders while still catching a real defect (a wrong
step, a lost gradient term, an overflow) which shows as O(1).

Memory. The saved activations grow as T * B * H, nothing else may grow with T. Each size runs
in a fresh subprocess (forked once more, see the child) and reports how much its peak RSS (ru_maxrss) rose across one forward +
backward at B = 4, H = 64, after a warm-up call. The ratio of the rise for T = 8,000 to that for
T = 2,000 is ~4 when memory is linear (measured 3.5-4.0), and would be ~16 if anything were
quadratic in T. The bounds 2..6 allow for the allocator's and the interpreter's fixed costs
(which make the ratio fall below 4, most for the small RNN) and page-granularity noise, and
still exclude anything quadratic, or T log T with a large constant.

NaN. With callbacks.TerminateOnNaN, a batch whose loss is NaN ends training after that batch:
the optimizer update of that batch has already been applied (as in Keras), so the weights hold
NaN; the epoch is still recorded in History with loss NaN. With raise_error=True a RuntimeError
names the batch.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import rnnkit
from rnnkit import callbacks, ops
from rnnkit import layers as L
from rnnkit import reference as ref

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def _args(family: str, T: int, B: int, I: int, H: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    G = GATES[family]
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = (rng.standard_normal((B, H)) * 0.5).astype(np.float32)
    w_ih = (rng.standard_normal((G * H, I)) * 0.5).astype(np.float32)
    w_hh = (rng.standard_normal((G * H, H)) / np.sqrt(H)).astype(np.float32)
    b_ih = (rng.standard_normal(G * H) * 0.1).astype(np.float32)
    b_hh = (rng.standard_normal(G * H) * 0.1).astype(np.float32)
    c0 = [(rng.standard_normal((B, H)) * 0.5).astype(np.float32)] if family == "lstm" else []
    return [x, h0, *c0, w_ih, w_hh, b_ih, b_hh]


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.linalg.norm(got.astype(np.float64) - want) / np.linalg.norm(want))


@pytest.mark.parametrize("family", sorted(GATES))
def test_ten_thousand_steps_match_float64_reference(family: str) -> None:
    T, B, I, H = 10_000, 2, 3, 8
    args = _args(family, T, B, I, H)
    y, _, saved = getattr(ops, f"{family}_forward")(*args, training=True)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    grads = getattr(ops, f"{family}_backward")(dy, None, saved)

    args64 = [a.astype(np.float64) for a in args]
    y64, _, saved64 = getattr(ref, f"{family}_forward")(*args64, training=True)
    grads64 = getattr(ref, f"{family}_backward")(dy.astype(np.float64), None, saved64)

    assert y.shape == (T, B, H)
    assert np.all(np.isfinite(y))
    assert _rel(y, y64) < 1e-3
    assert set(grads64) <= set(grads)
    for name, want in grads64.items():
        if want is None:
            continue
        got = grads[name]
        assert np.all(np.isfinite(got)), name
        assert _rel(got, want) < 1e-3, (name, _rel(got, want))


def test_ten_thousand_steps_saturating_inputs_stay_finite() -> None:
    """|x| ~ 1e3 drives every gate into saturation for 10^4 steps: no overflow, no NaN."""
    T, B, I, H = 10_000, 2, 3, 8
    for family in GATES:
        args = _args(family, T, B, I, H)
        args[0] = args[0] * 1000.0
        y, _, saved = getattr(ops, f"{family}_forward")(*args, training=True)
        grads = getattr(ops, f"{family}_backward")(np.ones_like(y), None, saved)
        assert np.all(np.isfinite(y)) and np.all(np.abs(y) <= 1.0), family
        for name, g in grads.items():
            assert g is None or np.all(np.isfinite(g)), (family, name)


_PEAK_RSS_CHILD = r"""
import os, resource, sys
import numpy as np
from rnnkit import ops

# ru_maxrss of a process started by fork + exec starts at the forking parent's peak (the kernel
# keeps the larger of the old and new image's), so a pytest parent would leak its own size into
# the figure. A process forked here starts its peak at its current RSS: measure in it.
pid = os.fork()
if pid:
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
family, T = sys.argv[1], int(sys.argv[2])
B, I, H = 4, 8, 64
G = {"lstm": 4, "gru": 3, "rnn": 1}[family]
rng = np.random.default_rng(0)
# float32 straight away: a float64 temporary of dy would set the peak before the measurement
x = rng.standard_normal((T, B, I), dtype=np.float32)
dy = rng.standard_normal((T, B, H), dtype=np.float32)
w_ih = (rng.standard_normal((G * H, I)) * 0.1).astype(np.float32)
w_hh = (rng.standard_normal((G * H, H)) * 0.1).astype(np.float32)
forward, backward = getattr(ops, family + "_forward"), getattr(ops, family + "_backward")
rest = [None] * (2 if family == "lstm" else 1) + [w_ih, w_hh, None, None]
backward(dy[:2], None, forward(x[:2], *rest, training=True)[2])  # warm-up: threads, code paths
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
y, _, saved = forward(x, *rest, training=True)
grads = backward(dy, None, saved)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, flush=True)
os._exit(0)
"""


def _peak_rss_growth_kib(family: str, T: int) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_CHILD, family, str(T)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return int(proc.stdout.strip())


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux only")
@pytest.mark.parametrize("family", sorted(GATES))
def test_memory_linear_in_T(family: str) -> None:
    small = _peak_rss_growth_kib(family, 2_000)
    large = _peak_rss_growth_kib(family, 8_000)
    assert small > 0, (small, large)
    assert 2.0 <= large / small <= 6.0, (small, large)


def _nan_batch_model_and_data():
    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential([L.LSTM(4, input_shape=(5, 3)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).standard_normal((32, 5, 3)).astype(np.float32)
    y = np.zeros((32, 1), np.float32)
    x[10, 2, 1] = np.nan  # sample 10: batch 2 at batch_size 4
    return model, x, y


def test_terminate_on_nan_stops_at_the_nan_batch(capsys: pytest.CaptureFixture) -> None:
    model, x, y = _nan_batch_model_and_data()
    seen: list[tuple[int, float]] = []
    record = callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append((batch, logs["loss"]))
    )
    history = model.fit(
        x,
        y,
        batch_size=4,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[callbacks.TerminateOnNaN(), record],
    )
    # batches 0 and 1 are finite; batch 2 is the last one run, of 8 per epoch x 3 epochs
    assert [b for b, _ in seen] == [0, 1, 2]
    assert all(np.isfinite(loss) for _, loss in seen[:2])
    assert np.isnan(seen[2][1])
    assert history.epoch == [0]
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out
    # documented: the NaN batch's update was applied before the callback ran (as in Keras)
    assert not all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_terminate_on_nan_raise_error_names_the_batch() -> None:
    model, x, y = _nan_batch_model_and_data()
    with pytest.raises(RuntimeError, match="at batch 2"):
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=3,
            shuffle=False,
            verbose=0,
            callbacks=[callbacks.TerminateOnNaN(raise_error=True)],
        )


def test_nan_input_propagates_without_terminate_on_nan() -> None:
    """Without the callback training runs to the end; NaN propagates, nothing crashes."""
    model, x, y = _nan_batch_model_and_data()
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert history.epoch == [0, 1]
    assert all(np.isnan(loss) for loss in history.history["loss"])
    assert np.all(np.isnan(model.predict(x[:4], verbose=0)))
