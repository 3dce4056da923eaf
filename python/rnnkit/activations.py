"""Activation functions with Keras's names, each with its derivative for the training loop.

``get("relu")`` returns an :class:`Activation`: call it on an array for the value; its
``backward(dy, x, y)`` gives dLoss/dx from dLoss/dy, the input x and the output y. The module
attributes (``rnnkit.activations.relu`` ...) are those objects, so ``activation=relu`` works
like ``activation="relu"``.
"""

from __future__ import annotations

from typing import Callable, Union

import numpy as np

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: no overflow warning for large |x|.
    e = np.exp(-np.abs(x))
    y: np.ndarray = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)
    return y


def _softmax(x: np.ndarray) -> np.ndarray:
    # Array methods, not np.max/np.sum: the same reductions without the dispatch cost.
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    y: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return y


def _softplus(x: np.ndarray) -> np.ndarray:
    y: np.ndarray = np.logaddexp(0, x).astype(x.dtype, copy=False)
    return y


class Activation:
    """An elementwise (or last-axis, for softmax) activation and its derivative."""

    def __init__(
        self,
        name: str,
        forward: Callable[[np.ndarray], np.ndarray],
        backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    ) -> None:
        self.name = name
        self._forward = forward
        self._backward = backward

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._forward(np.asarray(x))

    def backward(self, dy: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """dLoss/dx from dLoss/dy, given the input x and the output y = self(x)."""
        return self._backward(dy, x, y)

    def __repr__(self) -> str:
        return f"<rnnkit.activations.{self.name}>"


def _elu_grad(dy: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return dy * np.where(x > 0, 1.0, y + 1.0)


def _selu_grad(dy: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return dy * np.where(x > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA)


def _swish_grad(dy: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    s = _sigmoid(x)
    dx: np.ndarray = dy * (s + x * s * (1 - s))
    return dx


def _softmax_grad(dy: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    dx: np.ndarray = y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
    return dx


linear = Activation("linear", lambda x: x, lambda dy, x, y: dy)
relu = Activation("relu", lambda x: np.maximum(x, 0), lambda dy, x, y: dy * (x > 0))
tanh = Activation("tanh", np.tanh, lambda dy, x, y: dy * (1 - y * y))
sigmoid = Activation("sigmoid", _sigmoid, lambda dy, x, y: dy * y * (1 - y))
softmax = Activation("softmax", _softmax, _softmax_grad)
elu = Activation("elu", lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), _elu_grad)
selu = Activation(
    "selu",
    lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    _selu_grad,
)
softplus = Activation("softplus", _softplus, lambda dy, x, y: dy * _sigmoid(x))
softsign = Activation(
    "softsign", lambda x: x / (1 + np.abs(x)), lambda dy, x, y: dy / (1 + np.abs(x)) ** 2
)
swish = Activation("swish", lambda x: x * _sigmoid(x), _swish_grad)
exponential = Activation("exponential", np.exp, lambda dy, x, y: dy * y)
hard_sigmoid = Activation(
    "hard_sigmoid",
    lambda x: np.clip(x / 6 + 0.5, 0, 1),
    lambda dy, x, y: dy * ((x > -3) & (x < 3)) / 6,
)
relu6 = Activation("relu6", lambda x: np.clip(x, 0, 6), lambda dy, x, y: dy * ((x > 0) & (x < 6)))

_ALL = {
    a.name: a
    for a in (
        linear,
        relu,
        tanh,
        sigmoid,
        softmax,
        elu,
        selu,
        softplus,
        softsign,
        swish,
        exponential,
        hard_sigmoid,
        relu6,
    )
}
_ALIASES = {"silu": "swish"}

Identifier = Union[str, Activation, None]


def get(identifier: Identifier) -> Activation:
    """The activation named `identifier` (None means linear), or the Activation itself.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
        TypeError: anything else; arbitrary Python callables have no derivative rnnkit can
            use for training.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name in _ALL:
            return _ALL[name]
        raise ValueError(
            f"activation: unknown activation {identifier!r}; valid names are "
            f"{sorted(_ALL) + sorted(_ALIASES)}"
        )
    raise TypeError(
        f"activation: expected a name (one of {sorted(_ALL)}) or an rnnkit.activations "
        f"function, got {identifier!r} (custom callables have no derivative rnnkit can train)"
    )


def serialize(activation: Activation) -> str:
    """The name of an activation (what ``get`` takes back)."""
    return activation.name
