"""Learning-rate schedules (Keras path `keras.optimizers.schedules`).

A schedule maps the optimizer's step count (`optimizer.iterations`, the number of updates
already applied) to a learning rate; the optimizer calls it once per update. Formulas and
arguments are Keras 3's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "CosineDecay",
    "ExponentialDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "deserialize",
    "serialize",
]


class LearningRateSchedule:
    """Base class: `schedule(step) -> float`, plus `get_config` / `from_config`."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        """Rebuild a schedule from `get_config()`."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_decay_steps(decay_steps: float) -> None:
    if not decay_steps > 0:
        raise ValueError(f"decay_steps must be > 0, got {decay_steps}")


def _check_rate(name: str, value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps), the exponent floored when
    `staircase`."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        _check_rate("initial_learning_rate", initial_learning_rate)
        _check_decay_steps(decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return float(self.initial_learning_rate * self.decay_rate**p)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] for step <= boundaries[0], values[i] for boundaries[i-1] < step <=
    boundaries[i], values[-1] after the last boundary."""

    def __init__(
        self,
        boundaries: Sequence[float],
        values: Sequence[float],
        name: str = "PiecewiseConstant",
    ) -> None:
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                f"boundaries must have one entry fewer than values: got {len(boundaries)} "
                f"boundaries and {len(values)} values"
            )
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must increase strictly, got {list(boundaries)}")
        for value in values:
            _check_rate("values", value)
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name

    def __call__(self, step: int) -> float:
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from the initial (or warm-up target) rate to alpha times it over
    `decay_steps`, after an optional linear warm-up of `warmup_steps` to `warmup_target`."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: float = 0,
    ) -> None:
        _check_rate("initial_learning_rate", initial_learning_rate)
        _check_decay_steps(decay_steps)
        if warmup_target is not None:
            _check_rate("warmup_target", warmup_target)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step: float, decay_from: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return decay_from * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step: int) -> float:
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        clamped = min(step, self.decay_steps + self.warmup_steps)
        if clamped < self.warmup_steps:
            fraction = clamped / self.warmup_steps
            start = self.initial_learning_rate
            return (self.warmup_target - start) * fraction + start
        return self._decay(clamped - self.warmup_steps, self.warmup_target)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


_CLASSES: dict[str, type[LearningRateSchedule]] = {
    cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay)
}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """{"class_name": ..., "config": ...}."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict[str, Any]) -> LearningRateSchedule:
    """The inverse of `serialize` for the built-in schedules."""
    name = config.get("class_name")
    if name not in _CLASSES:
        raise ValueError(
            f"unknown learning-rate schedule {name!r}; valid: {', '.join(sorted(_CLASSES))}"
        )
    return _CLASSES[name].from_config(dict(config.get("config", {})))
