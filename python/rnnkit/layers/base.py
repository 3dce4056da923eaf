"""The layer protocol: weights in Keras layout, eager and symbolic calls, forward/backward.

A layer is called like a Keras 3 layer: on arrays it computes eagerly and returns arrays; on the
symbolic tensors that :func:`Input` makes it records a node of a graph that
:class:`rnnkit.Model` runs. The training loop uses two methods every layer implements
(docs/internals-training.md):

``forward(inputs, training, masks) -> (outputs, cache)``
    ``inputs``: the list of input arrays of one call (a recurrent layer's are x and its initial
    states), ``masks``: one (B, T) bool array or None per input; ``outputs`` is a list too.
``backward(grad_outputs, cache) -> (grad_inputs, grad_weights)``
    ``grad_outputs`` has one array or None (no gradient) per output; ``grad_inputs`` one per
    input (None where an input takes none, e.g. integer token ids), ``grad_weights`` one per
    array of ``layer.weights``, in that order.

Most layers have one input and one output and implement the single-array forms ``_forward`` and
``_backward`` instead. Arrays are batch-first, (B, ...).
"""

from __future__ import annotations

import contextvars
import re
from collections import defaultdict
from typing import Any, Optional, Union, cast

import numpy as np

from rnnkit import backend, initializers

Shape = tuple[Optional[int], ...]
Mask = Optional[np.ndarray]

_name_counts: dict[str, int] = defaultdict(int)
_REGISTRY: dict[str, type[Layer]] = {}
#: While rnnkit.io builds a model from a file: how many more weight scalars its layers may
#: create (the file's tensors), so a hostile config cannot make rnnkit allocate huge arrays.
weight_budget: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "rnnkit_weight_budget", default=None
)


def _snake_case(name: str) -> str:
    """Keras's to_snake_case: SimpleRNN -> simple_rnn, TimeDistributed -> time_distributed."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """Keras-style automatic names: ``dense``, ``dense_1``, ``dense_2`` ..."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def _shape_str(shape: Shape) -> str:
    return (
        "("
        + ", ".join("None" if s is None else str(s) for s in shape)
        + (",)" if len(shape) == 1 else ")")
    )


class SymbolicTensor:
    """A placeholder for an array in a model graph (Keras's ``KerasTensor``).

    ``shape`` has None for unknown sizes (the batch axis always). Made by :func:`Input` and by
    calling layers on symbolic tensors; :class:`rnnkit.Model` runs the graph they describe.
    """

    _next_id = 0

    def __init__(self, shape: Shape, dtype: str, node: Node, index: int) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.uid = SymbolicTensor._next_id
        SymbolicTensor._next_id += 1

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def name(self) -> str:
        return self.node.layer.name if self.index == 0 else f"{self.node.layer.name}_{self.index}"

    def __repr__(self) -> str:
        return (
            f"<SymbolicTensor shape={_shape_str(self.shape)} dtype={self.dtype} name={self.name}>"
        )


class Node:
    """One call of a layer in a graph: its input tensors, output tensors and call structure."""

    def __init__(self, layer: Layer, inputs: list[SymbolicTensor]) -> None:
        self.layer = layer
        self.inputs = inputs
        self.outputs: list[SymbolicTensor] = []


def is_symbolic(value: Any) -> bool:
    return isinstance(value, SymbolicTensor)


class Layer:
    """Base class of rnnkit layers (Keras's ``keras.layers.Layer`` shape).

    Keyword arguments every layer takes: ``name``, ``trainable``, ``dtype`` (None or the float
    type in use), and for a first layer ``input_shape`` / ``batch_input_shape`` /
    ``batch_size`` / ``input_dim``. Anything else Keras accepts but rnnkit does not implement is
    a ``ValueError`` that says so.
    """

    #: Exact input rank the layer needs (None: any), checked for every call.
    input_ndim: int | None = None
    #: Minimum input rank.
    input_min_ndim: int = 1
    #: Whether the last input axis is fixed by the weights once built.
    fixed_last_axis: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __init__(
        self,
        *,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        input_shape: tuple[Any, ...] | None = None,
        batch_input_shape: tuple[Any, ...] | None = None,
        batch_size: int | None = None,
        input_dim: int | None = None,
        **unsupported: Any,
    ) -> None:
        cls = type(self).__name__
        if unsupported:
            raise ValueError(
                f"{cls}: argument(s) {sorted(unsupported)} are not supported by rnnkit "
                f"(Keras options rnnkit does not implement are refused, never ignored)"
            )
        if dtype is not None and str(getattr(dtype, "name", dtype)) not in backend.FLOATX:
            raise ValueError(
                f"{cls}: dtype={dtype!r} is not supported; rnnkit layers compute in "
                f"rnnkit.backend.floatx() ({list(backend.FLOATX)})"
            )
        self.name = name or unique_name(_snake_case(cls))
        self._trainable = bool(trainable)
        self.dtype = None if dtype is None else str(getattr(dtype, "name", dtype))
        self.built = False
        self._weights: list[np.ndarray] = []
        self._weight_names: list[str] = []
        self._inbound_nodes: list[Node] = []
        self._built_input_shapes: list[Shape] | None = None
        if batch_input_shape is not None:
            self._batch_input_shape: Shape | None = tuple(batch_input_shape)
        elif input_shape is not None:
            self._batch_input_shape = (batch_size, *tuple(input_shape))
        elif input_dim is not None:
            self._batch_input_shape = (batch_size, input_dim)
        else:
            self._batch_input_shape = None

    # ---- weights -----------------------------------------------------------------------------

    def _sublayers(self) -> list[Layer]:
        """Layers whose weights this layer owns after its own (wrappers override)."""
        return []

    def add_weight(
        self, name: str, shape: tuple[int, ...], initializer: Any = "glorot_uniform"
    ) -> np.ndarray:
        """Create a weight array of the current float type, owned by this layer."""
        budget = weight_budget.get()
        if budget is not None:
            size = 1
            for d in shape:
                size *= int(d)
            if size > budget[0]:
                raise ValueError(
                    f"{self.name}: weight {name!r} of shape {tuple(shape)} needs more values than "
                    f"the file holds; the architecture does not match the file's tensors"
                )
            budget[0] -= size
        value = initializers.get(initializer)(shape, dtype=backend.floatx())
        value = np.ascontiguousarray(value)
        self._weights.append(value)
        self._weight_names.append(f"{self.name}/{name}")
        return value

    @property
    def weights(self) -> list[np.ndarray]:
        """Every weight array (own first, then sublayers'), the arrays themselves."""
        out = list(self._weights)
        for layer in self._sublayers():
            out.extend(layer.weights)
        return out

    @property
    def weight_names(self) -> list[str]:
        out = list(self._weight_names)
        for layer in self._sublayers():
            out.extend(layer.weight_names)
        return out

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        if not self._trainable:
            return []
        out = list(self._weights)
        for layer in self._sublayers():
            out.extend(layer.trainable_weights)
        return out

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in Keras order and layout."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        """Overwrite the weights in place (same count and shapes as :meth:`get_weights`).

        Raises:
            ValueError: wrong number of arrays or a wrong shape (named by weight).
        """
        own = self.weights
        if not self.built and not own:
            raise ValueError(
                f"{self.name}.set_weights: the layer is not built yet (call it on an input or "
                f"give input_shape first)"
            )
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(
                f"{self.name}.set_weights: weights has {len(weights)} arrays, expected "
                f"{len(own)} ({self.weight_names})"
            )
        values = []
        for name, target, value in zip(self.weight_names, own, weights):
            value = np.asarray(value)
            if value.shape != target.shape:
                raise ValueError(
                    f"{self.name}.set_weights: weight {name} has shape {value.shape}, expected "
                    f"{target.shape}"
                )
            values.append(value)
        for target, value in zip(own, values):
            target[...] = value

    def count_params(self) -> int:
        """The number of scalars in the weights (as Keras counts them)."""
        return int(sum(w.size for w in self.weights))

    # ---- building and shapes -----------------------------------------------------------------

    def build(self, input_shapes: list[Shape]) -> None:
        """Create the weights for inputs of these shapes (batch axis None)."""
        self._build(input_shapes[0])
        self._built_input_shapes = [tuple(s) for s in input_shapes]
        self.built = True

    def _build(self, input_shape: Shape) -> None:
        """Single-input form of :meth:`build`; the default has no weights."""

    def compute_output_shape(self, input_shapes: list[Shape]) -> list[Shape]:
        """One shape per output, for inputs of these shapes."""
        return [self._output_shape(input_shapes[0])]

    def _output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def check_input_shapes(self, shapes: list[Shape], what: str = "x") -> None:
        """Raise a ValueError naming the input when a shape does not fit the built layer."""
        shape = tuple(shapes[0])
        if self.input_ndim is not None and len(shape) != self.input_ndim:
            raise ValueError(
                f"[{self.name}] input {what} has shape {_shape_str(shape)}, expected "
                f"{self.input_ndim} dimensions{self._expected_hint()}"
            )
        if len(shape) < self.input_min_ndim:
            raise ValueError(
                f"[{self.name}] input {what} has shape {_shape_str(shape)}, expected at least "
                f"{self.input_min_ndim} dimensions{self._expected_hint()}"
            )
        if self.fixed_last_axis and self._built_input_shapes is not None:
            expected = self._built_input_shapes[0][-1]
            if expected is not None and shape[-1] is not None and shape[-1] != expected:
                raise ValueError(
                    f"[{self.name}] input {what} has shape {_shape_str(shape)}, expected last "
                    f"axis (features) {expected}{self._expected_hint()}"
                )

    def _expected_hint(self) -> str:
        if self._built_input_shapes is None:
            return ""
        return f" (the layer was built for {_shape_str(self._built_input_shapes[0])})"

    # ---- masks and the training protocol -----------------------------------------------------

    def compute_mask(self, inputs: list[np.ndarray], masks: list[Mask]) -> list[Mask]:
        """One mask per output; the default passes the first input's mask through."""
        return [masks[0]]

    def forward(
        self, inputs: list[np.ndarray], training: bool, masks: list[Mask]
    ) -> tuple[list[np.ndarray], Any]:
        """Outputs and what :meth:`backward` needs, for one call (see the module docstring)."""
        y, cache = self._forward(inputs[0], training, masks[0])
        return [y], cache

    def backward(
        self, grad_outputs: list[np.ndarray | None], cache: Any
    ) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
        """Gradients of the inputs and of every weight, from the gradients of the outputs."""
        # A single-output layer's backward only runs when its output has a gradient.
        dx, grads = self._backward(cast(np.ndarray, grad_outputs[0]), cache)
        return [dx], grads

    def _forward(self, x: np.ndarray, training: bool, mask: Mask) -> tuple[np.ndarray, Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement _forward or forward")

    def _backward(self, dy: np.ndarray, cache: Any) -> tuple[np.ndarray | None, list[np.ndarray]]:
        raise NotImplementedError(f"{type(self).__name__} must implement _backward or backward")

    # ---- calling -----------------------------------------------------------------------------

    def _flatten_call(self, inputs: Any, **kwargs: Any) -> list[Any]:
        """The flat list of a call's inputs; layers with call keywords override."""
        if kwargs:
            raise ValueError(f"[{self.name}] unexpected call argument(s) {sorted(kwargs)}")
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 1:
                raise ValueError(f"[{self.name}] expects one input, got a list of {len(inputs)}")
            inputs = inputs[0]
        return [inputs]

    def _unflatten_call(self, flat: list[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The (args, kwargs) that rebuild a call from its flat inputs (for from_config)."""
        return (flat[0],), {}

    def _cast_input(self, x: Any, index: int) -> np.ndarray:
        """Input arrays as the float type (layers that take integers override)."""
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"[{self.name}] input has dtype {x.dtype}, expected numbers")
        out: np.ndarray = x.astype(backend.floatx(), copy=False)
        return out

    def __call__(
        self, inputs: Any, *, training: bool | None = None, mask: Any = None, **kwargs: Any
    ) -> Any:
        """Call on arrays (eager: returns arrays) or on symbolic tensors (adds a graph node).

        ``mask`` (eager calls only): a (B, T) bool array for the first input. Masks between
        layers of a model propagate on their own, as in Keras.
        """
        flat = self._flatten_call(inputs, **kwargs)
        symbolic = [is_symbolic(v) for v in flat]
        if any(symbolic):
            if not all(symbolic):
                raise ValueError(
                    f"[{self.name}] mixes symbolic tensors and arrays in one call; pass "
                    f"Input() tensors (or arrays) only"
                )
            if mask is not None:
                raise ValueError(
                    f"[{self.name}] mask= is for eager calls; in a model graph masks "
                    f"propagate from Embedding(mask_zero=True) or Masking on their own"
                )
            return self._call_symbolic(flat)
        arrays = [self._cast_input(v, i) for i, v in enumerate(flat)]
        shapes = [a.shape for a in arrays]
        self._ensure_built([(None, *s[1:]) for s in shapes])
        self.check_input_shapes(shapes)
        masks: list[Mask] = [None] * len(arrays)
        if mask is not None:
            masks[0] = _check_mask(self.name, mask, arrays[0].shape)
        outputs, _ = self.forward(arrays, bool(training), masks)
        return outputs[0] if len(outputs) == 1 else list(outputs)

    def _ensure_built(self, shapes: list[Shape]) -> None:
        if not self.built:
            self.build(shapes)

    def _call_symbolic(self, flat: list[SymbolicTensor]) -> Any:
        shapes = [t.shape for t in flat]
        self._ensure_built(shapes)
        self.check_input_shapes(shapes)
        node = Node(self, list(flat))
        for i, shape in enumerate(self.compute_output_shape(shapes)):
            node.outputs.append(SymbolicTensor(shape, self._output_dtype(), node, i))
        self._inbound_nodes.append(node)
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    def _output_dtype(self) -> str:
        return backend.floatx()

    # ---- config ------------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras names), for :meth:`from_config` and model files."""
        config: dict[str, Any] = {"name": self.name, "trainable": self._trainable}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """A new, unbuilt layer from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _check_mask(layer_name: str, mask: Any, x_shape: tuple[int, ...]) -> np.ndarray:
    """A call's mask as a (B, T) bool array matching the input."""
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biu":
        raise TypeError(f"[{layer_name}] mask has dtype {mask.dtype}, expected bool")
    if mask.shape != tuple(x_shape[:2]):
        raise ValueError(
            f"[{layer_name}] mask has shape {mask.shape}, expected (B, T) = {tuple(x_shape[:2])}"
        )
    out: np.ndarray = mask.astype(bool, copy=False)
    return out


class InputLayer(Layer):
    """The layer behind :func:`Input`: no weights, one symbolic output."""

    def __init__(
        self,
        shape: tuple[Any, ...] | None = None,
        batch_size: int | None = None,
        dtype: Any = None,
        batch_shape: tuple[Any, ...] | None = None,
        name: str | None = None,
        **unsupported: Any,
    ) -> None:
        if unsupported.pop("sparse", None) or unsupported.pop("ragged", None):
            raise ValueError("Input: sparse and ragged inputs are not supported by rnnkit")
        if "batch_input_shape" in unsupported:
            batch_shape = unsupported.pop("batch_input_shape")
        Layer.__init__(self, name=name, **unsupported)
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input: give shape (without the batch axis) or batch_shape")
            if isinstance(shape, int):
                shape = (shape,)
            batch_shape = (batch_size, *tuple(shape))
        self.batch_shape: Shape = tuple(None if s is None else int(s) for s in batch_shape)
        self.input_dtype = str(getattr(dtype, "name", dtype)) if dtype is not None else None
        self.built = True
        node = Node(self, [])
        node.outputs.append(
            SymbolicTensor(self.batch_shape, self.input_dtype or backend.floatx(), node, 0)
        )
        self._inbound_nodes.append(node)
        self.output = node.outputs[0]

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": list(self.batch_shape), "dtype": self.input_dtype, "name": self.name}


def Input(
    shape: tuple[Any, ...] | None = None,
    batch_size: int | None = None,
    dtype: Any = None,
    batch_shape: tuple[Any, ...] | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> SymbolicTensor:
    """A symbolic model input of ``shape`` (without the batch axis), like ``keras.Input``.

    ``dtype="int32"`` (or any integer type) marks token ids for an Embedding; float inputs are
    cast to :func:`rnnkit.backend.floatx`.
    """
    layer = InputLayer(shape, batch_size, dtype, batch_shape, name, **kwargs)
    return layer.output


Array = Union[np.ndarray, SymbolicTensor]


def serialize_layer(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` for a layer (what :func:`deserialize_layer` takes)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(
    config: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> Layer:
    """A new layer from :func:`serialize_layer`'s output.

    Raises:
        ValueError: an unknown class name (custom layers are passed in ``custom_objects``).
    """
    name: Any = config.get("class_name")
    cls: type[Layer] | None = (custom_objects or {}).get(name) or _REGISTRY.get(name)
    if cls is None:
        raise ValueError(
            f"deserialize: unknown layer class {name!r}; known: {sorted(_REGISTRY)} (pass "
            f"custom layers in custom_objects)"
        )
    return cls.from_config(dict(config.get("config", {})))
