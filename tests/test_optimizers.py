"""rnnkit.optimizers against hand-written NumPy updates (textbook forms) over a fixed gradient
sequence, against Keras 3 when installed, and their clipping, schedules, state and errors."""

from __future__ import annotations

import math
import os
import signal

import numpy as np
import pytest
from rnnkit import optimizers
from rnnkit.optimizers import schedules

from conftest import require

# Keras's torch backend converts its tensors with a NumPy-2-deprecated __array__ signature.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SHAPES = [(3, 4), (5,)]
STEPS = 6


def gradient_sequence(seed: int = 0, scale: float = 1.0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=s) * scale for s in SHAPES] for _ in range(STEPS)]


def initial_variables(dtype=np.float64, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s).astype(dtype) for s in SHAPES]


def run(optimizer: optimizers.Optimizer, grads_seq, dtype=np.float64) -> list[np.ndarray]:
    variables = initial_variables(dtype)
    for grads in grads_seq:
        optimizer.apply_gradients(zip(grads, variables))
    return variables


# --- textbook references, one variable at a time, float64 ------------------------------------


def reference_sgd(x, grads, lr, momentum=0.0, nesterov=False):
    velocity = np.zeros_like(x)
    for g in grads:
        velocity = momentum * velocity - lr * g
        x = x + (momentum * velocity - lr * g if nesterov else velocity)
    return x


def reference_adam(x, grads, lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False, wd=0.0):
    m, v, v_max = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for t, g in enumerate(grads, start=1):
        x = x * (1 - wd * lr)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - b1**t)
        v_hat = (v_max if amsgrad else v) / (1 - b2**t)
        # Keras's epsilon is Kingma & Ba's "epsilon hat": eps_hat / sqrt(1 - b2^t) here
        x = x - lr * m_hat / (np.sqrt(v_hat) + eps / math.sqrt(1 - b2**t))
    return x


def reference_rmsprop(x, grads, lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    mean_square, mean, buffer = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for g in grads:
        mean_square = rho * mean_square + (1 - rho) * g * g
        mean = rho * mean + (1 - rho) * g
        variance = mean_square - mean * mean if centered else mean_square
        step = lr * g / np.sqrt(variance + eps)
        buffer = momentum * buffer + step
        x = x - buffer
    return x


def reference_adagrad(x, grads, lr, initial=0.1, eps=1e-7):
    accumulator = np.full_like(x, initial)
    for g in grads:
        accumulator = accumulator + g * g
        x = x - lr * g / np.sqrt(accumulator + eps)
    return x


REFERENCE_CASES = [
    ("sgd", optimizers.SGD(), lambda x, g: reference_sgd(x, g, 0.01)),
    (
        "sgd_momentum",
        optimizers.SGD(0.05, momentum=0.9),
        lambda x, g: reference_sgd(x, g, 0.05, 0.9),
    ),
    (
        "sgd_nesterov",
        optimizers.SGD(0.05, momentum=0.8, nesterov=True),
        lambda x, g: reference_sgd(x, g, 0.05, 0.8, True),
    ),
    ("adam", optimizers.Adam(), lambda x, g: reference_adam(x, g, 0.001)),
    (
        "adam_amsgrad",
        optimizers.Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=0.1, amsgrad=True),
        lambda x, g: reference_adam(x, g, 0.01, 0.8, 0.99, 0.1, True),
    ),
    ("adamw", optimizers.AdamW(0.01), lambda x, g: reference_adam(x, g, 0.01, wd=0.004)),
    ("rmsprop", optimizers.RMSprop(), lambda x, g: reference_rmsprop(x, g, 0.001)),
    (
        "rmsprop_centered_momentum",
        optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, epsilon=0.1, centered=True),
        lambda x, g: reference_rmsprop(x, g, 0.01, 0.8, 0.5, 0.1, centered=True),
    ),
    ("adagrad", optimizers.Adagrad(), lambda x, g: reference_adagrad(x, g, 0.001)),
    (
        "adagrad_custom",
        optimizers.Adagrad(0.1, initial_accumulator_value=0.5, epsilon=1e-3),
        lambda x, g: reference_adagrad(x, g, 0.1, 0.5, 1e-3),
    ),
]


REFERENCE_IDS = [case[0] for case in REFERENCE_CASES]


@pytest.mark.parametrize("name, optimizer, reference", REFERENCE_CASES, ids=REFERENCE_IDS)
def test_matches_textbook_update(name, optimizer, reference) -> None:
    optimizer = optimizers.get(optimizers.serialize(optimizer))  # a fresh copy per run
    grads_seq = gradient_sequence()
    variables = run(optimizer, grads_seq)
    assert optimizer.iterations == STEPS
    for i, (start, final) in enumerate(zip(initial_variables(), variables)):
        expected = reference(start, [grads[i] for grads in grads_seq])
        np.testing.assert_allclose(final, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name, optimizer, reference", REFERENCE_CASES, ids=REFERENCE_IDS)
def test_float32_variables_stay_float32(name, optimizer, reference) -> None:
    optimizer = optimizers.get(optimizers.serialize(optimizer))
    grads_seq = gradient_sequence()
    variables = run(optimizer, [[g.astype(np.float32) for g in gs] for gs in grads_seq], np.float32)
    for i, (start, final) in enumerate(zip(initial_variables(), variables)):
        assert final.dtype == np.float32
        expected = reference(
            start.astype(np.float32).astype(np.float64),
            [gs[i].astype(np.float32).astype(np.float64) for gs in grads_seq],
        )
        np.testing.assert_allclose(final, expected, rtol=2e-5, atol=2e-6)


def test_keras_defaults() -> None:
    assert optimizers.get("sgd").get_config()["learning_rate"] == 0.01
    adam = optimizers.get("Adam").get_config()
    assert (adam["learning_rate"], adam["beta_1"], adam["beta_2"], adam["epsilon"]) == (
        0.001,
        0.9,
        0.999,
        1e-7,
    )
    assert optimizers.get("adamw").weight_decay == 0.004
    rms = optimizers.get("rmsprop")
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon, rms.centered) == (
        0.001,
        0.9,
        0.0,
        1e-7,
        False,
    )
    ada = optimizers.get("adagrad")
    assert (ada.learning_rate, ada.initial_accumulator_value, ada.epsilon) == (0.001, 0.1, 1e-7)


# --- clipping --------------------------------------------------------------------------------


def _one_sgd_step(grads, **clip) -> list[np.ndarray]:
    """The update SGD(lr=1) applies: -clipped gradient."""
    variables = [np.zeros_like(g) for g in grads]
    optimizers.SGD(1.0, **clip).apply_gradients(zip(grads, variables))
    return [-v for v in variables]


def test_clipnorm_clips_each_gradient() -> None:
    big, small = np.array([3.0, 4.0]), np.array([0.3, 0.4])
    clipped = _one_sgd_step([big, small, np.zeros(2)], clipnorm=1.0)
    np.testing.assert_allclose(clipped[0], big / 5.0)
    np.testing.assert_allclose(clipped[1], small)
    np.testing.assert_array_equal(clipped[2], 0.0)


def test_global_clipnorm_scales_all_gradients() -> None:
    grads = [np.array([3.0, 0.0]), np.array([0.0, 4.0])]
    np.testing.assert_allclose(_one_sgd_step(grads, global_clipnorm=2.5), [g / 2 for g in grads])
    np.testing.assert_allclose(_one_sgd_step(grads, global_clipnorm=10.0), grads)
    assert np.isnan(_one_sgd_step([np.array([np.inf, 1.0])], global_clipnorm=1.0)[0]).all()


def test_clipvalue_clips_elements() -> None:
    clipped = _one_sgd_step([np.array([-3.0, 0.2, 7.0])], clipvalue=0.5)
    np.testing.assert_allclose(clipped[0], [-0.5, 0.2, 0.5])


def test_only_one_clip_option() -> None:
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)


# --- schedules -------------------------------------------------------------------------------

SCHEDULES = [
    (
        schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5),
        lambda s: 0.1 * 0.5 ** (s / 4),
    ),
    (
        schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True),
        lambda s: 0.1 * 0.5 ** (s // 4),
    ),
    (
        schedules.PiecewiseConstantDecay([3, 7], [1.0, 0.5, 0.1]),
        lambda s: 1.0 if s <= 3 else (0.5 if s <= 7 else 0.1),
    ),
    (
        schedules.CosineDecay(0.2, decay_steps=10, alpha=0.1),
        lambda s: 0.2 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(s, 10) / 10)) + 0.1),
    ),
    (
        schedules.CosineDecay(0.0, decay_steps=10, warmup_target=0.4, warmup_steps=5),
        lambda s: (
            0.4 * s / 5 if s < 5 else 0.4 * 0.5 * (1 + math.cos(math.pi * min(s - 5, 10) / 10))
        ),
    ),
]


@pytest.mark.parametrize(
    "schedule, formula", SCHEDULES, ids=[type(s).__name__ for s, _ in SCHEDULES]
)
def test_schedule_formula(schedule, formula) -> None:
    for step in range(20):
        assert schedule(step) == pytest.approx(formula(step), rel=1e-12, abs=1e-15)
    again = schedules.deserialize(schedules.serialize(schedule))
    assert [again(s) for s in range(20)] == [schedule(s) for s in range(20)]


def test_optimizer_uses_schedule_at_iterations() -> None:
    schedule = schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.1, 0.01])
    optimizer = optimizers.SGD(schedule)
    variable = np.zeros(1)
    seen = []
    for _ in range(4):
        seen.append(optimizer.learning_rate)
        optimizer.apply_gradients([(np.ones(1), variable)])
    assert seen == [1.0, 1.0, 0.1, 0.01]
    assert variable[0] == pytest.approx(-(1.0 + 1.0 + 0.1 + 0.01))
    with pytest.raises(TypeError, match="not settable"):
        optimizer.learning_rate = 0.5


# --- Keras 3 ---------------------------------------------------------------------------------

KERAS_CASES = [
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"clipvalue": 0.3}),
    ("Adam", {"learning_rate": 0.01, "epsilon": 0.1, "amsgrad": True, "clipnorm": 1.0}),
    ("Adam", {"learning_rate": 0.01, "global_clipnorm": 2.0}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "epsilon": 0.1, "centered": True}),
    ("RMSprop", {}),
    ("Adagrad", {"learning_rate": 0.1, "epsilon": 0.1}),
    ("Adam", {"schedule": ("ExponentialDecay", (0.01, 2, 0.5))}),
    ("SGD", {"schedule": ("CosineDecay", (0.1, 4))}),
    ("RMSprop", {"schedule": ("PiecewiseConstantDecay", ([1, 3], [0.01, 0.005, 0.001]))}),
]


@pytest.mark.parametrize(
    "name, kwargs", KERAS_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(KERAS_CASES)]
)
def test_matches_keras(name: str, kwargs: dict) -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = require("keras")
    kwargs = dict(kwargs)
    keras_kwargs = dict(kwargs)
    if "schedule" in kwargs:
        schedule_name, args = kwargs.pop("schedule")
        keras_kwargs.pop("schedule")
        kwargs["learning_rate"] = getattr(schedules, schedule_name)(*args)
        keras_kwargs["learning_rate"] = getattr(keras.optimizers.schedules, schedule_name)(*args)
    grads_seq = gradient_sequence(seed=3, scale=2.0)
    ours = run(getattr(optimizers, name)(**kwargs), grads_seq, np.float32)

    keras_variables = [keras.Variable(v) for v in initial_variables(np.float32)]
    keras_optimizer = getattr(keras.optimizers, name)(**keras_kwargs)
    for grads in grads_seq:
        keras_grads = [keras.ops.convert_to_tensor(g.astype(np.float32)) for g in grads]
        keras_optimizer.apply_gradients(zip(keras_grads, keras_variables))
    for mine, theirs in zip(ours, keras_variables):
        np.testing.assert_allclose(mine, keras.ops.convert_to_numpy(theirs), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "schedule", [s for s, _ in SCHEDULES], ids=[type(s).__name__ for s, _ in SCHEDULES]
)
def test_schedule_matches_keras(schedule) -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = require("keras")
    theirs = getattr(keras.optimizers.schedules, type(schedule).__name__).from_config(
        schedule.get_config()
    )
    for step in range(20):
        expected = float(keras.ops.convert_to_numpy(theirs(step)))
        assert schedule(step) == pytest.approx(expected, rel=1e-6, abs=1e-9)


# --- configuration, state, atomicity, errors -------------------------------------------------


@pytest.mark.parametrize("name, optimizer, reference", REFERENCE_CASES, ids=REFERENCE_IDS)
def test_state_round_trip_continues_identically(name, optimizer, reference) -> None:
    grads_seq = gradient_sequence(seed=5)
    first = optimizers.get(optimizers.serialize(optimizer))
    variables = initial_variables()
    for grads in grads_seq[:3]:
        first.apply_gradients(zip(grads, variables))
    state = first.get_state()
    assert state["iterations"] == 3

    resumed = optimizers.deserialize(optimizers.serialize(first))
    resumed_variables = [v.copy() for v in variables]
    resumed.set_state(state)  # before build: applied when the first step builds it
    for grads in grads_seq[3:]:
        first.apply_gradients(zip(grads, variables))
        resumed.apply_gradients(zip(grads, resumed_variables))
    for a, b in zip(variables, resumed_variables):
        np.testing.assert_array_equal(a, b)
    after = resumed.get_state()
    assert set(after) == set(first.get_state())
    for key, value in first.get_state().items():
        np.testing.assert_array_equal(after[key], value)


def test_config_round_trip_with_schedule() -> None:
    optimizer = optimizers.Adam(
        schedules.CosineDecay(0.01, 100, warmup_target=0.1, warmup_steps=10), clipnorm=2.0
    )
    again = optimizers.get(optimizers.serialize(optimizer))
    assert again.get_config() == optimizer.get_config()
    assert isinstance(again.learning_rate_schedule, schedules.CosineDecay)


def test_keras_config_dicts_load() -> None:
    config = {
        "class_name": "Adam",
        "config": {
            "name": "adam",
            "learning_rate": 0.002,
            "weight_decay": None,
            "clipnorm": None,
            "global_clipnorm": None,
            "clipvalue": None,
            "use_ema": False,
            "ema_momentum": 0.99,
            "ema_overwrite_frequency": None,
            "loss_scale_factor": None,
            "gradient_accumulation_steps": None,
            "beta_1": 0.9,
            "beta_2": 0.999,
            "epsilon": 1e-07,
            "amsgrad": False,
        },
    }
    assert optimizers.deserialize(config).learning_rate == 0.002
    with pytest.raises(ValueError, match="use_ema=True is not supported"):
        optimizers.Adam(use_ema=True)


def test_bad_gradient_updates_nothing() -> None:
    optimizer = optimizers.Adam(0.1)
    variables = initial_variables()
    optimizer.apply_gradients(zip(gradient_sequence()[0], variables))
    before = [v.copy() for v in variables]
    state = optimizer.get_state()
    with pytest.raises(ValueError, match=r"gradient #1 has shape \(4,\), expected \(5,\)"):
        optimizer.apply_gradients([(np.ones((3, 4)), variables[0]), (np.ones(4), variables[1])])
    with pytest.raises(ValueError, match="not one of the 2 variables"):
        optimizer.apply_gradients([(np.ones((3, 4)), variables[0]), (np.ones(2), np.zeros(2))])
    for a, b in zip(before, variables):
        np.testing.assert_array_equal(a, b)
    assert optimizer.iterations == state["iterations"] == 1
    for key, value in optimizer.get_state().items():
        np.testing.assert_array_equal(value, state[key])


def test_interrupt_during_the_write_is_delivered_after_it() -> None:
    """Ctrl-C arriving while variables are being written lands after the whole update."""
    variables = [np.zeros(3) for _ in range(4)]
    optimizer = optimizers.SGD(1.0)
    optimizer.build(variables)

    original_copyto = np.copyto
    calls = []

    def copyto_then_interrupt(dst, src, **kwargs):
        original_copyto(dst, src, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    np.copyto = copyto_then_interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            optimizer.apply_gradients(zip([np.ones(3)] * 4, variables))
    finally:
        np.copyto = original_copyto
    assert len(calls) == 4  # every variable was written before the interrupt surfaced
    for v in variables:
        np.testing.assert_array_equal(v, -1.0)
    assert optimizer.iterations == 1


def test_subsets_and_mixed_dtypes_update_like_separate_optimizers() -> None:
    """Slots of a dtype share one buffer; a subset step or a second dtype must not mix them."""
    grads_seq = gradient_sequence(seed=9)
    joint_vars = [initial_variables()[0], initial_variables(np.float32)[1]]
    alone_vars = [v.copy() for v in joint_vars]
    joint = optimizers.Adam(0.05, amsgrad=True)
    alone = [optimizers.Adam(0.05, amsgrad=True), optimizers.Adam(0.05, amsgrad=True)]
    for step, grads in enumerate(grads_seq):
        skip_second = step % 2 == 1  # a None gradient: only the first variable moves
        joint.apply_gradients(zip([grads[0], None if skip_second else grads[1]], joint_vars))
        alone[0].apply_gradients([(grads[0], alone_vars[0])])
        if not skip_second:
            # the second's bias correction counts the joint steps, so replay them on its own
            alone[1].iterations = joint.iterations - 1
            alone[1].apply_gradients([(grads[1], alone_vars[1])])
    np.testing.assert_array_equal(joint_vars[0], alone_vars[0])
    np.testing.assert_array_equal(joint_vars[1], alone_vars[1])
    assert joint_vars[1].dtype == np.float32


def test_none_gradient_leaves_its_variable() -> None:
    variables = initial_variables()
    before = variables[1].copy()
    optimizers.SGD(0.1).apply_gradients([(np.ones((3, 4)), variables[0]), (None, variables[1])])
    np.testing.assert_array_equal(variables[1], before)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: optimizers.Adam(-0.1), "learning_rate must be >= 0"),
        (lambda: optimizers.SGD(momentum=1.5), r"momentum must be in \[0.0, 1.0\]"),
        (lambda: optimizers.RMSprop(rho=-0.1), "rho must be in"),
        (lambda: optimizers.Adam(clipnorm=-1.0), "clipnorm must be >= 0"),
        (lambda: optimizers.Adagrad(initial_accumulator_value=-1), "initial_accumulator_value"),
        (lambda: optimizers.AdamW(weight_decay=None), "AdamW needs a weight_decay"),
        (lambda: optimizers.get("adamax"), "unknown optimizer 'adamax'.*adagrad, adam, adamw"),
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "decay_steps must be > 0"),
        (lambda: schedules.PiecewiseConstantDecay([1, 2], [0.1]), "one entry fewer"),
    ],
)
def test_bad_arguments(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_variables() -> None:
    with pytest.raises(TypeError, match="variable #0 must be float32 or float64"):
        optimizers.SGD().build([np.zeros(3, dtype=np.int32)])
    read_only = np.zeros(3)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="variable #0 is read-only"):
        optimizers.SGD().build([read_only])
    with pytest.raises(TypeError, match="learning_rate must be a float or"):
        optimizers.SGD(lambda: 0.1)


@pytest.mark.parametrize(
    "make",
    [
        lambda: optimizers.Adam(0.01),
        lambda: optimizers.Adam(0.01, clipnorm=0.5),
        lambda: optimizers.AdamW(0.01, weight_decay=0.1),
        lambda: optimizers.Adam(schedules.ExponentialDecay(0.01, 2, 0.5)),
    ],
    ids=["adam", "clipnorm", "adamw", "schedule"],
)
def test_fused_adam_matches_the_numpy_path_bit_for_bit(make) -> None:
    """float32 Adam runs in one C++ call; it must equal the NumPy formulas exactly, with
    strided (transposed) gradients too."""
    fused, numpy_path = make(), make()
    numpy_path._fused_step = lambda indices, grads: False  # force the NumPy path
    took_fused_path = []
    real_fused_step = fused._fused_step
    fused._fused_step = lambda *a: (
        took_fused_path.append(real_fused_step(*a)) or took_fused_path[-1]
    )
    vars_fused = initial_variables(np.float32)
    vars_numpy = [v.copy() for v in vars_fused]
    fused.build(vars_fused)
    numpy_path.build(vars_numpy)
    for grads in gradient_sequence(seed=3):
        grads = [g.astype(np.float32) for g in grads]
        grads[0] = np.asfortranarray(grads[0])  # not C-contiguous
        fused.apply_gradients(zip(grads, vars_fused))
        numpy_path.apply_gradients(zip(grads, vars_numpy))
    for a, b in zip(vars_fused, vars_numpy):
        np.testing.assert_array_equal(a, b)
    for name in ("momentum", "velocity"):
        for a, b in zip(fused._slots[name], numpy_path._slots[name]):
            np.testing.assert_array_equal(a, b)
    assert fused.iterations == numpy_path.iterations == STEPS
    assert took_fused_path == [True] * STEPS


def test_fused_adam_declines_what_it_cannot_handle() -> None:
    """A read-only variable or a float64 gradient: the C++ path touches nothing and says so."""
    from rnnkit import _core

    variables = initial_variables(np.float32)
    m = np.zeros(sum(v.size for v in variables), np.float32)
    v = m.copy()
    before = [x.copy() for x in variables]
    args = (m, v, 0.1, 0.1, 0.001, 1e-7, False, 0.0, 0.1)
    grads = [np.ones_like(x) for x in variables]
    assert not _core._adam_update(variables, [g.astype(np.float64) for g in grads], *args)
    variables[1].flags.writeable = False
    assert not _core._adam_update(variables, grads, *args)
    assert not _core._adam_update(variables[:1], grads[:1], *args)  # sizes do not add up
    for x, y in zip(variables, before):
        np.testing.assert_array_equal(x, y)
    assert not m.any() and not v.any()
