"""SimpleRNN, LSTM and GRU layers on rnnkit's kernels, with Keras's weights, masks and options.

The layers hold Keras's layout (DESIGN.md section 2): ``kernel`` (I, G*H), ``recurrent_kernel``
(H, G*H) and ``bias`` (G*H,) — (2, 3H) for GRU with ``reset_after`` — with Keras's gate orders
(LSTM i, f, c, o; GRU z, r, h). Each call converts them to the kernels' PyTorch layout (LSTM
i, f, g, o is the same order; GRU r, z, n swaps the first two blocks) and converts the kernels'
gradients back.

Masks follow Keras: a masked step leaves the state unchanged; with ``return_sequences`` its
output repeats the last valid output (zeros before the first), or is zero with
``zero_output_for_mask=True``. A mask that is post-padding (each row a prefix of Trues) runs on
the kernels' fast ``lengths``; any other (pre-padding, holes) on their general ``mask``.
``go_backwards`` reads the sequence from its end and returns the outputs in that (reversed)
order, as Keras does: the kernels' ``reverse=True`` with the output flipped in time.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from rnnkit import _random, activations, backend, initializers

from .base import Layer, Mask, Shape
from .core import refuse_unsupported


def kernel_masking(mask: Mask, steps: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(lengths, time-major mask) for the kernels from a (B, T) mask: at most one is not None.

    Post-padding becomes ``lengths`` (the fast path); an all-True mask becomes neither.
    """
    if mask is None:
        return None, None
    lengths = mask.sum(axis=1)
    if np.array_equal(mask, np.arange(steps) < lengths[:, None]):
        if lengths.size == 0 or lengths.min() == steps:
            return None, None
        return lengths.astype(np.int64), None
    return None, np.ascontiguousarray(mask.T)


def repeat_last_valid(y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Keras's masked outputs: y (T, B, H) with each invalid step's row replaced by the row of
    the last valid step before it, or zeros where there is none. ``valid`` (T, B)."""
    steps = valid.shape[0]
    last = np.where(valid, np.arange(steps)[:, None], -1)
    np.maximum.accumulate(last, axis=0, out=last)
    filled = np.take_along_axis(y, np.maximum(last, 0)[:, :, None], axis=0)
    filled *= (last >= 0)[:, :, None]
    return filled


def repeat_last_valid_backward(dy: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The gradient through :func:`repeat_last_valid`: each valid step receives its own dy plus
    that of the invalid steps that repeated it (segment sums in a fixed order)."""
    steps, batch, hidden = dy.shape
    out = np.zeros((batch * steps, hidden), dy.dtype)
    if out.size:
        rows = np.ascontiguousarray(dy.transpose(1, 0, 2)).reshape(batch * steps, hidden)
        valid_bt = valid.T
        boundary = valid_bt.copy()
        boundary[:, 0] = True  # a segment never crosses into the next sequence
        starts = np.flatnonzero(boundary)
        sums = np.add.reduceat(rows, starts, axis=0)
        keep = valid_bt.reshape(-1)[starts]
        out[starts[keep]] = sums[keep]
    return out.reshape(batch, steps, hidden).transpose(1, 0, 2)


def flatten_state_call(
    name: str, inputs: Any, initial_state: Any, kwargs: dict[str, Any], count: int, hint: str
) -> list[Any]:
    """A recurrent call's flat inputs: ``[x, *initial_state]`` (``inputs`` may be that list)."""
    if kwargs:
        raise ValueError(f"[{name}] unexpected call argument(s) {sorted(kwargs)}")
    if isinstance(inputs, (list, tuple)):
        inputs, *states = inputs
        if initial_state is not None and states:
            raise ValueError(f"[{name}] initial states given twice")
        initial_state = states or initial_state
    if initial_state is None:
        return [inputs]
    if not isinstance(initial_state, (list, tuple)):
        initial_state = [initial_state]
    if len(initial_state) != count:
        raise ValueError(
            f"[{name}] initial_state has {len(initial_state)} arrays, expected {count} ({hint})"
        )
    return [inputs, *initial_state]


def unflatten_state_call(flat: list[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The (args, kwargs) of a recurrent call from its flat inputs (for from_config)."""
    return (flat[0],), ({"initial_state": list(flat[1:])} if len(flat) > 1 else {})


def _activation_name(value: Any) -> str:
    return activations.get(value).name


class Recurrent(Layer):
    """Shared machinery of SimpleRNN, LSTM and GRU (not used directly).

    Common arguments (Keras's): ``units``, ``use_bias``, ``kernel_initializer``
    (glorot_uniform), ``recurrent_initializer`` (orthogonal), ``bias_initializer`` (zeros),
    ``dropout`` (inverted dropout on the inputs, one mask per sequence, training only),
    ``return_sequences``, ``return_state``, ``go_backwards``, ``stateful``,
    ``zero_output_for_mask``. ``recurrent_dropout`` must be 0 and ``unroll`` False; regularizers
    and constraints are not supported (each is a ValueError saying so). ``use_cudnn`` and
    ``implementation`` are accepted and have no effect (they choose among equivalent kernels).

    Call: ``layer(x, initial_state=None, mask=None, training=None)``; x (B, T, I).
    """

    input_ndim = 3
    fixed_last_axis = True
    gates = 1
    state_count = 1
    kind = "rnn"
    supported_activations: tuple[str, ...] = ("tanh",)
    #: When True, ``backward`` also asks the kernels for dLoss/dh_t (``return_dh_seq``) and
    #: keeps it in ``self.dh_seq``, (B, T, H) indexed by input timestep (also for
    #: ``go_backwards``): the total gradient with respect to the state after each step.
    #: :func:`rnnkit.diagnostics.gradient_norms` sets it for the duration of one backward.
    record_dh_seq = False
    dh_seq: np.ndarray | None = None

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        use_cudnn: Any = "auto",
        implementation: Any = None,
        time_major: bool = False,
        input_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        cls = type(self).__name__
        refuse_unsupported(
            cls,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
        )
        if unroll:
            raise ValueError(f"{cls}: unroll=True is not supported by rnnkit (use unroll=False)")
        if time_major:
            raise ValueError(f"{cls}: time_major=True is not supported (inputs are (B, T, I))")
        if recurrent_dropout:
            raise ValueError(
                f"{cls}: recurrent_dropout={recurrent_dropout} is not supported by rnnkit "
                f"(only recurrent_dropout=0; dropout= on the inputs is)"
            )
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"{cls}: dropout must be in [0, 1), got {dropout!r}")
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"{cls}: units must be a positive integer, got {units!r}")
        if input_length is not None and "input_shape" not in kwargs:
            kwargs.setdefault(
                "batch_input_shape", (None, input_length, kwargs.pop("input_dim", None))
            )
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = self._check_activation(
            "activation", activation, self.supported_activations
        )
        self.recurrent_activation = self._check_activation(
            "recurrent_activation", recurrent_activation, ("sigmoid",)
        )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = float(dropout)
        self.seed = seed
        self._dropout_rng = np.random.default_rng(seed) if seed is not None else None
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.use_cudnn = use_cudnn
        self._states: list[np.ndarray] | None = None

    def _check_activation(self, arg: str, value: Any, supported: tuple[str, ...]) -> str:
        name = _activation_name(value)
        if name not in supported:
            raise ValueError(
                f"{type(self).__name__}: {arg}={name!r} is not supported by rnnkit's kernels "
                f"(supported: {', '.join(repr(s) for s in supported)})"
            )
        return name

    # ---- weights -----------------------------------------------------------------------------

    def _bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def _bias_initializer(self) -> Any:
        return self.bias_initializer

    def _build(self, input_shape: Shape) -> None:
        features = input_shape[-1]
        if features is None:
            raise ValueError(
                f"[{self.name}] the feature axis of x must be known, got {input_shape}"
            )
        gh = self.gates * self.units
        self.kernel = self.add_weight("kernel", (features, gh), self.kernel_initializer)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, gh), self.recurrent_initializer
        )
        self.bias = (
            self.add_weight("bias", self._bias_shape(), self._bias_initializer())
            if self.use_bias
            else None
        )

    def _torch_weights(self) -> tuple[Any, Any, Any, Any]:
        """(w_ih, w_hh, b_ih, b_hh) in the kernels' layout (views where possible)."""
        return self.kernel.T, self.recurrent_kernel.T, self.bias, None

    def _keras_grads(self, grads: dict[str, Any]) -> list[np.ndarray]:
        out = [grads["w_ih"].T, grads["w_hh"].T]
        if self.use_bias:
            out.append(grads["b_ih"])
        return out

    # ---- shapes and masks --------------------------------------------------------------------

    def _flatten_call(self, inputs: Any, initial_state: Any = None, **kwargs: Any) -> list[Any]:
        hint = "[h, c]" if self.state_count == 2 else "[h]"
        return flatten_state_call(self.name, inputs, initial_state, kwargs, self.state_count, hint)

    def _unflatten_call(self, flat: list[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return unflatten_state_call(flat)

    def check_input_shapes(self, shapes: list[Shape], what: str = "x") -> None:
        super().check_input_shapes(shapes, what)
        for i, shape in enumerate(shapes[1:]):
            expected = (shapes[0][0], self.units)
            if (
                len(shape) != 2
                or shape[1] != self.units
                or (None not in (shape[0], expected[0]) and shape[0] != expected[0])
            ):
                raise ValueError(
                    f"[{self.name}] initial_state[{i}] has shape {tuple(shape)}, expected "
                    f"(B, units) = {expected}"
                )

    def compute_output_shape(self, input_shapes: list[Shape]) -> list[Shape]:
        batch, steps = input_shapes[0][0], input_shapes[0][1]
        out: Shape = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        return [out] + [(batch, self.units)] * (self.state_count if self.return_state else 0)

    def compute_mask(self, inputs: list[np.ndarray], masks: list[Mask]) -> list[Mask]:
        out = masks[0] if self.return_sequences else None
        return [out] + [None] * (self.state_count if self.return_state else 0)

    # ---- states ------------------------------------------------------------------------------

    @property
    def states(self) -> list[np.ndarray] | None:
        """A stateful layer's carried states ([h] or [h, c], each (B, units)), or None."""
        return self._states

    def reset_state(self, states: Any = None) -> None:
        """Reset a stateful layer's states to zeros, or to the given arrays.

        Raises:
            ValueError: the layer is not stateful, or the states have the wrong count/shape.
        """
        if not self.stateful:
            raise ValueError(f"[{self.name}] reset_state: the layer is not stateful")
        if states is None:
            if self._states is not None:
                for s in self._states:
                    s[...] = 0
            return
        if not isinstance(states, (list, tuple)):
            states = [states]
        if len(states) != self.state_count:
            raise ValueError(
                f"[{self.name}] reset_state: states has {len(states)} arrays, expected "
                f"{self.state_count}"
            )
        arrays = [np.array(s, dtype=backend.floatx()) for s in states]
        for i, s in enumerate(arrays):
            if s.ndim != 2 or s.shape[1] != self.units or s.shape[0] != arrays[0].shape[0]:
                raise ValueError(
                    f"[{self.name}] reset_state: states[{i}] has shape {s.shape}, expected "
                    f"(B, {self.units})"
                )
        self._states = arrays

    def reset_states(self, states: Any = None) -> None:
        """Keras 2's name for :meth:`reset_state`."""
        self.reset_state(states)

    def _carried_states(self, batch: int, dtype: np.dtype) -> list[np.ndarray]:
        if self._states is None:
            self._states = [np.zeros((batch, self.units), dtype) for _ in range(self.state_count)]
        if self._states[0].shape[0] != batch:
            raise ValueError(
                f"[{self.name}] is stateful with batch size {self._states[0].shape[0]}, but x "
                f"has batch size {batch} (a stateful layer needs the same batch size every "
                f"call; call reset_state() after changing it is not enough: rebuild the model)"
            )
        return self._states

    # ---- the kernels -------------------------------------------------------------------------

    def _kernel_forward(
        self, ops: Any, x: Any, init: list[Any], weights: tuple[Any, ...], **kw: Any
    ) -> tuple[Any, list[Any], Any]:
        y, h_n, saved = ops.rnn_forward(x, init[0], *weights, activation=self.activation, **kw)
        return y, [h_n], saved

    def _kernel_backward(
        self, ops: Any, dy: Any, dstates: list[Any], saved: Any, **kw: Any
    ) -> dict[str, Any]:
        return cast(dict[str, Any], ops.rnn_backward(dy, dstates[0], saved, **kw))

    def forward(
        self, inputs: list[np.ndarray], training: bool, masks: list[Mask]
    ) -> tuple[list[np.ndarray], Any]:
        x = inputs[0]
        batch, steps, features = x.shape
        init: list[Any] = list(inputs[1:])
        if init:
            for i, s in enumerate(init):
                if s.shape != (batch, self.units):
                    raise ValueError(
                        f"[{self.name}] initial_state[{i}] has shape {s.shape}, expected "
                        f"(B, units) = {(batch, self.units)}"
                    )
        elif self.stateful:
            init = list(self._carried_states(batch, x.dtype))
        else:
            init = [None] * self.state_count
        drop = None
        if training and self.dropout > 0:
            rng = self._dropout_rng or _random.generator()
            keep = rng.random((batch, 1, features)) >= self.dropout
            drop = keep.astype(x.dtype) / x.dtype.type(1 - self.dropout)
            x = x * drop
        mask = masks[0]
        lengths, time_mask = kernel_masking(mask, steps)
        y, states, saved = self._kernel_forward(
            backend.ops(),
            x.transpose(1, 0, 2),
            init,
            self._torch_weights(),
            lengths=lengths,
            mask=time_mask,
            reverse=self.go_backwards,
            training=training,
        )
        if self.stateful:
            self._states = [np.array(s) for s in states]
        # valid (T, B): which steps ran, in processing order (reversed for go_backwards).
        valid = None
        if lengths is not None or time_mask is not None:
            bt_mask = cast(np.ndarray, mask)  # lengths or a time mask come only from a mask
            valid = bt_mask.T[::-1] if self.go_backwards else bt_mask.T
        y = y[::-1] if self.go_backwards else y
        if self.return_sequences:
            if valid is not None and not self.zero_output_for_mask:
                y = repeat_last_valid(y, valid)
            out = y.transpose(1, 0, 2)
        else:
            out = states[0]
            if valid is not None:
                out = out * self._last_output_factor(valid)
        outputs = [out, *states] if self.return_state else [out]
        cache = (saved, valid, drop, len(inputs) - 1)
        return outputs, cache

    def _last_output_factor(self, valid: np.ndarray) -> np.ndarray:
        """Which rows' last output is h_n (1) rather than zero (0), as Keras computes it."""
        last = valid[-1] if self.zero_output_for_mask else cast(np.ndarray, valid.any(axis=0))
        return last[:, None]

    def backward(
        self, grad_outputs: list[np.ndarray | None], cache: Any
    ) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
        saved, valid, drop, given_states = cache
        d_out = grad_outputs[0]
        dstates: list[Any] = [None] * self.state_count
        if self.return_state:
            dstates = list(grad_outputs[1 : 1 + self.state_count])
        dy = None
        if self.return_sequences:
            if d_out is not None:
                dy = d_out.transpose(1, 0, 2)
                if valid is not None and not self.zero_output_for_mask:
                    dy = repeat_last_valid_backward(dy, valid)
                if self.go_backwards:
                    dy = dy[::-1]
        elif d_out is not None:
            if valid is not None:
                d_out = d_out * self._last_output_factor(valid)
            dstates[0] = d_out if dstates[0] is None else dstates[0] + d_out
        grads = self._kernel_backward(
            backend.ops(), dy, dstates, saved, return_dh_seq=self.record_dh_seq
        )
        if self.record_dh_seq:
            # The kernels index dh_seq (T, B, H) by input timestep, also with reverse=True.
            self.dh_seq = grads["dh_seq"].transpose(1, 0, 2)
        dx = grads["x"].transpose(1, 0, 2)
        if drop is not None:
            dx = dx * drop
        grad_inputs = [dx]
        if given_states:
            grad_inputs += [grads["h0"], grads["c0"]] if self.state_count == 2 else [grads["h0"]]
        return grad_inputs, self._keras_grads(grads)

    # ---- config ------------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "dropout": self.dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        if self.gates > 1:
            config["recurrent_activation"] = self.recurrent_activation
        return config


class SimpleRNN(Recurrent):
    """Fully-connected RNN: ``h' = activation(x @ kernel + h @ recurrent_kernel + bias)``.

    ``activation`` is ``"tanh"`` (default) or ``"relu"``. Weights: kernel (I, H),
    recurrent_kernel (H, H), bias (H,). Other arguments: see :class:`Recurrent`.
    """

    supported_activations = ("tanh", "relu")

    def __init__(self, units: int, activation: Any = "tanh", **kwargs: Any) -> None:
        if "recurrent_activation" in kwargs:
            raise ValueError("SimpleRNN: recurrent_activation is not an argument of SimpleRNN")
        super().__init__(units, activation=activation, **kwargs)


class LSTM(Recurrent):
    """Long short-term memory (Hochreiter 1997), Keras gate order i, f, c, o.

    Only ``activation="tanh"`` and ``recurrent_activation="sigmoid"`` (Keras's defaults) are
    supported. ``unit_forget_bias=True`` (default) starts the forget-gate bias at 1. Weights:
    kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,). States [h, c]. Other arguments: see
    :class:`Recurrent`.
    """

    gates = 4
    state_count = 2
    kind = "lstm"

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation=activation, recurrent_activation=recurrent_activation, **kwargs
        )
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, units = self.bias_initializer, self.units

        def init(shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
            return np.concatenate(
                [base((units,), dtype), np.ones(units, dtype), base((2 * units,), dtype)]
            )

        return _CallableInitializer(init)

    def _kernel_forward(
        self, ops: Any, x: Any, init: list[Any], weights: tuple[Any, ...], **kw: Any
    ) -> tuple[Any, list[Any], Any]:
        y, (h_n, c_n), saved = ops.lstm_forward(x, init[0], init[1], *weights, **kw)
        return y, [h_n, c_n], saved

    def _kernel_backward(
        self, ops: Any, dy: Any, dstates: list[Any], saved: Any, **kw: Any
    ) -> dict[str, Any]:
        return cast(dict[str, Any], ops.lstm_backward(dy, (dstates[0], dstates[1]), saved, **kw))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class _CallableInitializer(initializers.Initializer):
    """Wraps a function (shape, dtype) -> array as an Initializer (LSTM's forget-gate bias)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __call__(self, shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
        return np.asarray(self.fn(tuple(shape), dtype or backend.floatx()))


class GRU(Recurrent):
    """Gated recurrent unit, Keras gate order z, r, h.

    ``reset_after=True`` (Keras 3 and PyTorch) applies the reset gate after the recurrent
    matrix product and has two biases, ``bias`` (2, 3H); ``reset_after=False`` (Cho et al.
    2014) before it, with ``bias`` (3H,). Only ``activation="tanh"`` and
    ``recurrent_activation="sigmoid"`` are supported. Weights: kernel (I, 3H),
    recurrent_kernel (H, 3H). Other arguments: see :class:`Recurrent`.
    """

    gates = 3
    kind = "gru"

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        reset_after: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation=activation, recurrent_activation=recurrent_activation, **kwargs
        )
        self.reset_after = bool(reset_after)
        h = self.units
        # Keras (z, r, h) <-> kernels (r, z, n): swap the first two blocks (its own inverse).
        self._perm = np.r_[h : 2 * h, 0:h, 2 * h : 3 * h]

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _torch_weights(self) -> tuple[Any, Any, Any, Any]:
        p = self._perm
        w_ih, w_hh = self.kernel[:, p].T, self.recurrent_kernel[:, p].T
        if self.bias is None:
            return w_ih, w_hh, None, None
        if self.reset_after:
            return w_ih, w_hh, self.bias[0, p], self.bias[1, p]
        return w_ih, w_hh, self.bias[p], None

    def _keras_grads(self, grads: dict[str, Any]) -> list[np.ndarray]:
        p = self._perm
        out = [grads["w_ih"].T[:, p], grads["w_hh"].T[:, p]]
        if self.use_bias:
            if self.reset_after:
                out.append(np.stack([grads["b_ih"][p], grads["b_hh"][p]]))
            else:
                out.append(grads["b_ih"][p])
        return out

    def _kernel_forward(
        self, ops: Any, x: Any, init: list[Any], weights: tuple[Any, ...], **kw: Any
    ) -> tuple[Any, list[Any], Any]:
        y, h_n, saved = ops.gru_forward(x, init[0], *weights, reset_after=self.reset_after, **kw)
        return y, [h_n], saved

    def _kernel_backward(
        self, ops: Any, dy: Any, dstates: list[Any], saved: Any, **kw: Any
    ) -> dict[str, Any]:
        return cast(dict[str, Any], ops.gru_backward(dy, dstates[0], saved, **kw))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}
