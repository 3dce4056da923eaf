"""Optimizers (Keras path `keras.optimizers`): SGD, Adam, AdamW, RMSprop, Adagrad, with Keras 3
defaults, gradient clipping and learning-rate `schedules`.

    opt = rnnkit.optimizers.get("adam")          # or Adam(1e-3, clipnorm=5.0), or a config dict
    opt.apply_gradients(zip(grads, variables))   # np.ndarray variables, updated in place
"""

from __future__ import annotations

from typing import Any, Union

from rnnkit.optimizers import schedules
from rnnkit.optimizers.optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "deserialize",
    "get",
    "schedules",
    "serialize",
]

_CLASSES: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)
}

OptimizerLike = Union[str, Optimizer, dict[str, Any]]


def get(identifier: OptimizerLike) -> Optimizer:
    """An Optimizer from a name ("sgd", "adam", "adamw", "rmsprop", "adagrad", any case), an
    instance (returned as is), a class, or a `serialize()` / Keras config dict.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        return _class_named(identifier)()  # type: ignore[call-arg]  # the concrete ones default it
    raise TypeError(
        f"optimizer must be a string, an Optimizer or a dict, got {type(identifier).__name__}"
    )


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """{"class_name": ..., "config": ...}, the layout Keras uses."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict[str, Any]) -> Optimizer:
    """The inverse of `serialize` (Keras's optimizer dicts too, for the supported options)."""
    if "class_name" not in config:
        raise ValueError(f"an optimizer dict needs a 'class_name' entry, got keys {list(config)}")
    return _class_named(config["class_name"]).from_config(dict(config.get("config", {})))


def _class_named(name: str) -> type[Optimizer]:
    cls = _CLASSES.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(sorted(_CLASSES))}")
    return cls
