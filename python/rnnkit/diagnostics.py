"""Training diagnostics: how much gradient reaches each timestep (vanishing gradients, visible).

:func:`gradient_norms` runs one training step's forward and backward pass (no update) and
returns, for every recurrent layer, the norm of dLoss/dh_t at each timestep t — the total
gradient with respect to the state after step t, which the kernels' backward computes anyway
(``return_dh_seq=True``; see docs/functional-api.md). For a SimpleRNN trained on a target that
depends on the first steps of a long sequence, the curve decays exponentially towards t = 0;
LSTM and GRU keep it flat — the seed article's chapter 4, measured
(``examples/adding_problem.py``).

How it reaches the layers: every recurrent layer has a ``record_dh_seq`` flag; while it is set,
the layer's backward asks its kernel for ``dh_seq`` and keeps it in ``layer.dh_seq`` (B, T, H),
in the input's time order. :func:`gradient_norms` sets the flag for one
``model.compute_gradients`` call and clears it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnkit.layers.base import Layer
from rnnkit.layers.recurrent import Recurrent

if TYPE_CHECKING:
    from rnnkit.models import Model

__all__ = ["gradient_norms", "recurrent_layers"]


def recurrent_layers(model: Model) -> dict[str, Recurrent]:
    """Every recurrent layer of ``model`` (inside Bidirectional wrappers and nested models too),
    by path: ``"lstm"``, ``"bidirectional/forward_gru"``, ``"inner_model/simple_rnn"``."""

    def walk(layer: Layer, prefix: str) -> Iterator[tuple[str, Recurrent]]:
        for sub in layer._sublayers():
            path = f"{prefix}{sub.name}"
            if isinstance(sub, Recurrent):
                yield path, sub
            yield from walk(sub, path + "/")

    return dict(walk(model, ""))


def gradient_norms(
    model: Model,
    x: Any,
    y: Any,
    sample_weight: Any = None,
    per_sample: bool = False,
) -> dict[str, np.ndarray]:
    """Per recurrent layer, the norm of dLoss/dh_t at every timestep t, for one batch.

    The loss is the model's compiled loss on ``(x, y)``, as one ``fit`` step computes it
    (training mode: dropout active if the model has any); no weight changes.

    Args:
        model: a compiled rnnkit model with at least one SimpleRNN/LSTM/GRU layer.
        x: the batch's inputs, as for ``model.compute_gradients``.
        y: the batch's targets.
        sample_weight: the batch's sample weights, or None.
        per_sample: False (default): one norm per timestep over the whole batch,
            ``sqrt(sum over b, h of dLoss/dh_t[b, h]^2)``, shape (T,). True: one norm per
            sequence and timestep, shape (B, T).

    Returns:
        ``{layer path: norms}`` in the layers' order (paths as :func:`recurrent_layers`).
        Timesteps are in the input's order, also for ``go_backwards`` layers. At a masked
        step the state passes through unchanged, and so does its gradient.

    Raises:
        ValueError: the model has no recurrent layer. RuntimeError: it is not compiled.
    """
    layers = recurrent_layers(model)
    if not layers:
        raise ValueError(
            f"[gradient_norms] {getattr(model, 'name', 'the model')} has no recurrent layer"
        )
    for layer in layers.values():
        layer.record_dh_seq = True
        layer.dh_seq = None
    try:
        model.compute_gradients(x, y, sample_weight)
    finally:
        for layer in layers.values():
            layer.record_dh_seq = False
    norms = {}
    for path, layer in layers.items():
        dh_seq = layer.dh_seq  # (B, T, H)
        layer.dh_seq = None
        if dh_seq is None:  # no gradient reached the layer (e.g. frozen path)
            continue
        squares = np.square(dh_seq, dtype=np.float64).sum(axis=2)  # (B, T)
        norms[path] = np.sqrt(squares if per_sample else squares.sum(axis=0))
    return norms
