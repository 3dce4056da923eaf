"""Bidirectional: a recurrent layer run forwards and backwards over the sequence, merged."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from .base import Layer, Mask, Shape, deserialize_layer, serialize_layer
from .recurrent import Recurrent, flatten_state_call, unflatten_state_call

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _without_prefix(name: str, prefix: str) -> str:
    return name.removeprefix(prefix)


class Bidirectional(Layer):
    """Keras's Bidirectional wrapper for SimpleRNN, LSTM and GRU.

    The forward copy reads the sequence in order, the backward copy (``go_backwards`` flipped)
    from its end; with ``return_sequences`` the backward outputs are flipped back to the
    original time order before merging (``merge_mode`` ``"concat"`` (default), ``"sum"``,
    ``"mul"``, ``"ave"``, or None for the two outputs as a list). With masks and
    ``return_sequences``, both copies output zeros at masked steps (Keras forces
    ``zero_output_for_mask``). ``return_state=True`` adds the forward states then the backward
    ones; ``initial_state`` takes them in that order. Weights: the forward layer's, then the
    backward layer's.
    """

    input_ndim = 3
    fixed_last_axis = True

    def __init__(
        self,
        layer: Recurrent,
        merge_mode: str | None = "concat",
        weights: Any = None,
        backward_layer: Recurrent | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(layer, Recurrent):
            raise TypeError(
                f"Bidirectional: layer must be an rnnkit SimpleRNN, LSTM or GRU, got {layer!r}"
            )
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Bidirectional: merge_mode must be one of {list(MERGE_MODES)}, got {merge_mode!r}"
            )
        if layer._batch_input_shape is not None and not (
            {"input_shape", "batch_input_shape", "input_dim"} & set(kwargs)
        ):
            kwargs["batch_input_shape"] = layer._batch_input_shape
        super().__init__(**kwargs)
        config = layer.get_config()
        config.pop("batch_input_shape", None)
        self.forward_layer = cast(
            Recurrent,
            type(layer).from_config(
                {**config, "name": "forward_" + _without_prefix(layer.name, "forward_")}
            ),
        )
        self.backward_layer: Recurrent
        if backward_layer is None:
            self.backward_layer = cast(
                Recurrent,
                type(layer).from_config(
                    {
                        **config,
                        "go_backwards": not layer.go_backwards,
                        # from_config passes the forward copy: strip its prefix too.
                        "name": "backward_"
                        + _without_prefix(_without_prefix(layer.name, "forward_"), "backward_"),
                    }
                ),
            )
        else:
            if not isinstance(backward_layer, Recurrent):
                raise TypeError(
                    f"Bidirectional: backward_layer must be an rnnkit recurrent layer, got "
                    f"{backward_layer!r}"
                )
            self.backward_layer = backward_layer
        self._custom_backward = backward_layer is not None
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(
                "Bidirectional: the forward and backward layers must have different go_backwards"
            )
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(self.forward_layer, attr) != getattr(self.backward_layer, attr):
                raise ValueError(
                    f"Bidirectional: the forward and backward layers must have the same {attr}"
                )
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        self._initial_weights = weights

    def _sublayers(self) -> list[Layer]:
        return [self.forward_layer, self.backward_layer]

    def build(self, input_shapes: list[Shape]) -> None:
        for sub in self._sublayers():
            if not sub.built:
                sub.build([input_shapes[0]])
        self._built_input_shapes = [tuple(s) for s in input_shapes]
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _flatten_call(self, inputs: Any, initial_state: Any = None, **kwargs: Any) -> list[Any]:
        count = 2 * self.forward_layer.state_count
        hint = "the forward layer's states, then the backward layer's"
        return flatten_state_call(self.name, inputs, initial_state, kwargs, count, hint)

    def _unflatten_call(self, flat: list[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return unflatten_state_call(flat)

    def check_input_shapes(self, shapes: list[Shape], what: str = "x") -> None:
        super().check_input_shapes(shapes[:1], what)
        half = (len(shapes) - 1) // 2
        self.forward_layer.check_input_shapes([shapes[0], *shapes[1 : 1 + half]], what)
        self.backward_layer.check_input_shapes([shapes[0], *shapes[1 + half :]], what)

    def compute_output_shape(self, input_shapes: list[Shape]) -> list[Shape]:
        shapes = self.forward_layer.compute_output_shape(input_shapes[:1])
        out, states = shapes[0], shapes[1:]
        outs: list[Shape]
        if self.merge_mode == "concat":
            outs = [(*out[:-1], 2 * cast(int, out[-1]))]
        elif self.merge_mode is None:
            outs = [out, out]
        else:
            outs = [out]
        return outs + states + states

    def compute_mask(self, inputs: list[np.ndarray], masks: list[Mask]) -> list[Mask]:
        out = masks[0] if self.return_sequences else None
        outs = [out, out] if self.merge_mode is None else [out]
        states = self.forward_layer.state_count if self.return_state else 0
        return outs + [None] * (2 * states)

    def forward(
        self, inputs: list[np.ndarray], training: bool, masks: list[Mask]
    ) -> tuple[list[np.ndarray], Any]:
        x, states = inputs[0], list(inputs[1:])
        half = len(states) // 2
        f_out, f_cache = self.forward_layer.forward(
            [x, *states[:half]], training, [masks[0]] + [None] * half
        )
        b_out, b_cache = self.backward_layer.forward(
            [x, *states[half:]], training, [masks[0]] + [None] * half
        )
        y, y_rev = f_out[0], b_out[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        if self.merge_mode == "concat":
            merged = [np.concatenate([y, y_rev], axis=-1)]
        elif self.merge_mode == "sum":
            merged = [y + y_rev]
        elif self.merge_mode == "ave":
            merged = [(y + y_rev) / 2]
        elif self.merge_mode == "mul":
            merged = [y * y_rev]
        else:
            merged = [y, y_rev]
        return merged + f_out[1:] + b_out[1:], (f_cache, b_cache, y, y_rev)

    def backward(
        self, grad_outputs: list[np.ndarray | None], cache: Any
    ) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
        f_cache, b_cache, y, y_rev = cache
        n_merged = 2 if self.merge_mode is None else 1
        grad = grad_outputs[0]
        if self.merge_mode is None:
            g_fwd, g_bwd = grad_outputs[0], grad_outputs[1]
        elif grad is None:
            g_fwd = g_bwd = None
        elif self.merge_mode == "concat":
            units = y.shape[-1]
            g_fwd, g_bwd = grad[..., :units], grad[..., units:]
        elif self.merge_mode == "sum":
            g_fwd = g_bwd = grad
        elif self.merge_mode == "ave":
            g_fwd = g_bwd = grad / 2
        else:
            g_fwd, g_bwd = grad * y_rev, grad * y
        if self.return_sequences and g_bwd is not None:
            g_bwd = g_bwd[:, ::-1]
        state_grads = list(grad_outputs[n_merged:])
        count = self.forward_layer.state_count if self.return_state else 0
        f_in, f_w = self.forward_layer.backward([g_fwd, *state_grads[:count]], f_cache)
        b_in, b_w = self.backward_layer.backward([g_bwd, *state_grads[count:]], b_cache)
        # A recurrent layer's backward always returns the gradient of x.
        dx = cast(np.ndarray, f_in[0]) + cast(np.ndarray, b_in[0])
        return [dx, *f_in[1:], *b_in[1:]], f_w + b_w

    def reset_state(self, states: Any = None) -> None:
        """Reset both directions' states (zeros, or forward states then backward states)."""
        if states is None:
            self.forward_layer.reset_state()
            self.backward_layer.reset_state()
            return
        half = len(states) // 2
        self.forward_layer.reset_state(list(states[:half]))
        self.backward_layer.reset_state(list(states[half:]))

    def reset_states(self, states: Any = None) -> None:
        """Keras 2's name for :meth:`reset_state`."""
        self.reset_state(states)

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "layer": serialize_layer(self.forward_layer),
            "merge_mode": self.merge_mode,
        }
        if self._custom_backward:
            config["backward_layer"] = serialize_layer(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Bidirectional:
        config = dict(config)
        layer = deserialize_layer(config.pop("layer"))
        backward = config.pop("backward_layer", None)
        if backward is not None:
            backward = deserialize_layer(backward)
        # __init__ checks that the layers are recurrent.
        return cls(cast(Recurrent, layer), backward_layer=backward, **config)
