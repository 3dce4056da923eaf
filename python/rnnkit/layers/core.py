"""Feed-forward layers: Dense, Embedding, Masking, Dropout, Activation, Flatten, RepeatVector,
TimeDistributed, Concatenate and Add, all batch-first and vectorised NumPy.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from rnnkit import _core, _random, activations, backend, initializers

from .base import Layer, Mask, Shape, _shape_str, serialize_layer


def refuse_unsupported(layer: str, **options: Any) -> None:
    """Raise a ValueError for every Keras option given that rnnkit does not implement."""
    given = sorted(name for name, value in options.items() if value is not None)
    if given:
        raise ValueError(
            f"{layer}: {', '.join(given)} {'is' if len(given) == 1 else 'are'} not supported by "
            f"rnnkit (Keras options rnnkit does not implement are refused, never ignored)"
        )


def _flat_rows(a: np.ndarray) -> np.ndarray:
    """(..., F) as (N, F)."""
    return a.reshape(-1, a.shape[-1])


def _matmul(
    a: np.ndarray, b: np.ndarray, transpose_a: bool = False, transpose_b: bool = False
) -> np.ndarray:
    """op(a) @ op(b) for 2-D a and b. float32 products run on rnnkit's own threads: NumPy's
    BLAS would wake its threads, which then spin for a while after each call and take the
    cores from the next recurrent kernel (on 2 cores that made a char-LSTM's training step
    about twice as slow). Other dtypes (the float64 reference backend) use NumPy."""
    out = _core._matmul(a, b, transpose_a, transpose_b)
    if out is None:
        out = (a.T if transpose_a else a) @ (b.T if transpose_b else b)
    return out


class Dense(Layer):
    """``activation(x @ kernel + bias)`` on the last axis: (B, F) or (B, T, F) alike.

    Weights (Keras layout): ``kernel`` (F, units), ``bias`` (units,).
    """

    input_min_ndim = 2
    fixed_last_axis = True

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: Any = None,
        **kwargs: Any,
    ) -> None:
        refuse_unsupported(
            "Dense",
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            lora_rank=lora_rank,
        )
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _build(self, input_shape: Shape) -> None:
        if input_shape[-1] is None:
            raise ValueError(f"[{self.name}] the last input axis must be known, got {input_shape}")
        self.kernel = self.add_weight(
            "kernel", (input_shape[-1], self.units), self.kernel_initializer
        )
        self.bias = (
            self.add_weight("bias", (self.units,), self.bias_initializer) if self.use_bias else None
        )

    def _output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def _forward(self, x: np.ndarray, training: bool, mask: Mask) -> tuple[np.ndarray, Any]:
        z = _matmul(_flat_rows(x), self.kernel).reshape(*x.shape[:-1], self.units)
        if self.bias is not None:
            z += self.bias
        y = self.activation(z)
        return y, (x, z, y)

    def logits_from_cache(self, cache: Any) -> np.ndarray:
        """The pre-activation output of a forward (for the fused softmax-crossentropy)."""
        return cast(np.ndarray, cache[1])

    def backward_from_logits(
        self, dz: np.ndarray, cache: Any
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Backward from dLoss/d(pre-activation), skipping the activation's derivative."""
        x = cache[0]
        dz_rows = _flat_rows(dz)
        grads = [_matmul(_flat_rows(x), dz_rows, transpose_a=True)]
        if self.bias is not None:
            grads.append(dz_rows.sum(axis=0))
        dx = _matmul(dz_rows, self.kernel, transpose_b=True)
        dx = dx.reshape(*dz.shape[:-1], self.kernel.shape[0])  # explicit: dz may have 0 rows
        return dx, grads

    def _backward(self, dy: np.ndarray, cache: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        _, z, y = cache
        return self.backward_from_logits(self.activation.backward(dy, z, y), cache)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }


class Activation(Layer):
    """Applies an activation function (``"relu"``, ``"softmax"`` ...) elementwise."""

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def _forward(self, x: np.ndarray, training: bool, mask: Mask) -> tuple[np.ndarray, Any]:
        y = self.activation(x)
        return y, (x, y)

    def _backward(self, dy: np.ndarray, cache: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        x, y = cache
        return self.activation.backward(dy, x, y), []

    def logits_from_cache(self, cache: Any) -> np.ndarray:
        return cast(np.ndarray, cache[0])

    def backward_from_logits(
        self, dz: np.ndarray, cache: Any
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        return dz, []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Dropout(Layer):
    """Inverted dropout: in training, zero a `rate` fraction and scale the rest by 1/(1-rate)."""

    def __init__(
        self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if not 0 <= float(rate) < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def _forward(self, x: np.ndarray, training: bool, mask: Mask) -> tuple[np.ndarray, Any]:
        if not training or self.rate == 0:
            return x, None
        shape = x.shape
        if self.noise_shape is not None:
            if len(self.noise_shape) != x.ndim:
                raise ValueError(
                    f"[{self.name}] noise_shape {self.noise_shape} does not match the input "
                    f"rank {x.ndim}"
                )
            shape = tuple(d if n is None else n for d, n in zip(x.shape, self.noise_shape))
        rng = self._rng or _random.generator()
        scale = (rng.random(shape) >= self.rate).astype(x.dtype) / x.dtype.type(1 - self.rate)
        return x * scale, scale

    def _backward(self, dy: np.ndarray, cache: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        return (dy if cache is None else dy * cache), []

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
            "seed": self.seed,
        }


class Flatten(Layer):
    """(B, d1, d2, ...) -> (B, d1*d2*...). Drops any mask, as Keras does."""

    def __init__(self, data_format: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = data_format

    def _output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        size = (
            None
            if any(s is None for s in rest)
            else int(np.prod(cast(tuple[int, ...], rest), dtype=np.int64))
        )
        return (input_shape[0], size)

    def compute_mask(self, inputs: list[np.ndarray], masks: list[Mask]) -> list[Mask]:
        return [None]

    def _forward(self, x: np.ndarray, training: bool, mask: Mask) -> tuple[np.ndarray, Any]:
        return x.reshape(x.shape[0], -1), x.shape

    def _backward(self, dy: np.ndarray, cache: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        return dy.reshape(cache), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class RepeatVector(Layer):
    """(B, F) -> (B, n, F): the input repeated n times along a new time axis."""

    input_ndim = 2

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = int(n)

    def _output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.n, input_shape[1])

    def compute_mask(self, inputs: list[np.ndarray], masks: list[Mask]) -> list[Mask]:
        return [None]

    def _forward(self, x: np.ndarray, training: bool, mask: Mask) -> tuple[np.ndarray, Any]:
        return np.repeat(x[:, None, :], self.n, axis=1), None

    def _backward(self, dy: np.ndarray, cache: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        return dy.sum(axis=1), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class Masking(Layer):
    """Masks timesteps whose features all equal `mask_value` (and zeroes them, like Keras)."""

    input_min_ndim = 3

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def _keep(self, x: np.ndarray) -> np.ndarray:
        keep: np.ndarray = np.any(x != self.mask_value, axis=-1)
        return keep

    def compute_mask(self, inputs: list[np.ndarray], masks: list[Mask]) -> list[Mask]:
        return [self._keep(inputs[0])]

    def _forward(self, x: np.ndarray, training: bool, mask: Mask) -> tuple[np.ndarray, Any]:
        keep = self._keep(x)[..., None]
        return x * keep, keep

    def _backward(self, dy: np.ndarray, cache: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        return dy * cache, []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}


class Embedding(Layer):
    """Token ids (B, T) -> vectors (B, T, output_dim); ``mask_zero=True`` masks id 0.

    Weight: ``embeddings`` (input_dim, output_dim), Keras's default initializer ``"uniform"``
    (±0.05). ``input_length`` (Keras 2) is accepted and fixes the input shape, so a model
    starting with it is built (and ``summary()`` works) before it sees data.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Any = None,
        input_length: int | None = None,
        activity_regularizer: Any = None,
        lora_rank: Any = None,
        **kwargs: Any,
    ) -> None:
        refuse_unsupported(
            "Embedding",
            embeddings_regularizer=embeddings_regularizer,
            embeddings_constraint=embeddings_constraint,
            activity_regularizer=activity_regularizer,
            lora_rank=lora_rank,
        )
        super().__init__(**kwargs)
        if int(input_dim) <= 0 or int(output_dim) <= 0:
            raise ValueError(
                f"Embedding: input_dim and output_dim must be positive, got {input_dim}, "
                f"{output_dim}"
            )
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        self.input_length = None if input_length is None else int(input_length)
        if self._batch_input_shape is None and self.input_length is not None:
            self._batch_input_shape = (None, self.input_length)
        self._initial_weights = weights

    def _build(self, input_shape: Shape) -> None:
        self.embeddings = self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer
        )
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _cast_input(self, x: Any, index: int) -> np.ndarray:
        ids: np.ndarray = np.asarray(x)
        if ids.dtype.kind in "iu":
            return ids
        if ids.dtype.kind == "f" and np.all(np.isfinite(ids)) and np.all(ids == np.round(ids)):
            return ids.astype(np.int64)
        raise TypeError(
            f"[{self.name}] input x must hold integer token ids, got dtype {ids.dtype}"
            + (" with non-integer values" if ids.dtype.kind == "f" else "")
        )

    def _output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def compute_mask(self, inputs: list[np.ndarray], masks: list[Mask]) -> list[Mask]:
        return [inputs[0] != 0] if self.mask_zero else [masks[0]]

    def _forward(self, x: np.ndarray, training: bool, mask: Mask) -> tuple[np.ndarray, Any]:
        x = self._cast_input(x, 0)
        if x.size and (x.min() < 0 or x.max() >= self.input_dim):
            bad = x[(x < 0) | (x >= self.input_dim)].flat[0]
            raise ValueError(
                f"[{self.name}] input x holds token id {bad}, expected ids in "
                f"[0, {self.input_dim - 1}] (input_dim={self.input_dim})"
            )
        return self.embeddings[x], x

    def _backward(self, dy: np.ndarray, cache: Any) -> tuple[None, list[np.ndarray]]:
        ids = cache.reshape(-1).astype(np.int64, copy=False)
        rows = dy.reshape(-1, self.output_dim)
        grad = np.zeros_like(self.embeddings)
        # Rows summed per id in input order: deterministic. The C++ loop does it for float32;
        # np.add.at (unbuffered, in order: the same sums) for anything else.
        if ids.size and not _core._embedding_grad(ids, rows, grad):
            np.add.at(grad, ids, rows)
        return None, [grad]

    def _output_dtype(self) -> str:
        return backend.floatx()

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "mask_zero": self.mask_zero,
        }
        if self.input_length is not None:
            config["input_length"] = self.input_length
        return config


class TimeDistributed(Layer):
    """Applies a layer to every timestep: (B, T, ...) -> (B, T, ...), sharing its weights."""

    input_min_ndim = 3

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed: layer must be an rnnkit layer, got {layer!r}")
        self.layer = layer

    def _sublayers(self) -> list[Layer]:
        return [self.layer]

    def _build(self, input_shape: Shape) -> None:
        inner = (input_shape[0], *input_shape[2:])
        if not self.layer.built:
            self.layer.build([inner])
        self.layer.check_input_shapes([inner])

    def _output_shape(self, input_shape: Shape) -> Shape:
        inner = self.layer.compute_output_shape([(input_shape[0], *input_shape[2:])])[0]
        return (input_shape[0], input_shape[1], *inner[1:])

    def _forward(self, x: np.ndarray, training: bool, mask: Mask) -> tuple[np.ndarray, Any]:
        b, t = x.shape[:2]
        self.layer.check_input_shapes([(b * t, *x.shape[2:])])
        outputs, cache = self.layer.forward([x.reshape(b * t, *x.shape[2:])], training, [None])
        return outputs[0].reshape(b, t, *outputs[0].shape[1:]), (b, t, x.shape, cache)

    def _backward(self, dy: np.ndarray, cache: Any) -> tuple[np.ndarray | None, list[np.ndarray]]:
        b, t, x_shape, inner = cache
        grads_in, grads = self.layer.backward([dy.reshape(b * t, *dy.shape[2:])], inner)
        dx = None if grads_in[0] is None else grads_in[0].reshape(x_shape)
        return dx, grads

    @property
    def activation(self) -> Any:
        """The wrapped layer's activation, when it has one (for the fused crossentropy)."""
        return getattr(self.layer, "activation", None)

    def logits_from_cache(self, cache: Any) -> np.ndarray:
        b, t, _, inner = cache
        # Only reached for a wrapped layer with an activation (Dense, Activation).
        layer: Any = self.layer
        logits: np.ndarray = layer.logits_from_cache(inner)
        return logits.reshape(b, t, *logits.shape[1:])

    def backward_from_logits(
        self, dz: np.ndarray, cache: Any
    ) -> tuple[np.ndarray | None, list[np.ndarray]]:
        b, t, x_shape, inner = cache
        # Only reached for a wrapped layer with an activation (Dense, Activation).
        layer: Any = self.layer
        dx: np.ndarray | None
        grads: list[np.ndarray]
        dx, grads = layer.backward_from_logits(dz.reshape(b * t, *dz.shape[2:]), inner)
        return (None if dx is None else dx.reshape(x_shape)), grads

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeDistributed:
        from .base import deserialize_layer

        config = dict(config)
        return cls(deserialize_layer(config.pop("layer")), **config)


def _merge_masks(masks: list[Mask]) -> Mask:
    present = [m for m in masks if m is not None]
    if not present:
        return None
    out = present[0]
    for m in present[1:]:
        out = out & m
    return out


class _Merge(Layer):
    """Base of layers that combine a list of inputs."""

    def _flatten_call(self, inputs: Any, **kwargs: Any) -> list[Any]:
        if kwargs:
            raise ValueError(f"[{self.name}] unexpected call argument(s) {sorted(kwargs)}")
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"[{self.name}] expects a list of at least 2 inputs, got {inputs!r}")
        return list(inputs)

    def _unflatten_call(self, flat: list[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (list(flat),), {}

    def build(self, input_shapes: list[Shape]) -> None:
        self._built_input_shapes = [tuple(s) for s in input_shapes]
        self.built = True

    def check_input_shapes(self, shapes: list[Shape], what: str = "x") -> None:
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise ValueError(
                f"[{self.name}] inputs must have the same rank, got shapes "
                f"{[_shape_str(tuple(s)) for s in shapes]}"
            )

    def compute_mask(self, inputs: list[np.ndarray], masks: list[Mask]) -> list[Mask]:
        return [_merge_masks(masks)]


class Concatenate(_Merge):
    """Concatenates a list of inputs along `axis` (default the last)."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_output_shape(self, input_shapes: list[Shape]) -> list[Shape]:
        shape = list(input_shapes[0])
        sizes = [s[self.axis] for s in input_shapes]
        shape[self.axis] = None if any(s is None for s in sizes) else sum(cast(list[int], sizes))
        return [tuple(shape)]

    def forward(
        self, inputs: list[np.ndarray], training: bool, masks: list[Mask]
    ) -> tuple[list[np.ndarray], Any]:
        sizes = [x.shape[self.axis] for x in inputs]
        return [np.concatenate(inputs, axis=self.axis)], np.cumsum(sizes)[:-1]

    def backward(
        self, grad_outputs: list[np.ndarray | None], cache: Any
    ) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
        dy = cast(np.ndarray, grad_outputs[0])  # backward only runs with an output gradient
        grads_in: list[np.ndarray | None] = list(np.split(dy, cache, axis=self.axis))
        return grads_in, []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Add(_Merge):
    """The elementwise sum of a list of inputs of the same shape."""

    def compute_output_shape(self, input_shapes: list[Shape]) -> list[Shape]:
        return [tuple(input_shapes[0])]

    def forward(
        self, inputs: list[np.ndarray], training: bool, masks: list[Mask]
    ) -> tuple[list[np.ndarray], Any]:
        out = inputs[0].copy()
        for x in inputs[1:]:
            out += x
        return [out], len(inputs)

    def backward(
        self, grad_outputs: list[np.ndarray | None], cache: Any
    ) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
        return [grad_outputs[0]] * cache, []
