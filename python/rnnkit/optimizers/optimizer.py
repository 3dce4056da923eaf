"""Optimizers with Keras 3's arguments, defaults and update formulas, on NumPy variables.

    opt = Adam(1e-3, clipnorm=5.0)
    opt.build(variables)                         # list of np.ndarray, updated in place
    opt.apply_gradients(zip(grads, variables))   # one step

One step, as Keras 3 does it: clip the gradients (`clipnorm` per gradient, `global_clipnorm`
over all, or `clipvalue` elementwise; at most one), apply decoupled weight decay
(var -= var * weight_decay * lr) if `weight_decay` is set, then each optimizer's update with
the learning rate for the current `iterations` (a float, or a schedule called with it), and
count the step. The arithmetic runs in each variable's dtype (float32 or float64).

Whole or not at all: every new value (variables and slots) is computed first, then all are
written with Ctrl-C deferred, so an exception or an interrupt never leaves a half-updated model.
"""

from __future__ import annotations

import numbers
import signal
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Union, cast

import numpy as np

from rnnkit import _core
from rnnkit.optimizers import schedules

LearningRate = Union[float, schedules.LearningRateSchedule]

# Keras base-optimizer options rnnkit does not implement, with the value that means "off".
_UNSUPPORTED_DEFAULTS = {
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop"]


def _check_number(name: str, value: Any, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not (number >= low and (high is None or number <= high)):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {number}")
    return number


def _check_optional(name: str, value: Any) -> float | None:
    if value is None:
        return None
    number = _check_number(name, value)
    if number == 0:
        raise ValueError(f"{name} must be > 0 (or None to disable), got 0")
    return number


try:  # the C functions behind `signal`, without its enum conversions (a few us per step)
    import _signal as _raw_signal
except ImportError:  # pragma: no cover - interpreters without CPython's _signal
    _raw_signal = signal
_SIGINT = int(signal.SIGINT)


class _interrupts_deferred:
    """Hold back SIGINT (Ctrl-C) until the block ends, then deliver it.

    A class rather than a @contextmanager generator: it runs on every training step.
    """

    __slots__ = ("previous", "received")

    def __enter__(self) -> None:
        self.previous = previous = _raw_signal.getsignal(_SIGINT)
        self.received: list[Any] | None = None
        if threading.get_ident() != threading.main_thread().ident or not callable(previous):
            return
        received: list[Any] = []
        self.received = received
        _raw_signal.signal(_SIGINT, lambda signum, frame: received.append(frame))

    def __exit__(self, *exc_info: object) -> None:
        received = self.received
        if received is None:
            return
        _raw_signal.signal(_SIGINT, self.previous)
        if received:
            self.previous(_SIGINT, received[0])


class Optimizer:
    """Base class. Subclasses define `_slot_initial_values` and `_update_step`.

    Args:
        learning_rate: a float >= 0 or a `schedules.LearningRateSchedule`.
        weight_decay: decoupled weight decay (var -= var * weight_decay * lr), or None.
        clipnorm: clip each gradient to this L2 norm, or None.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue], or None.
        global_clipnorm: scale all gradients so their joint L2 norm is at most this, or None.
        name: a name for the optimizer.
    """

    def __init__(
        self,
        learning_rate: LearningRate,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        for key, value in kwargs.items():
            if key not in _UNSUPPORTED_DEFAULTS:
                raise TypeError(f"{type(self).__name__}() got an unexpected argument {key!r}")
            if value != _UNSUPPORTED_DEFAULTS[key]:
                raise ValueError(
                    f"{type(self).__name__}: the Keras option {key}={value!r} is not supported "
                    f"by rnnkit (only {key}={_UNSUPPORTED_DEFAULTS[key]!r})"
                )
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError(
                "only one of clipnorm, clipvalue and global_clipnorm can be set, got "
                + ", ".join(f"{k}={v}" for k, v in clips.items())
            )
        self.clipnorm = _check_optional("clipnorm", clipnorm)
        self.clipvalue = _check_optional("clipvalue", clipvalue)
        self.global_clipnorm = _check_optional("global_clipnorm", global_clipnorm)
        self.weight_decay = (
            None if weight_decay is None else _check_number("weight_decay", weight_decay)
        )
        self.name = name or type(self).__name__.lower()
        self._learning_rate = self._check_learning_rate(learning_rate)
        self.iterations = 0
        self._variables: list[np.ndarray] | None = None
        self._index: dict[int, int] = {}
        self._slots: dict[str, list[np.ndarray]] = {}
        self._groups: dict[np.dtype, list[int]] = {}
        self._flat_slots: dict[tuple[np.dtype, str], np.ndarray] = {}
        self._group_segments: dict[np.dtype, list[tuple[int, int]]] = {}
        self._pending_state: dict[str, np.ndarray] | None = None

    # -- learning rate -------------------------------------------------------------------------

    @staticmethod
    def _check_learning_rate(learning_rate: Any) -> LearningRate:
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            return learning_rate
        if isinstance(learning_rate, dict):
            return schedules.deserialize(learning_rate)
        if callable(learning_rate):
            raise TypeError(
                "learning_rate must be a float or a rnnkit.optimizers.schedules."
                f"LearningRateSchedule (subclass it for a custom one), got {learning_rate!r}"
            )
        return _check_number("learning_rate", learning_rate)

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a schedule evaluated at `iterations`)."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            return float(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: LearningRate) -> None:
        value = self._check_learning_rate(value)
        if isinstance(self._learning_rate, schedules.LearningRateSchedule) and not isinstance(
            value, schedules.LearningRateSchedule
        ):
            raise TypeError(
                "this optimizer was created with a LearningRateSchedule, so its learning rate "
                "is not settable to a float (create it with a float learning_rate instead)"
            )
        self._learning_rate = value

    @property
    def learning_rate_schedule(self) -> schedules.LearningRateSchedule | None:
        """The schedule given as `learning_rate`, or None for a constant rate."""
        lr = self._learning_rate
        return lr if isinstance(lr, schedules.LearningRateSchedule) else None

    # -- variables and slots -------------------------------------------------------------------

    @property
    def built(self) -> bool:
        """Whether `build` has run."""
        return self._variables is not None

    @property
    def _built_variables(self) -> list[np.ndarray]:
        """The variables given to `build`; only read once the optimizer is built."""
        variables = self._variables
        assert variables is not None, f"{self.name} is not built"
        return variables

    @property
    def variables(self) -> list[np.ndarray]:
        """The variables given to `build` (empty before)."""
        return list(self._variables or [])

    def _slot_initial_values(self) -> dict[str, float]:
        """Slot names and their initial fill value, per variable."""
        return {}

    def build(self, variables: Sequence[np.ndarray]) -> None:
        """Create the slots (moments, accumulators) for these variables.

        Args:
            variables: float32/float64 `np.ndarray`s, updated in place by `apply_gradients`.
                Calling `build` again with the same arrays does nothing.
        """
        variables = list(variables)
        for i, var in enumerate(variables):
            _check_variable(var, i)
        if self._variables is not None:
            if [id(v) for v in variables] != [id(v) for v in self._variables]:
                raise ValueError(
                    f"{self.name} was built for other variables; create a new optimizer for a "
                    f"different set of variables"
                )
            return
        self._variables = variables
        self._index = {id(v): i for i, v in enumerate(variables)}
        # The slots of all variables of one dtype live in one flat buffer per slot, so a step
        # runs each formula once over the whole group instead of once per (small) variable;
        # self._slots[name][i] is variable i's view into it.
        self._groups = {}
        for i, var in enumerate(variables):
            self._groups.setdefault(var.dtype, []).append(i)
        self._group_segments = {d: _segments(variables, m) for d, m in self._groups.items()}
        # Placeholders, every one replaced by a view just below (each variable is in a group).
        placeholders = cast(list[np.ndarray], [None] * len(variables))
        self._slots = {name: list(placeholders) for name in self._slot_initial_values()}
        self._flat_slots = {}
        for dtype, members in self._groups.items():
            total = sum(variables[i].size for i in members)
            for name, fill in self._slot_initial_values().items():
                flat = self._flat_slots[dtype, name] = np.full(total, fill, dtype=dtype)
                for i, (start, stop) in zip(members, self._group_segments[dtype]):
                    self._slots[name][i] = flat[start:stop].reshape(variables[i].shape)
        if self._pending_state is not None:
            state, self._pending_state = self._pending_state, None
            self.set_state(state)

    # -- one step ------------------------------------------------------------------------------

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, np.ndarray]]) -> int:
        """Apply one step to every (gradient, variable) pair; returns `iterations` after it.

        The first call builds the optimizer for its variables if `build` was not called.
        A `None` gradient leaves its variable (and slots) as they are.

        Raises:
            ValueError: a variable the optimizer was not built for, or a gradient whose shape
                differs from its variable's. Nothing is updated then.
        """
        pairs = [(g, v) for g, v in grads_and_vars]
        if not self.built:
            self.build([v for _, v in pairs])
        indices, grads = [], []
        for position, (grad, var) in enumerate(pairs):
            index = self._index.get(id(var))
            if index is None:
                raise ValueError(
                    f"variable #{position} (shape {np.shape(var)}) is not one of the "
                    f"{len(self._index)} variables {self.name} was built for"
                )
            if grad is None:
                continue
            if type(grad) is not np.ndarray:
                grad = np.asarray(grad)
            if grad.shape != var.shape:
                raise ValueError(
                    f"gradient #{position} has shape {grad.shape}, expected {var.shape} "
                    f"(its variable's)"
                )
            if grad.dtype.kind not in "fiu":
                raise TypeError(f"gradient #{position} must be numeric, got dtype {grad.dtype}")
            indices.append(index)
            grads.append(grad.astype(var.dtype, copy=False))
        self._step(indices, grads)
        return self.iterations

    def apply(self, grads: Sequence[Any], variables: Sequence[np.ndarray] | None = None) -> int:
        """Keras 3's `apply(grads, trainable_variables)`: `apply_gradients(zip(...))`."""
        if variables is None:
            if not self.built:
                raise ValueError("apply() without variables needs a built optimizer")
            variables = self._built_variables
        if len(grads) != len(variables):
            raise ValueError(f"got {len(grads)} gradients for {len(variables)} variables")
        return self.apply_gradients(zip(grads, variables))

    def _step(self, indices: list[int], grads: list[np.ndarray]) -> None:
        grads = self._clip(grads)
        lr = self.learning_rate
        all_variables = self._built_variables
        by_dtype: dict[np.dtype, list[tuple[int, np.ndarray]]] = {}
        for index, grad in zip(indices, grads):
            by_dtype.setdefault(all_variables[index].dtype, []).append((index, grad))
        writes: list[tuple[np.ndarray, np.ndarray]] = []
        for dtype, pairs in by_dtype.items():
            members = [index for index, _ in pairs]
            whole_group = members == self._groups[dtype]
            variables = [all_variables[i] for i in members]
            var = np.concatenate([v.ravel() for v in variables])
            grad = np.concatenate([g.ravel() for _, g in pairs])
            slots = {
                name: self._flat_slots[dtype, name]
                if whole_group
                else np.concatenate([self._slots[name][i].ravel() for i in members])
                for name in self._slots
            }
            lr_t = dtype.type(lr)
            if self.weight_decay is not None:
                var = var - var * dtype.type(self.weight_decay) * lr_t
            new_var, new_slots = self._update_step(grad, var, slots, lr_t)
            segments = (
                self._group_segments[dtype] if whole_group else _segments(all_variables, members)
            )
            for target, (start, stop) in zip(variables, segments):
                writes.append((target, new_var[start:stop].reshape(target.shape)))
            for name, value in new_slots.items():
                if whole_group:
                    writes.append((slots[name], value))
                    continue
                for i, (start, stop) in zip(members, segments):
                    view = self._slots[name][i]
                    writes.append((view, value[start:stop].reshape(view.shape)))
        with _interrupts_deferred():
            for target, value in writes:
                np.copyto(target, value, casting="same_kind")
            self.iterations += 1

    def _clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.clipnorm is not None:
            return [_clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm is not None and grads:
            norm = np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
            clip = self.global_clipnorm
            # Keras: clip * min(1/norm, 1/clip), NaN when the norm is not finite
            scale = 1.0 if norm <= clip else clip / norm
            if not np.isfinite(norm):
                scale = float("nan")
            return [g * g.dtype.type(scale) for g in grads]
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _update_step(
        self, grad: np.ndarray, var: np.ndarray, slots: dict[str, np.ndarray], lr: np.floating
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(new variable, new slot values) for one variable; writes nothing."""
        raise NotImplementedError

    # -- configuration and state ---------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (a schedule is serialized as a dict), Keras's keys."""
        lr = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": (
                schedules.serialize(lr) if isinstance(lr, schedules.LearningRateSchedule) else lr
            ),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """Rebuild an optimizer (without its state) from `get_config()`, Keras's included."""
        return cls(**config)

    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of the slots ("<slot>/<variable index>") and `iterations`, for checkpoints."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for name, values in self._slots.items():
            for i, value in enumerate(values):
                state[f"{name}/{i}"] = value.copy()
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore `get_state()`'s output; before `build`, it is applied when `build` runs.

        Raises:
            ValueError: missing or unexpected keys, or arrays of the wrong shape; nothing is
                changed then.
        """
        if "iterations" not in state:
            raise ValueError("state has no 'iterations' entry")
        iterations = int(np.asarray(state["iterations"]))
        if iterations < 0:
            raise ValueError(f"state['iterations'] must be >= 0, got {iterations}")
        if not self.built:
            self._pending_state = {k: np.array(v, copy=True) for k, v in state.items()}
            self.iterations = iterations
            return
        expected = {f"{n}/{i}" for n, values in self._slots.items() for i in range(len(values))}
        given = set(state) - {"iterations"}
        if given != expected:
            raise ValueError(
                f"state does not match {self.name}'s slots: missing {sorted(expected - given)}, "
                f"unexpected {sorted(given - expected)}"
            )
        for key in expected:
            name, i = key.split("/")
            target = self._slots[name][int(i)]
            if np.shape(state[key]) != target.shape:
                raise ValueError(
                    f"state[{key!r}] has shape {np.shape(state[key])}, expected {target.shape}"
                )
        with _interrupts_deferred():
            for key in expected:
                name, i = key.split("/")
                np.copyto(self._slots[name][int(i)], state[key], casting="unsafe")
            self.iterations = iterations

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self._learning_rate!r}, name={self.name!r})"


def _segments(variables: list[np.ndarray], members: list[int]) -> list[tuple[int, int]]:
    """(start, stop) of each member variable in the concatenation of the members, raveled."""
    bounds = np.cumsum([0] + [variables[i].size for i in members]).tolist()
    return list(zip(bounds[:-1], bounds[1:]))


def _check_variable(var: Any, index: int) -> None:
    if not isinstance(var, np.ndarray):
        raise TypeError(f"variable #{index} must be a np.ndarray, got {type(var).__name__}")
    if var.dtype not in (np.float32, np.float64):
        raise TypeError(f"variable #{index} must be float32 or float64, got {var.dtype}")
    if not var.flags.writeable:
        raise ValueError(f"variable #{index} is read-only; optimizers update in place")


def _clip_by_norm(grad: np.ndarray, clipnorm: float) -> np.ndarray:
    """Keras: grad * clipnorm / max(||grad||, clipnorm)."""
    norm = np.sqrt(np.sum(np.square(grad)))
    clip = grad.dtype.type(clipnorm)
    clipped: np.ndarray = grad * clip / np.maximum(norm, clip)
    return clipped


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum.

    momentum 0: var -= lr * g. Otherwise v = momentum * v - lr * g, then var += v, or with
    nesterov var += momentum * v - lr * g.
    """

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs
        )
        self.momentum = _check_number("momentum", momentum, 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def _slot_initial_values(self) -> dict[str, float]:
        return {"momentum": 0.0} if self.momentum != 0 else {}

    def _update_step(
        self, grad: np.ndarray, var: np.ndarray, slots: dict[str, np.ndarray], lr: np.floating
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if self.momentum == 0:
            return var - grad * lr, {}
        momentum = var.dtype.type(self.momentum)
        m = slots["momentum"] * momentum - grad * lr
        if self.nesterov:
            return var + (m * momentum - grad * lr), {"momentum": m}
        return var + m, {"momentum": m}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam, Keras 3's form: m += (g - m)(1 - beta_1), v += (g^2 - v)(1 - beta_2),
    var -= m * alpha / (sqrt(v) + epsilon) with alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t),
    t = iterations + 1; `amsgrad` uses the running maximum of v."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs
        )
        self.beta_1 = _check_number("beta_1", beta_1, 0.0, 1.0)
        self.beta_2 = _check_number("beta_2", beta_2, 0.0, 1.0)
        self.epsilon = _check_number("epsilon", epsilon)
        self.amsgrad = bool(amsgrad)

    def _slot_initial_values(self) -> dict[str, float]:
        slots = {"momentum": 0.0, "velocity": 0.0}
        return {**slots, "velocity_hat": 0.0} if self.amsgrad else slots

    def _step(self, indices: list[int], grads: list[np.ndarray]) -> None:
        if not self._fused_step(indices, grads):
            super()._step(indices, grads)

    def _fused_step(self, indices: list[int], grads: list[np.ndarray]) -> bool:
        """The whole step in one C++ call when every variable is float32 and gets a gradient:
        the same float32 arithmetic as `_update_step`, bit for bit, without a dozen array
        passes and the Python around them (most of a small model's step). False when it does
        not apply; the NumPy path then runs."""
        float32 = np.dtype(np.float32)
        if self.amsgrad or len(self._groups) != 1 or indices != self._groups.get(float32):
            return False
        clipped = self._clip(grads)
        t = np.float32
        lr = t(self.learning_rate)
        step = t(self.iterations + 1)
        beta_1, beta_2, one = t(self.beta_1), t(self.beta_2), t(1)
        alpha = lr * np.sqrt(one - beta_2**step) / (one - beta_1**step)
        decay = self.weight_decay
        variables = self._built_variables
        with _interrupts_deferred():
            done = _core._adam_update(
                [variables[i] for i in indices],
                clipped,
                self._flat_slots[float32, "momentum"],
                self._flat_slots[float32, "velocity"],
                float(alpha),
                float(one - beta_1),
                float(one - beta_2),
                float(t(self.epsilon)),
                decay is not None,
                float(t(decay or 0.0)),
                float(lr),
            )
            if done:
                self.iterations += 1
        return bool(done)

    def _update_step(
        self, grad: np.ndarray, var: np.ndarray, slots: dict[str, np.ndarray], lr: np.floating
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        t = var.dtype.type
        step = t(self.iterations + 1)
        beta_1, beta_2 = t(self.beta_1), t(self.beta_2)
        one = t(1)
        alpha = lr * np.sqrt(one - beta_2**step) / (one - beta_1**step)
        m = slots["momentum"] + (grad - slots["momentum"]) * (one - beta_1)
        v = slots["velocity"] + (np.square(grad) - slots["velocity"]) * (one - beta_2)
        new_slots = {"momentum": m, "velocity": v}
        if self.amsgrad:
            v = new_slots["velocity_hat"] = np.maximum(slots["velocity_hat"], v)
        return var - (m * alpha) / (np.sqrt(v) + t(self.epsilon)), new_slots

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004): var -= var * weight_decay * lr before
    the Adam update."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if weight_decay is None:
            raise ValueError("AdamW needs a weight_decay (a float >= 0), got None")
        super().__init__(
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
            weight_decay,
            clipnorm,
            clipvalue,
            global_clipnorm,
            name,
            **kwargs,
        )


class RMSprop(Optimizer):
    """RMSprop: v = rho v + (1 - rho) g^2; increment = lr g / sqrt(v + epsilon) (centered:
    sqrt(v - a^2 + epsilon) with a = rho a + (1 - rho) g); with momentum,
    mom = momentum * mom + increment and var -= mom, else var -= increment."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs
        )
        self.rho = _check_number("rho", rho, 0.0, 1.0)
        self.momentum = _check_number("momentum", momentum)
        self.epsilon = _check_number("epsilon", epsilon)
        self.centered = bool(centered)

    def _slot_initial_values(self) -> dict[str, float]:
        slots = {"velocity": 0.0}
        if self.momentum > 0:
            slots["momentum"] = 0.0
        if self.centered:
            slots["average_gradient"] = 0.0
        return slots

    def _update_step(
        self, grad: np.ndarray, var: np.ndarray, slots: dict[str, np.ndarray], lr: np.floating
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        t = var.dtype.type
        rho, one, epsilon = t(self.rho), t(1), t(self.epsilon)
        v = rho * slots["velocity"] + (one - rho) * np.square(grad)
        new_slots = {"velocity": v}
        if self.centered:
            a = rho * slots["average_gradient"] + (one - rho) * grad
            new_slots["average_gradient"] = a
            denominator = v - np.square(a) + epsilon
        else:
            denominator = v + epsilon
        increment = lr * grad / np.sqrt(denominator)
        if self.momentum > 0:
            mom = t(self.momentum) * slots["momentum"] + increment
            new_slots["momentum"] = mom
            return var - mom, new_slots
        return var - increment, new_slots

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Adagrad: acc += g^2 (acc starts at initial_accumulator_value);
    var -= lr g / sqrt(acc + epsilon)."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs
        )
        self.initial_accumulator_value = _check_number(
            "initial_accumulator_value", initial_accumulator_value
        )
        self.epsilon = _check_number("epsilon", epsilon)

    def _slot_initial_values(self) -> dict[str, float]:
        return {"accumulator": self.initial_accumulator_value}

    def _update_step(
        self, grad: np.ndarray, var: np.ndarray, slots: dict[str, np.ndarray], lr: np.floating
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        acc = slots["accumulator"] + np.square(grad)
        return var - lr * grad / np.sqrt(acc + var.dtype.type(self.epsilon)), {"accumulator": acc}

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }
