"""Keras 3 interop: :func:`from_keras` and :func:`to_keras` (docs/interop.md).

rnnkit layers hold Keras's weight layout and gate orders (DESIGN.md section 2), so weights cross
unchanged: what moves is each layer's configuration. Keras is imported with
``KERAS_BACKEND=torch`` unless the environment says otherwise (any backend works: weights travel
as NumPy arrays).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from typing import Any, cast

import keras

from rnnkit import layers as rk
from rnnkit.models import Model, Sequential

# Options both libraries share. Options rnnkit does not implement (regularizers, constraints,
# recurrent_dropout, unroll ...) are passed too when set, so that rnnkit refuses them loudly.
_LAYER_OPTIONS = ("name", "trainable")
_RECURRENT_OPTIONS = (
    "units",
    "activation",
    "use_bias",
    "dropout",
    "seed",
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "zero_output_for_mask",
)
_REFUSED_IF_SET = (
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "embeddings_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "embeddings_constraint",
    "lora_rank",
)
_OPTIONS = {  # class name -> its own options, besides the shared ones
    "SimpleRNN": _RECURRENT_OPTIONS,
    "LSTM": (*_RECURRENT_OPTIONS, "recurrent_activation", "unit_forget_bias"),
    "GRU": (*_RECURRENT_OPTIONS, "recurrent_activation", "reset_after"),
    "Dense": ("units", "activation", "use_bias"),
    "Embedding": ("input_dim", "output_dim", "mask_zero"),
    "Dropout": ("rate", "noise_shape", "seed"),
    "Activation": ("activation",),
    "Masking": ("mask_value",),
}
_RECURRENT_REFUSED = {"recurrent_dropout": 0.0, "unroll": False}


def _options(config: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {n: config[n] for n in names if n in config}


def _refused(config: dict[str, Any]) -> dict[str, Any]:
    """The options in a config that are set but that rnnkit refuses (so it can say so)."""
    out = {n: config[n] for n in _REFUSED_IF_SET if config.get(n) is not None}
    out.update({n: config[n] for n, ok in _RECURRENT_REFUSED.items() if config.get(n, ok) != ok})
    return out


def _copy_weights(source: Any, target: Any) -> None:
    weights = source.get_weights()
    if weights:
        target.set_weights(weights)


# ---- from_keras ----------------------------------------------------------------------------------


def from_keras(layer_or_model: Any) -> rk.Layer:
    """An rnnkit layer or Sequential with the configuration and weights of a Keras 3 one.

    Supported: ``keras.Sequential`` and the layers SimpleRNN, LSTM, GRU (``reset_after`` True
    or False), Bidirectional (every ``merge_mode``), Embedding (``mask_zero``), Dense,
    Dropout, Activation, Masking and TimeDistributed of those. A built Keras object gives a
    built rnnkit one holding the same weights (same layout, copied), so predictions agree,
    masks included, and ``count_params()`` matches; an unbuilt one gives an unbuilt one.
    Initializers are not carried (the weights are).

    Raises:
        TypeError: a layer type not listed above, or a functional (non-Sequential) model.
        ValueError: an option rnnkit does not implement (rnnkit's own message naming it).
    """
    if isinstance(layer_or_model, keras.Sequential):
        return _from_keras_sequential(layer_or_model)
    if isinstance(layer_or_model, keras.Model):
        raise TypeError("from_keras: only keras.Sequential models are supported")
    return _from_keras_layer(layer_or_model)


def _from_keras_sequential(model: keras.Sequential) -> Sequential:
    layers: list[Any] = []
    if model.built and model.inputs:
        tensor = model.inputs[0]
        dtype = str(tensor.dtype)
        layers.append(
            rk.Input(batch_shape=tuple(tensor.shape), dtype=dtype if "int" in dtype else None)
        )
    layers += [_from_keras_layer(layer) for layer in model.layers]
    return Sequential(layers, name=model.name)


def _from_keras_layer(layer: Any) -> rk.Layer:
    cls = type(layer).__name__
    config = layer.get_config()
    common = _options(config, _LAYER_OPTIONS)
    if isinstance(layer, keras.layers.Bidirectional):
        inner = _from_keras_layer(layer.forward_layer)
        inner.name = inner.name.removeprefix("forward_")
        # A Keras Bidirectional wraps an RNN, which converts to an rk.Recurrent.
        wrapped = cast(rk.Recurrent, inner)
        out: rk.Layer = rk.Bidirectional(wrapped, merge_mode=config["merge_mode"], **common)
        kernel = layer.forward_layer.get_weights()[:1]
        if kernel:
            out.build([(None, None, kernel[0].shape[0])])
    elif isinstance(layer, keras.layers.TimeDistributed):
        out = rk.TimeDistributed(_from_keras_layer(layer.layer), **common)
        kernel = layer.layer.get_weights()[:1]
        if kernel:
            out.build([(None, None, kernel[0].shape[0])])
    elif cls in _OPTIONS and isinstance(layer, getattr(keras.layers, cls)):
        out = getattr(rk, cls)(**_options(config, _OPTIONS[cls]), **_refused(config), **common)
        weights = layer.get_weights()
        if weights and isinstance(out, rk.Embedding):
            out.build([(None, None)])
        elif weights:
            rank = 3 if isinstance(out, rk.Recurrent) else 2
            out.build([(None,) * (rank - 1) + (weights[0].shape[0],)])
    else:
        raise TypeError(
            f"from_keras: unsupported layer {cls} ({layer.name}); supported: "
            f"{', '.join([*_OPTIONS, 'Bidirectional', 'TimeDistributed'])}"
        )
    if out.built:
        _copy_weights(layer, out)
    return out


# ---- to_keras ------------------------------------------------------------------------------------


def to_keras(layer_or_model: rk.Layer) -> Any:
    """A Keras 3 layer or ``keras.Sequential`` with the configuration and weights of an rnnkit
    one (the inverse of :func:`from_keras`; same supported layers).

    Raises:
        TypeError: a layer type without a Keras counterpart here, or a functional Model.
    """
    if isinstance(layer_or_model, Sequential):
        return _to_keras_sequential(layer_or_model)
    if isinstance(layer_or_model, Model):
        raise TypeError("to_keras: only rnnkit Sequential models are supported")
    return _to_keras_layer(layer_or_model)


def _to_keras_sequential(model: Sequential) -> keras.Sequential:
    layers: list[Any] = []
    if model._graph_ready:
        tensor = model.inputs[0]
        layers.append(keras.Input(batch_shape=tuple(tensor.shape), dtype=tensor.dtype))
    layers += [_to_keras_layer(layer) for layer in model.layers]
    return keras.Sequential(layers, name=model.name)


def _to_keras_layer(layer: rk.Layer) -> Any:
    cls = type(layer).__name__
    config = layer.get_config()
    common = _options(config, _LAYER_OPTIONS)
    if isinstance(layer, rk.Bidirectional):
        inner = _to_keras_layer(layer.forward_layer)
        backward = _to_keras_layer(layer.backward_layer) if layer._custom_backward else None
        out = keras.layers.Bidirectional(
            inner, merge_mode=layer.merge_mode, backward_layer=backward, **common
        )
    elif isinstance(layer, rk.TimeDistributed):
        out = keras.layers.TimeDistributed(_to_keras_layer(layer.layer), **common)
    elif cls in _OPTIONS and type(layer) is getattr(rk, cls):
        out = getattr(keras.layers, cls)(**_options(config, _OPTIONS[cls]), **common)
    else:
        raise TypeError(
            f"to_keras: unsupported layer {cls} ({layer.name}); supported: "
            f"{', '.join([*_OPTIONS, 'Bidirectional', 'TimeDistributed'])}"
        )
    if layer.built and layer._built_input_shapes is not None:
        shape = layer._built_input_shapes[0]
        out.build(shape if not isinstance(layer, rk.Embedding) else (None, None))
        _copy_weights(layer, out)
    return out
