"""Keras-shaped models: :class:`Sequential`, the functional :class:`Model`, and the training loop.

A model is a graph of layers (a chain for Sequential) run by NumPy glue around rnnkit's
kernels. ``fit`` runs, per batch: forward (training=True) through every layer, the loss and its
gradient (Dense(softmax) + crossentropy fused into the logits gradient), backward through every
layer (recurrent layers call the C++ BPTT kernels), one optimizer step, then metrics and
callbacks. The interfaces between these parts are in docs/internals-training.md.

    model = rnnkit.Sequential([SimpleRNN(10, activation="relu", input_shape=(3, 1)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=200, verbose=0)
    model.predict(x)

Masks propagate through the graph as in Keras (from ``Embedding(mask_zero=True)`` or
``Masking``) and reach the loss and metrics, which then skip masked timesteps.
"""

from __future__ import annotations

import copy
import inspect
import math
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Callable, cast

import numpy as np

from rnnkit import _random, backend
from rnnkit.layers.base import (
    Input,
    InputLayer,
    Layer,
    Mask,
    Node,
    Shape,
    SymbolicTensor,
    _shape_str,
    deserialize_layer,
    serialize_layer,
    unique_name,
)
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.wrappers import Bidirectional
from rnnkit.utils import Sequence

__all__ = ["Model", "Sequential", "load_model", "model_from_config", "train_truncated_bptt"]


# ---------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------


def _flatten_tensors(value: Any, what: str) -> tuple[list[SymbolicTensor], Any]:
    """A list of symbolic tensors and how they were given (None single, "list", or dict keys)."""
    if isinstance(value, SymbolicTensor):
        return [value], None
    if isinstance(value, dict):
        tensors = list(value.values())
        structure: Any = list(value.keys())
    elif isinstance(value, (list, tuple)):
        tensors, structure = list(value), "list"
    else:
        raise TypeError(f"Model: {what} must be Input()/layer outputs, got {value!r}")
    for t in tensors:
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"Model: every entry of {what} must be a symbolic tensor, got {t!r}")
    if not tensors:
        raise ValueError(f"Model: {what} is empty")
    return tensors, structure


def _topological_nodes(outputs: list[SymbolicTensor]) -> list[Node]:
    """Every node the outputs depend on, each after the nodes feeding it."""
    order: list[Node] = []
    seen: set[int] = set()

    def visit(node: Node) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        for t in node.inputs:
            visit(t.node)
        order.append(node)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for t in outputs:
        visit(t.node)
    return order


def _accumulate(store: dict[int, np.ndarray], key: int, grad: np.ndarray) -> None:
    previous = store.get(key)
    store[key] = grad if previous is None else previous + grad


class _Tape:
    """What one forward pass keeps for backward: per node its cache."""

    __slots__ = ("caches",)

    def __init__(self) -> None:
        self.caches: list[Any] = []


# ---------------------------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------------------------


def _num_samples(arrays: Iterable[np.ndarray | None]) -> int | None:
    sizes = {a.shape[0] for a in arrays if a is not None}
    if len(sizes) > 1:
        raise ValueError(
            f"x, y and sample_weight have different numbers of samples (first axes): "
            f"{sorted(sizes)}"
        )
    return sizes.pop() if sizes else None


class _ArrayBatches:
    """Batches of in-memory arrays; shuffled once per epoch (one gather, then slices)."""

    def __init__(self, arrays: list[list[np.ndarray] | None], batch_size: int, shuffle: Any):
        self.arrays = arrays  # [xs, ys or None, sample weights or None]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.size = _num_samples([a for group in arrays if group for a in group])
        self.steps = 0 if not self.size else math.ceil(self.size / batch_size)

    def epoch(self) -> Iterator[tuple[Any, ...]]:
        groups = self.arrays
        if self.shuffle and self.size:
            rng = _random.generator()
            if self.shuffle == "batch":
                starts = rng.permutation(self.steps) * self.batch_size
                for start in starts:
                    yield tuple(
                        None if g is None else [a[start : start + self.batch_size] for a in g]
                        for g in groups
                    )
                return
            perm = rng.permutation(self.size)
            groups = [None if g is None else [a[perm] for a in g] for g in groups]
        for start in range(0, self.size or 0, self.batch_size):
            stop = start + self.batch_size
            yield tuple(None if g is None else [a[start:stop] for a in g] for g in groups)


class _IterableBatches:
    """Batches from a Python generator/iterator or an rnnkit.utils.Sequence."""

    def __init__(self, source: Any, steps: int | None, model: Model) -> None:
        self.source = source
        self.model = model
        self.is_sequence = isinstance(source, Sequence) or (
            hasattr(source, "__getitem__") and hasattr(source, "__len__")
        )
        self.steps: int | None
        self._iterator: Iterator[Any] | None
        if self.is_sequence:
            self.steps = len(source) if steps is None else min(int(steps), len(source))
            self._iterator = None
        else:
            self.steps = steps
            self._iterator = iter(source)
        self.exhausted = False

    def _split(
        self, item: Any
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None, list[np.ndarray] | None]:
        if not isinstance(item, tuple):
            item = (item,)
        if not 1 <= len(item) <= 3:
            raise ValueError(
                f"a generator/Sequence must yield x, (x, y) or (x, y, sample_weight), got a "
                f"tuple of {len(item)}"
            )
        x, y, sw = (*item, None, None)[:3]
        xs = self.model._standardize_x(x)
        ys = None if y is None else self.model._standardize_y(y)
        sws = None if sw is None else [np.asarray(sw)]
        return xs, ys, sws

    def epoch(self) -> Iterator[tuple[Any, ...]]:
        if self.is_sequence:
            for i in range(cast(int, self.steps)):  # a Sequence's steps are always known
                yield self._split(self.source[i])
            return
        count = 0
        while self.steps is None or count < self.steps:
            try:
                item = next(cast(Iterator[Any], self._iterator))
            except StopIteration:
                self.exhausted = True
                return
            count += 1
            yield self._split(item)

    def on_epoch_end(self) -> None:
        if self.is_sequence and hasattr(self.source, "on_epoch_end"):
            self.source.on_epoch_end()


def _is_iterable_data(x: Any) -> bool:
    if isinstance(x, (np.ndarray, list, tuple, dict)) or x is None:
        return False
    return (
        isinstance(x, Sequence)
        or hasattr(x, "__next__")
        or (hasattr(x, "__getitem__") and hasattr(x, "__len__") and not hasattr(x, "shape"))
    )


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


class Model(Layer):
    """A model over a graph of layers: ``Model(inputs, outputs)`` with :func:`Input` tensors.

    Several inputs and outputs (lists or dicts) and shared layers are supported, enough for an
    encoder–decoder that passes an encoder's ``return_state`` states as a decoder's
    ``initial_state``. A model is itself a layer: it can be called on arrays (``model(x)``,
    eager) or on symbolic tensors inside another model.
    """

    def __init__(
        self,
        inputs: Any = None,
        outputs: Any = None,
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        Layer.__init__(
            self,
            name=name or unique_name(self._default_name()),
            trainable=trainable,
            **kwargs,
        )
        self.optimizer: Any = None
        self.loss: Any = None
        self.compiled = False
        # Sequential only: compile() arguments kept until the first data builds the model.
        self._deferred_compile: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self.stop_training = False
        self.history: Any = None
        self._graph_ready = False
        self._metric_specs: Any = None
        #: An attached rnnkit.text.Tokenizer, saved in (and loaded from) model files.
        self.tokenizer: Any = None
        self._epochs_completed = 0
        self._fit_callbacks: Any = None
        self._pending_resume: Any = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("Model: give both inputs and outputs")
            self._init_graph(inputs, outputs)

    @staticmethod
    def _default_name() -> str:
        return "functional"

    # ---- graph -------------------------------------------------------------------------------

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        self._inputs, self._input_structure = _flatten_tensors(inputs, "inputs")
        self._outputs, self._output_structure = _flatten_tensors(outputs, "outputs")
        for t in self._inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise TypeError(
                    f"Model: inputs must come from Input(), got the output of layer "
                    f"{t.node.layer.name!r}"
                )
        nodes = _topological_nodes(self._outputs)
        input_ids = {t.uid for t in self._inputs}
        for node in nodes:
            if isinstance(node.layer, InputLayer) and node.outputs[0].uid not in input_ids:
                raise ValueError(
                    f"Model: graph disconnected: the outputs depend on Input "
                    f"{node.layer.name!r}, which is not among the model's inputs"
                )
        self._all_nodes = nodes
        self._nodes = [n for n in nodes if not isinstance(n.layer, InputLayer)]
        layers: list[Layer] = []
        for node in nodes:
            if all(node.layer is not seen for seen in layers):
                layers.append(node.layer)
        self._graph_layers = layers
        consumers: dict[int, int] = {}
        for node in self._nodes:
            for t in node.inputs:
                consumers[t.uid] = consumers.get(t.uid, 0) + 1
        self._consumers = consumers
        self._node_index = {id(n): i for i, n in enumerate(self._nodes)}
        # Layers' weight arrays never change identity (set_weights copies into them).
        self._node_weights = [n.layer.weights for n in self._nodes]
        # What _run and _backprop walk each step, resolved once: (layer, input uids, output uids).
        self._plan = [
            (n.layer, [t.uid for t in n.inputs], [t.uid for t in n.outputs]) for n in self._nodes
        ]
        self._built_input_shapes = [t.shape for t in self._inputs]
        self.built = True
        self._graph_ready = True

    def _ensure_graph(self, x: Any = None) -> None:
        """Sequential builds its graph lazily; a functional model has it from the start."""
        if not self._graph_ready:
            raise ValueError(f"{self.name}: the model has no graph (give inputs and outputs)")

    @property
    def layers(self) -> list[Layer]:
        """The model's layers (for a functional model, its InputLayers first, like Keras)."""
        self._ensure_graph()
        return list(self._graph_layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by index in :attr:`layers`."""
        layers = self.layers
        if index is not None:
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self.name}.get_layer: no layer named {name!r}")

    def _sublayers(self) -> list[Layer]:
        if not self._graph_ready:
            return []
        return [layer for layer in self.layers if not isinstance(layer, InputLayer)]

    @property
    def inputs(self) -> list[SymbolicTensor]:
        self._ensure_graph()
        return list(self._inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        self._ensure_graph()
        return list(self._outputs)

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_names(self) -> list[str]:
        return [t.node.layer.name for t in self.outputs]

    # ---- running the graph -------------------------------------------------------------------

    def _run(
        self, values: list[np.ndarray], masks: list[Mask], training: bool
    ) -> tuple[list[np.ndarray], list[Mask], _Tape]:
        env: dict[int, np.ndarray] = {}
        mask_env: dict[int, Mask] = {}
        for t, value, mask in zip(self._inputs, values, masks):
            env[t.uid] = value
            mask_env[t.uid] = mask
        tape = _Tape()
        caches = tape.caches
        for layer, in_uids, out_uids in self._plan:
            ins = [env[uid] for uid in in_uids]
            in_masks = [mask_env[uid] for uid in in_uids]
            outs, cache = layer.forward(ins, training, in_masks)
            out_masks = layer.compute_mask(ins, in_masks)
            for uid, value, mask in zip(out_uids, outs, out_masks):
                env[uid] = value
                mask_env[uid] = mask
            caches.append(cache)
        return (
            [env[t.uid] for t in self._outputs],
            [mask_env[t.uid] for t in self._outputs],
            tape,
        )

    def _backprop(
        self,
        tape: _Tape,
        output_grads: list[np.ndarray | None],
        logit_grads: dict[int, np.ndarray] | None = None,
    ) -> tuple[list[np.ndarray | None], dict[int, np.ndarray]]:
        """(gradients of the inputs, {id(weight): gradient}) from the outputs' gradients.

        ``logit_grads`` maps a node index to dLoss/d(pre-activation) for an output layer whose
        activation was fused into the loss.
        """
        grads: dict[int, np.ndarray] = {}
        for t, g in zip(self._outputs, output_grads):
            if g is not None:
                _accumulate(grads, t.uid, g)
        weight_grads: dict[int, np.ndarray] = {}
        logit_grads = logit_grads or {}
        plan = self._plan
        for index in range(len(plan) - 1, -1, -1):
            layer, in_uids, out_uids = plan[index]
            cache = tape.caches[index]
            if index in logit_grads:
                # Only fused output layers (Dense, Activation, TimeDistributed) get here.
                dx, layer_grads = cast(Any, layer).backward_from_logits(logit_grads[index], cache)
                grad_inputs: list[Any] = [dx]
            else:
                grad_outputs = [grads.pop(uid, None) for uid in out_uids]
                if all(g is None for g in grad_outputs):
                    continue
                grad_inputs, layer_grads = layer.backward(grad_outputs, cache)
            for uid, g in zip(in_uids, grad_inputs):
                if g is not None:
                    _accumulate(grads, uid, g)
            for w, g in zip(self._node_weights[index], layer_grads):
                if g is not None:
                    _accumulate(weight_grads, id(w), g)
        return [grads.get(t.uid) for t in self._inputs], weight_grads

    # ---- the Layer protocol (a model inside a model) -----------------------------------------

    def build(self, input_shape: Any = None) -> None:
        """Build with an input shape (Keras's ``model.build((None, T, F))``)."""
        self._ensure_graph()

    def _flatten_call(self, inputs: Any, **kwargs: Any) -> list[Any]:
        if kwargs:
            raise ValueError(f"[{self.name}] unexpected call argument(s) {sorted(kwargs)}")
        if isinstance(inputs, dict):
            return self._standardize_structure(inputs, "x", self._inputs)
        if isinstance(inputs, (list, tuple)):
            return list(inputs)
        return [inputs]

    def _unflatten_call(self, flat: list[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return ((flat if len(flat) > 1 else flat[0]),), {}

    def check_input_shapes(self, shapes: list[Shape], what: str = "x") -> None:
        self._ensure_graph()
        if len(shapes) != len(self._inputs):
            raise ValueError(
                f"[{self.name}] expects {len(self._inputs)} input(s), got {len(shapes)}"
            )
        for i, (t, shape) in enumerate(zip(self._inputs, shapes)):
            name = what if len(shapes) == 1 else f"{what}[{i}] ({t.node.layer.name})"
            _check_shape_against(self.name, name, tuple(shape), t)

    def compute_output_shape(self, input_shapes: list[Shape]) -> list[Shape]:
        return [t.shape for t in self._outputs]

    def _cast_input(self, x: Any, index: int) -> np.ndarray:
        return self._cast_model_input(x, self._inputs[index] if self._graph_ready else None)

    def forward(
        self, inputs: list[np.ndarray], training: bool, masks: list[Mask]
    ) -> tuple[list[np.ndarray], Any]:
        outs, out_masks, tape = self._run(list(inputs), list(masks), training)
        self._last_output_masks = out_masks
        return outs, tape

    def compute_mask(self, inputs: list[np.ndarray], masks: list[Mask]) -> list[Mask]:
        return list(getattr(self, "_last_output_masks", [None] * len(self._outputs)))

    def backward(
        self, grad_outputs: list[np.ndarray | None], cache: Any
    ) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
        input_grads, weight_grads = self._backprop(cache, grad_outputs)
        # None for a weight that received no gradient, as layers' backward may also return.
        return input_grads, cast(list[np.ndarray], [weight_grads.get(id(w)) for w in self.weights])

    def __call__(
        self, inputs: Any, *, training: bool | None = None, mask: Any = None, **kwargs: Any
    ) -> Any:
        """Run the model on arrays (returns arrays) or add it to a graph (symbolic inputs)."""
        self._ensure_graph(inputs)
        return Layer.__call__(self, inputs, training=training, mask=mask, **kwargs)

    # ---- data standardization ----------------------------------------------------------------

    @staticmethod
    def _cast_model_input(x: Any, tensor: SymbolicTensor | None) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"x has dtype {arr.dtype}, expected a numeric array")
        integer_input = tensor is not None and np.dtype(tensor.dtype).kind in "iu"
        if integer_input:
            return arr
        return arr.astype(backend.floatx(), copy=False)

    def _standardize_structure(
        self, value: Any, what: str, tensors: list[SymbolicTensor]
    ) -> list[Any]:
        names = [t.node.layer.name for t in tensors]
        if isinstance(value, dict):
            missing = [n for n in names if n not in value]
            if missing:
                raise ValueError(f"{what} is a dict without entries for {missing} (names: {names})")
            return [value[n] for n in names]
        if isinstance(value, (list, tuple)) and len(tensors) > 1:
            if len(value) != len(tensors):
                raise ValueError(
                    f"{what} has {len(value)} arrays, expected {len(tensors)} (one per model "
                    f"{'input' if what == 'x' else 'output'}: {names})"
                )
            return list(value)
        if len(tensors) > 1:
            raise ValueError(
                f"{what} must be a list or dict of {len(tensors)} arrays (for {names}), got one "
                f"array"
            )
        return [value]

    def _standardize_x(self, x: Any) -> list[np.ndarray]:
        self._ensure_graph(x)
        arrays = self._standardize_structure(x, "x", self._inputs)
        out = []
        for i, (t, value) in enumerate(zip(self._inputs, arrays)):
            arr = self._cast_model_input(value, t)
            name = "x" if len(arrays) == 1 else f"x[{i}] ({t.node.layer.name})"
            _check_shape_against(self.name, name, arr.shape, t)
            out.append(arr)
        return out

    def _standardize_y(self, y: Any) -> list[np.ndarray]:
        arrays = self._standardize_structure(y, "y", self._outputs)
        out = []
        for value in arrays:
            arr = np.asarray(value)
            if arr.dtype.kind not in "fiub":
                raise TypeError(f"y has dtype {arr.dtype}, expected a numeric array")
            if arr.ndim == 0:
                raise ValueError("y must have a batch axis, got a scalar")
            out.append(arr)
        return out

    def _standardize_sample_weight(
        self, sample_weight: Any, n: int | None
    ) -> list[np.ndarray] | None:
        if sample_weight is None:
            return None
        sw = np.asarray(sample_weight)
        if sw.dtype.kind not in "fiub":
            raise TypeError(f"sample_weight has dtype {sw.dtype}, expected numbers")
        if sw.ndim == 0 or (n is not None and sw.shape[0] != n):
            raise ValueError(
                f"sample_weight has shape {sw.shape}, expected (B,) or (B, T) with B = {n}"
            )
        return [sw.astype(backend.floatx(), copy=False)]

    # ---- compile -----------------------------------------------------------------------------

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        loss_weights: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: Any = None,
        steps_per_execution: int = 1,
        jit_compile: Any = "auto",
        auto_scale_loss: Any = True,
    ) -> None:
        """Set the optimizer, loss(es) and metrics for :meth:`fit` and :meth:`evaluate`.

        ``optimizer``: a name ("adam", "sgd", "rmsprop", ...) or an rnnkit optimizer. ``loss``:
        a name or an :class:`rnnkit.losses.Loss`, or a list/dict with one per output.
        ``metrics``: names or Metric objects (a list; for several outputs a list of lists or a
        dict by output name). ``loss_weights`` weighs the outputs' losses. ``run_eagerly``,
        ``jit_compile`` and ``auto_scale_loss`` have no effect (rnnkit always runs eagerly).

        Raises:
            ValueError: unknown names (listing the valid ones); unsupported options.
        """
        from rnnkit import losses, optimizers
        from rnnkit import metrics as metrics_module

        if weighted_metrics is not None:
            raise ValueError("compile: weighted_metrics is not supported by rnnkit")
        if steps_per_execution != 1:
            raise ValueError("compile: steps_per_execution other than 1 is not supported")
        self._ensure_graph()
        self.optimizer = optimizers.get(optimizer)
        if loss is None:
            raise ValueError("compile: loss is required (rnnkit trains on an explicit loss)")
        names = self.output_names
        n_out = len(self._outputs)
        if isinstance(loss, dict):
            unknown = set(loss) - set(names)
            if unknown:
                raise ValueError(
                    f"compile: loss has entries {sorted(unknown)} that are not outputs {names}"
                )
            per_output = [loss.get(n) for n in names]
        elif isinstance(loss, (list, tuple)):
            if len(loss) != n_out:
                raise ValueError(
                    f"compile: loss has {len(loss)} entries, expected {n_out} (outputs {names})"
                )
            per_output = list(loss)
        else:
            per_output = [loss] + [copy.deepcopy(loss) for _ in range(n_out - 1)]
        self._losses = [None if spec is None else losses.get(spec) for spec in per_output]
        if all(lo is None for lo in self._losses):
            raise ValueError("compile: every output's loss is None")
        if loss_weights is None:
            self._loss_weights = [1.0] * n_out
        elif isinstance(loss_weights, dict):
            self._loss_weights = [float(loss_weights.get(n, 1.0)) for n in names]
        else:
            if len(loss_weights) != n_out:
                raise ValueError(
                    f"compile: loss_weights has {len(loss_weights)} entries, expected {n_out}"
                )
            self._loss_weights = [float(w) for w in loss_weights]
        self.loss = loss
        self._metrics = self._make_metrics(metrics, metrics_module)
        self._fused = [self._fusable(i) for i in range(n_out)]
        self.compiled = True

    def _make_metrics(self, metrics: Any, module: Any) -> list[list[Any]]:
        names = self.output_names
        n_out = len(names)
        if metrics is None:
            specs: list[list[Any]] = [[] for _ in range(n_out)]
        elif isinstance(metrics, dict):
            specs = [list(_as_list(metrics.get(n, []))) for n in names]
        elif isinstance(metrics, (list, tuple)):
            if n_out > 1 and metrics and all(isinstance(m, (list, tuple)) for m in metrics):
                if len(metrics) != n_out:
                    raise ValueError(f"compile: metrics has {len(metrics)} lists, expected {n_out}")
                specs = [list(m) for m in metrics]
            else:
                specs = [list(metrics) for _ in range(n_out)]
        else:
            specs = [[metrics] for _ in range(n_out)]
        out: list[list[Any]] = []
        for i, group in enumerate(specs):
            made = []
            for spec in group:
                metric = module.get(spec, loss=self._losses[i])
                if any(m is metric for row in out for m in row):
                    metric = copy.deepcopy(metric)
                made.append(metric)
            out.append(made)
        return out

    def _fusable(self, index: int) -> int | None:
        """The node whose activation can fuse into output `index`'s loss, or None."""
        from rnnkit import losses

        loss: Any = self._losses[index]  # the fusable losses have from_logits
        if loss is None or not hasattr(loss, "value_and_grad_logits") or loss.from_logits:
            return None
        tensor = self._outputs[index]
        node = tensor.node
        layer = node.layer
        if tensor.index != 0 or len(node.outputs) != 1 or self._consumers.get(tensor.uid):
            return None
        if not hasattr(layer, "backward_from_logits"):
            return None
        if sum(t.uid == tensor.uid for t in self._outputs) != 1:
            return None
        activation = getattr(getattr(layer, "activation", None), "name", None)
        wanted = "sigmoid" if isinstance(loss, losses.BinaryCrossentropy) else "softmax"
        return self._node_index[id(node)] if activation == wanted else None

    @property
    def metrics(self) -> list[Any]:
        """The compiled metric objects (each output's, in order); empty before compile."""
        return [m for group in getattr(self, "_metrics", []) for m in group]

    @property
    def metrics_names(self) -> list[str]:
        """The keys ``fit``/``evaluate`` log: "loss", then the metrics."""
        if not self.compiled:
            return []
        return list(self._logs(_LossTracker(len(self._outputs))))

    def _require_compiled(self, what: str, x: Any = None) -> None:
        if not self.compiled and self._deferred_compile is not None and x is not None:
            self._ensure_graph(x)  # builds from the data, then applies the deferred compile
        if not self.compiled:
            raise RuntimeError(
                f"{self.name}.{what}: the model must be compiled first: call "
                f"model.compile(optimizer=..., loss=...)"
            )

    # ---- one step ----------------------------------------------------------------------------

    def _loss_and_output_grads(
        self,
        ys: list[np.ndarray],
        outputs: list[np.ndarray],
        masks: list[Mask],
        tape: _Tape,
        sample_weight: list[np.ndarray] | None,
    ) -> tuple[float, list[float], list[np.ndarray | None], dict[int, np.ndarray]]:
        total = 0.0
        per_output: list[float] = []
        output_grads: list[Any] = [None] * len(outputs)
        logit_grads: dict[int, np.ndarray] = {}
        sw = None if sample_weight is None else sample_weight[0]
        for i, (loss, y_pred) in enumerate(zip(self._losses, outputs)):
            if loss is None:
                per_output.append(0.0)
                continue
            mask = masks[i] if (masks[i] is not None and y_pred.ndim >= 3) else None
            weight = self._loss_weights[i]
            node_index = self._fused[i]
            if node_index is not None:
                layer = self._nodes[node_index].layer
                # _fusable checked that the layer and the loss have these methods.
                logits = cast(Any, layer).logits_from_cache(tape.caches[node_index])
                value, grad = cast(Any, loss).value_and_grad_logits(ys[i], logits, sw, mask)
                logit_grads[node_index] = grad if weight == 1.0 else grad * weight
            else:
                value, grad = loss.value_and_grad(ys[i], y_pred, sw, mask)
                output_grads[i] = grad if weight == 1.0 else grad * weight
            per_output.append(value)
            total += weight * value
        return total, per_output, output_grads, logit_grads

    def compute_gradients(
        self, x: Any, y: Any, sample_weight: Any = None, training: bool = True
    ) -> tuple[float, list[np.ndarray]]:
        """The loss on one batch and its gradient for every array of ``trainable_weights``.

        What one ``fit`` step computes before the optimizer (no update is applied); useful to
        check gradients or to write a custom training loop.
        """
        self._require_compiled("compute_gradients", x)
        xs, ys = self._standardize_x(x), self._standardize_y(y)
        sw = self._standardize_sample_weight(sample_weight, xs[0].shape[0])
        total, _, grads, _, _ = self._gradient_step(xs, ys, sw, training, self.trainable_weights)
        return total, grads

    def _gradient_step(
        self,
        xs: list[np.ndarray],
        ys: list[np.ndarray],
        sw: list[np.ndarray] | None,
        training: bool,
        variables: list[np.ndarray],
    ) -> tuple[float, list[float], list[np.ndarray], list[np.ndarray], list[Mask]]:
        outputs, masks, tape = self._run(xs, [None] * len(xs), training)
        total, per_output, output_grads, logit_grads = self._loss_and_output_grads(
            ys, outputs, masks, tape, sw
        )
        _, weight_grads = self._backprop(tape, output_grads, logit_grads)
        grads = [
            weight_grads[id(v)] if id(v) in weight_grads else np.zeros_like(v) for v in variables
        ]
        return total, per_output, grads, outputs, masks

    def _train_batch(
        self,
        xs: list[np.ndarray],
        ys: list[np.ndarray],
        sw: list[np.ndarray] | None,
        variables: list[np.ndarray] | None = None,
    ) -> tuple[float, list[float]]:
        if variables is None:
            variables = self.trainable_weights
        total, per_output, grads, outputs, masks = self._gradient_step(xs, ys, sw, True, variables)
        if not self.optimizer.built:
            # All weights, so that unfreezing a layer later needs no new optimizer.
            self.optimizer.build(self.weights)
        self.optimizer.apply_gradients(zip(grads, variables))
        self._update_metrics(ys, outputs, masks, sw)
        return total, per_output

    def _test_batch(
        self, xs: list[np.ndarray], ys: list[np.ndarray], sw: list[np.ndarray] | None
    ) -> tuple[float, list[float]]:
        outputs, masks, tape = self._run(xs, [None] * len(xs), False)
        total, per_output, _, _ = self._loss_and_output_grads(ys, outputs, masks, tape, sw)
        self._update_metrics(ys, outputs, masks, sw)
        return total, per_output

    def _update_metrics(
        self,
        ys: list[np.ndarray],
        outputs: list[np.ndarray],
        masks: list[Mask],
        sw: list[np.ndarray] | None,
    ) -> None:
        weight = None if sw is None else sw[0]
        for i, group in enumerate(self._metrics):
            if not group:
                continue
            mask = masks[i] if (masks[i] is not None and outputs[i].ndim >= 3) else None
            for metric in group:
                metric.update_state(ys[i], outputs[i], sample_weight=weight, mask=mask)

    def _reset_metrics(self) -> None:
        for group in self._metrics:
            for metric in group:
                metric.reset_state()

    def _logs(self, tracker: _LossTracker) -> dict[str, float]:
        logs = {"loss": tracker.result()}
        multi = len(self._outputs) > 1
        if multi:
            for name, value in zip(self.output_names, tracker.per_output_results()):
                logs[f"{name}_loss"] = value
        for name, group in zip(self.output_names, self._metrics):
            for metric in group:
                logs[f"{name}_{metric.name}" if multi else metric.name] = float(metric.result())
        return logs

    # ---- data adapters -----------------------------------------------------------------------

    def _batches(
        self,
        x: Any,
        y: Any,
        sample_weight: Any,
        batch_size: int | None,
        shuffle: Any,
        steps: int | None,
        class_weight: Any = None,
        need_y: bool = True,
    ) -> _ArrayBatches | _IterableBatches:
        if _is_iterable_data(x):
            if y is not None or sample_weight is not None:
                raise ValueError(
                    "y and sample_weight must be None when x is a generator or Sequence (it "
                    "yields them)"
                )
            if class_weight is not None:
                raise ValueError("class_weight is not supported with a generator or Sequence")
            self._ensure_graph()
            return _IterableBatches(x, steps, self)
        if x is None:
            raise ValueError("x is required")
        if batch_size is None:
            batch_size = 32
        batch_size = _check_int("batch_size", batch_size, minimum=1)
        xs = self._standardize_x(x)
        ys = None
        if y is not None:
            ys = self._standardize_y(y)
        elif need_y:
            raise ValueError("y is required (the targets) when x is an array")
        n = _num_samples(xs + (ys or []))
        sws = self._standardize_sample_weight(sample_weight, n)
        if class_weight is not None:
            sws = [_class_weights(class_weight, ys, sws)]
        return _ArrayBatches([xs, ys, sws], int(batch_size), shuffle)

    # ---- fit / evaluate / predict ------------------------------------------------------------

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Any = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: Any = True,
        class_weight: dict[Any, Any] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
        resume_from: str | Any = None,
        distributed: bool = False,
    ) -> Any:
        """Train for ``epochs - initial_epoch`` epochs; returns the :class:`History`.

        ``x``/``y``: arrays (lists or dicts of arrays for several inputs/outputs), or ``x`` a
        generator / :class:`rnnkit.utils.Sequence` yielding ``(x, y)`` or ``(x, y,
        sample_weight)``. ``validation_split`` holds out the last fraction of array data (before
        shuffling, like Keras); ``validation_data`` is ``(x, y)``, ``(x, y, sample_weight)`` or
        a generator/Sequence. ``shuffle``: True, False or ``"batch"``. ``class_weight``: a dict
        class -> weight (sparse or one-hot targets). ``verbose``: 0 silent, 1 progress bar,
        2 one line per epoch (``"auto"`` is 1).

        ``resume_from``: a checkpoint (:meth:`save_checkpoint`, ``BackupAndRestore``) to
        continue from: its weights, optimizer state, epoch (replacing ``initial_epoch``), RNG
        and callback states are restored, so training ends bitwise where an uninterrupted run
        would have (same data, callbacks, thread count and SIMD path). A
        ``BackupAndRestore`` callback that finds a backup takes precedence.

        ``distributed=True``: data-parallel training on MPI, run under ``mpiexec``
        (docs/distributed.md). Every rank passes the same data; each trains on its slice of
        every global batch of ``batch_size`` and one Allreduce per step averages the gradients,
        weighted by each rank's examples or unmasked tokens. Rank 0's weights, optimizer state,
        epoch (any checkpoint is read there) and RNG state start every rank; only rank 0 shows
        progress and runs checkpoint-writing callbacks; the logged loss is the global batch's;
        rank 0 decides when to stop. One rank (no ``mpiexec``) trains exactly like plain fit.

        Raises:
            ImportError: ``distributed=True`` without mpi4py (``pip install 'rnnkit[dist]'``).
            RuntimeError: the model is not compiled; with ``distributed=True``, ranks that
                differ in rnnkit version, model config, weight shapes or data size.
            ValueError: bad arguments or data (named); a checkpoint that does not fit.
            OSError: ``resume_from`` cannot be read.
        """
        from rnnkit import callbacks as callbacks_module
        from rnnkit import io

        self._require_compiled("fit", x)
        epochs = _check_int("epochs", epochs, minimum=0)
        initial_epoch = _check_int("initial_epoch", initial_epoch, minimum=0)
        if not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        verbose = _check_verbose(verbose)
        if validation_split and validation_data is None:
            if _is_iterable_data(x):
                raise ValueError("validation_split is not supported with a generator or Sequence")
            x, y, sample_weight, validation_data = _split_validation(
                self, x, y, sample_weight, float(validation_split)
            )
        train = self._batches(
            x, y, sample_weight, batch_size, shuffle, steps_per_epoch, class_weight
        )
        session = None
        if distributed:
            from rnnkit.distributed import _mpi

            session = _mpi.FitSession(self, train.steps, epochs)
            verbose, callbacks = session.verbose(verbose), session.callbacks(callbacks)
            if session.rank != 0:
                resume_from = None  # rank 0 reads the checkpoint and broadcasts it
        val = None
        if validation_data is not None:
            val = self._validation_batches(
                validation_data, validation_batch_size or batch_size, validation_steps
            )
        cbs = callbacks_module.CallbackList(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=epochs,
            steps=train.steps,
        )
        batch_hooks = _overrides(
            cbs, ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
        )
        self.stop_training = False
        tracker = _LossTracker(len(self._outputs))
        variables = self.trainable_weights
        resume = None if resume_from is None else io.restore_checkpoint(self, resume_from)
        self._fit_callbacks, self._pending_resume = cbs, None
        cbs.on_train_begin()
        # A BackupAndRestore that found a backup has loaded it in on_train_begin.
        resume = self._pending_resume or resume
        self._pending_resume = None
        if resume is not None:
            io.apply_training_state(self, resume, cbs)
            initial_epoch = resume.epoch
        if session is not None:
            initial_epoch = session.start(initial_epoch)
        epoch_logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            self._reset_metrics()
            tracker.reset()
            cbs.on_epoch_begin(epoch)
            seen = 0
            batches = train.epoch() if session is None else session.shard(train.epoch())
            for step, (xs, ys, sws) in enumerate(batches):
                if ys is None:
                    raise ValueError("the training data must provide targets y")
                if batch_hooks:
                    cbs.on_train_batch_begin(step)
                total, per_output = self._train_batch(xs, ys, sws, variables)
                size = xs[0].shape[0]
                if session is not None:
                    total, per_output, size = session.reduced(total, per_output)
                tracker.update(total, per_output, size)
                seen += 1
                if batch_hooks:
                    cbs.on_train_batch_end(step, self._logs(tracker))
                if session is not None:
                    self.stop_training = session.agree(self.stop_training)
                if self.stop_training:
                    break
            if seen == 0 and isinstance(train, _IterableBatches) and train.exhausted:
                print(
                    "Your input ran out of data; interrupting training (give steps_per_epoch "
                    "or a generator that yields epochs * steps_per_epoch batches).",
                    file=sys.stderr,
                )
                break
            epoch_logs = self._logs(tracker)
            if val is not None and (epoch + 1) % int(validation_freq) == 0:
                val_logs = self._evaluate_batches(val, cbs, in_fit=True)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            if isinstance(train, _IterableBatches):
                train.on_epoch_end()
            self._epochs_completed = epoch + 1
            cbs.on_epoch_end(epoch, epoch_logs)
            if session is not None:
                self.stop_training = session.end_epoch(self.stop_training)
            if self.stop_training:
                break
        if session is not None:
            session.close()
        cbs.on_train_end(epoch_logs)
        self._fit_callbacks = None
        self.history = cbs.history
        return self.history

    def _validation_batches(self, data: Any, batch_size: int | None, steps: int | None) -> Any:
        if _is_iterable_data(data):
            return self._batches(data, None, None, None, False, steps, need_y=False)
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise ValueError(
                "validation_data must be (x, y), (x, y, sample_weight), a generator or a Sequence"
            )
        vx, vy, vsw = (*data, None)[:3]
        return self._batches(vx, vy, vsw, batch_size, False, steps)

    def _evaluate_batches(self, batches: Any, cbs: Any, in_fit: bool = False) -> dict[str, float]:
        self._reset_metrics()
        tracker = _LossTracker(len(self._outputs))
        hooks = not in_fit and _overrides(cbs, ("on_test_batch_begin", "on_test_batch_end"))
        if not in_fit:
            cbs.on_test_begin()
        for step, (xs, ys, sws) in enumerate(batches.epoch()):
            if ys is None:
                raise ValueError("evaluation data must provide targets y")
            if hooks:
                cbs.on_test_batch_begin(step)
            total, per_output = self._test_batch(xs, ys, sws)
            tracker.update(total, per_output, xs[0].shape[0])
            if hooks:
                cbs.on_test_batch_end(step, self._logs(tracker))
        logs = self._logs(tracker)
        if not in_fit:
            cbs.on_test_end(logs)
        return logs

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Any = None,
        return_dict: bool = False,
    ) -> Any:
        """The loss (and metrics) on data: a float, ``[loss, *metrics]``, or a dict."""
        self._require_compiled("evaluate", x)
        verbose = _check_verbose(verbose)
        batches = self._batches(x, y, sample_weight, batch_size, False, steps)
        cbs = self._callback_list(callbacks, verbose, batches.steps)
        logs = self._evaluate_batches(batches, cbs)
        return _format_results(logs, return_dict)

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: Any = None,
    ) -> Any:
        """Outputs for x in batches (default 32): an array, or a list for several outputs."""
        verbose = _check_verbose(verbose)
        batches = self._batches(x, None, None, batch_size, False, steps, need_y=False)
        cbs = self._callback_list(callbacks, verbose, batches.steps)
        hooks = _overrides(cbs, ("on_predict_batch_begin", "on_predict_batch_end"))
        cbs.on_predict_begin()
        chunks: list[list[np.ndarray]] = [[] for _ in self._outputs]
        for step, (xs, _, _) in enumerate(batches.epoch()):
            if hooks:
                cbs.on_predict_batch_begin(step)
            outputs, _, _ = self._run(xs, [None] * len(xs), False)
            for chunk, out in zip(chunks, outputs):
                chunk.append(out)
            if hooks:
                cbs.on_predict_batch_end(step, {"outputs": outputs})
        cbs.on_predict_end()
        if not chunks[0]:
            results = [
                np.zeros((0, *[d or 0 for d in t.shape[1:]]), backend.floatx())
                for t in self._outputs
            ]
        else:
            results = [np.concatenate(c, axis=0) for c in chunks]
        return results[0] if len(results) == 1 else results

    def _callback_list(self, callbacks: Any, verbose: int, steps: int | None) -> Any:
        """The callbacks of an evaluate/predict run (a progress bar unless verbose=0)."""
        from rnnkit import callbacks as callbacks_module

        return callbacks_module.CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=1,
            steps=steps,
        )

    def train_on_batch(
        self,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: dict[Any, Any] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """One optimizer step on one batch; returns its loss (and metrics) like :meth:`evaluate`."""
        self._require_compiled("train_on_batch", x)
        xs, ys = self._standardize_x(x), self._standardize_y(y)
        n = _num_samples(xs + ys)
        sws = self._standardize_sample_weight(sample_weight, n)
        if class_weight is not None:
            sws = [_class_weights(class_weight, ys, sws)]
        self._reset_metrics()
        tracker = _LossTracker(len(self._outputs))
        total, per_output = self._train_batch(xs, ys, sws)
        tracker.update(total, per_output, xs[0].shape[0])
        return _format_results(self._logs(tracker), return_dict)

    def test_on_batch(
        self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False
    ) -> Any:
        """The loss (and metrics) on one batch, without training."""
        self._require_compiled("test_on_batch", x)
        xs, ys = self._standardize_x(x), self._standardize_y(y)
        n = _num_samples(xs + ys)
        sws = self._standardize_sample_weight(sample_weight, n)
        self._reset_metrics()
        tracker = _LossTracker(len(self._outputs))
        total, per_output = self._test_batch(xs, ys, sws)
        tracker.update(total, per_output, xs[0].shape[0])
        return _format_results(self._logs(tracker), return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """The outputs for one batch (no batching)."""
        xs = self._standardize_x(x)
        outputs, _, _ = self._run(xs, [None] * len(xs), False)
        return outputs[0] if len(outputs) == 1 else outputs

    # ---- states ------------------------------------------------------------------------------

    def reset_state(self) -> None:
        """Reset the states of every stateful recurrent layer to zeros."""
        for layer in self._sublayers():
            if (
                isinstance(layer, Model)
                or isinstance(layer, (Recurrent, Bidirectional))
                and layer.stateful
            ):
                layer.reset_state()

    def reset_states(self) -> None:
        """Keras 2's name for :meth:`reset_state`."""
        self.reset_state()

    # ---- summary -----------------------------------------------------------------------------

    def summary(
        self,
        line_length: int | None = None,
        positions: Any = None,
        print_fn: Callable[[str], Any] | None = None,
        expand_nested: bool = False,
        show_trainable: bool = False,
    ) -> None:
        """Print a Keras-like table: layer (type), output shape, parameter count; then totals.

        Parameter counts are Keras's for the same model. ``print_fn`` receives the whole text.
        """
        self._ensure_graph()
        functional = not isinstance(self, Sequential)
        rows = []
        for layer in self.layers:
            nodes = [n for n in self._all_nodes if n.layer is layer]
            shapes = [t.shape for n in nodes[:1] for t in n.outputs]
            shape_text = (
                _shape_str(shapes[0])
                if len(shapes) == 1
                else "[" + ", ".join(_shape_str(s) for s in shapes) + "]"
            )
            row = [
                f"{layer.name} ({type(layer).__name__})",
                shape_text,
                f"{layer.count_params():,}",
            ]
            if functional:
                inbound = sorted({t.node.layer.name for n in nodes for t in n.inputs})
                row.append(", ".join(inbound) or "-")
            if show_trainable:
                row.append("Y" if layer.trainable else "N")
            rows.append(row)
        headers = ["Layer (type)", "Output Shape", "Param #"]
        if functional:
            headers.append("Connected to")
        if show_trainable:
            headers.append("Trainable")
        widths = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(headers)]
        total_width = line_length or sum(widths)

        def fmt(cells: list[str]) -> str:
            out = ""
            for i, (cell, width) in enumerate(zip(cells, widths)):
                out += cell.rjust(width - 2) + "  " if i == 2 else cell.ljust(width)
            return out.rstrip()

        def size(n: int) -> str:
            itemsize = np.dtype(backend.floatx()).itemsize
            nbytes = float(n * itemsize)
            for unit in ("B", "KB", "MB", "GB"):
                if nbytes < 1024 or unit == "GB":
                    return f"{n:,} ({nbytes:.2f} {unit})"
                nbytes /= 1024
            return f"{n:,}"

        trainable = int(sum(w.size for w in self.trainable_weights))
        total = self.count_params()
        lines = [f'Model: "{self.name}"', "_" * total_width, fmt(headers), "=" * total_width]
        for i, row in enumerate(rows):
            lines.append(fmt(row))
            lines.append(("=" if i == len(rows) - 1 else "_") * total_width)
        lines += [
            f" Total params: {size(total)}",
            f" Trainable params: {size(trainable)}",
            f" Non-trainable params: {size(total - trainable)}",
            "_" * total_width,
        ]
        text = "\n".join(lines)
        (print_fn or print)(text)

    # ---- files -------------------------------------------------------------------------------

    def save(
        self,
        filepath: Any,
        overwrite: bool = True,
        *,
        tokenizer: Any = None,
        include_optimizer: bool = True,
    ) -> None:
        """Write the model to one file (docs/files.md): architecture, weights, compile
        settings and optimizer state, stateful layers' carried states, and a tokenizer
        (``tokenizer=`` or :attr:`tokenizer`). Atomic: the file is the old or the new model,
        whatever happens. rnnkit's format whatever the extension (``.h5`` / ``.keras`` names
        get a warning). Read it back with :func:`rnnkit.load_model`.
        """
        from rnnkit import io

        io.save_model(
            self, filepath, overwrite, tokenizer=tokenizer, include_optimizer=include_optimizer
        )

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        """Write the weights only (atomically); :meth:`load_weights` reads them back."""
        from rnnkit import io

        io.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath: Any) -> None:
        """Set the weights from a weights, model or checkpoint file of the same architecture."""
        from rnnkit import io

        io.load_weights(self, filepath)

    def save_checkpoint(
        self, filepath: Any, *, epoch: int | None = None, callbacks: Any = None
    ) -> None:
        """Write a full training checkpoint for ``fit(..., resume_from=filepath)``: the model
        file's contents plus the epoch (default: the epochs the last ``fit`` completed), the
        RNG states and ``callbacks``' states. Atomic."""
        from rnnkit import io

        io.save_checkpoint(self, filepath, epoch=epoch, callbacks=callbacks)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        """Pickling (and ``copy.deepcopy``) carries the model's file bytes, never internals."""
        from rnnkit import io

        return io._model_from_bytes, (io.model_to_bytes(self),)

    # ---- weights and config ------------------------------------------------------------------

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight, layer by layer in Keras order."""
        self._ensure_graph()
        return Layer.get_weights(self)

    def set_weights(self, weights: list[Any]) -> None:
        """Overwrite every weight in place (as :meth:`get_weights` lists them)."""
        self._ensure_graph()
        Layer.set_weights(self, weights)

    def get_config(self) -> dict[str, Any]:
        """The architecture: layers' configs and how they connect (for :meth:`from_config`)."""
        self._ensure_graph()
        node_ids = {id(n): i for i, n in enumerate(self._all_nodes)}

        def ref(t: SymbolicTensor) -> list[int]:
            return [node_ids[id(t.node)], t.index]

        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [serialize_layer(layer) for layer in self.layers],
            "nodes": [
                {"layer": n.layer.name, "inputs": [ref(t) for t in n.inputs]}
                for n in self._all_nodes
            ],
            "inputs": [ref(t) for t in self._inputs],
            "input_structure": self._input_structure,
            "outputs": [ref(t) for t in self._outputs],
            "output_structure": self._output_structure,
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Model:
        """A new model (fresh weights) with the architecture of :meth:`get_config`."""
        layers = {}
        for entry in config["layers"]:
            layer = deserialize_layer(entry, custom_objects)
            layers[layer.name] = layer
        produced: list[list[SymbolicTensor]] = []
        for node in config["nodes"]:
            layer = layers[node["layer"]]
            if isinstance(layer, InputLayer):
                produced.append([layer.output])
                continue
            flat = [produced[i][k] for i, k in node["inputs"]]
            args, kwargs = layer._unflatten_call(flat)
            out = layer(*args, **kwargs)
            produced.append(out if isinstance(out, list) else [out])

        def rebuild(refs: list[Any], structure: Any) -> Any:
            tensors = [produced[i][k] for i, k in refs]
            if structure is None:
                return tensors[0]
            if isinstance(structure, list):
                return dict(zip(structure, tensors))
            return tensors

        return cls(
            rebuild(config["inputs"], config.get("input_structure", "list")),
            rebuild(config["outputs"], config.get("output_structure", "list")),
            name=config.get("name"),
            trainable=config.get("trainable", True),
        )


class _LossTracker:
    """Running means of the loss (and each output's loss), weighted by batch size (Keras 3)."""

    def __init__(self, outputs: int) -> None:
        self.outputs = outputs
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.per_output = [0.0] * self.outputs
        self.count = 0

    def update(self, value: float, per_output: list[float], batch: int) -> None:
        self.total += value * batch
        for i, v in enumerate(per_output):
            self.per_output[i] += v * batch
        self.count += batch

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def per_output_results(self) -> list[float]:
        return [v / self.count if self.count else 0.0 for v in self.per_output]


# ---------------------------------------------------------------------------------------------
# Sequential
# ---------------------------------------------------------------------------------------------


class Sequential(Model):
    """A linear stack of layers: ``Sequential([...])`` or ``.add(layer)``.

    The input shape comes from an :func:`Input` first entry, ``input_shape=`` on the first
    layer (or Embedding's ``input_length``), or the first data the model sees (then a summary
    needs the model called or built first). Every layer must have one output.
    """

    def __init__(
        self, layers: list[Any] | None = None, name: str | None = None, trainable: bool = True
    ) -> None:
        super().__init__(name=name, trainable=trainable)
        self._layers: list[Layer] = []
        self._input: SymbolicTensor | None = None
        for layer in layers or []:
            self.add(layer)

    @staticmethod
    def _default_name() -> str:
        return "sequential"

    def add(self, layer: Any) -> None:
        """Append a layer (or, first, an :func:`Input` tensor / InputLayer)."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._layers or self._input is not None:
                raise ValueError(f"{self.name}.add: an Input must come first")
            self._input = layer.output
        elif isinstance(layer, Layer):
            if any(existing is layer for existing in self._layers):
                raise ValueError(f"{self.name}.add: layer {layer.name!r} is already in the model")
            self._layers.append(layer)
        else:
            raise TypeError(f"{self.name}.add: expected an rnnkit layer, got {layer!r}")
        self._graph_ready = False
        if self._layers and self._known_input_shape() is not None:
            self._ensure_graph()

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._layers:
            raise ValueError(f"{self.name}.pop: the model has no layers")
        layer = self._layers.pop()
        self._graph_ready = False
        return layer

    def _known_input_shape(self) -> Shape | None:
        if self._input is not None:
            return self._input.shape
        if self._layers and self._layers[0]._batch_input_shape is not None:
            return self._layers[0]._batch_input_shape
        return None

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """As :meth:`Model.compile`; on a model whose input shape is not known yet (Keras allows
        ``Sequential([Embedding(V, 16), LSTM(32), ...]).compile(...)``) the names are checked
        now and the compile is applied when the first data builds the model."""
        if self._graph_ready or self._known_input_shape() is not None or not self._layers:
            super().compile(*args, **kwargs)
            return
        from rnnkit import losses, optimizers

        bound = inspect.signature(Model.compile).bind(self, *args, **kwargs).arguments
        optimizers.get(bound.get("optimizer", "rmsprop"))  # unknown names fail here, as in Keras
        loss = bound.get("loss")
        if loss is None:
            raise ValueError("compile: loss is required (rnnkit trains on an explicit loss)")
        for spec in (
            loss.values()
            if isinstance(loss, dict)
            else (loss if isinstance(loss, (list, tuple)) else [loss])
        ):
            if spec is not None:
                losses.get(spec)
        self._deferred_compile = (args, kwargs)

    def _ensure_graph(self, x: Any = None) -> None:
        self._build_graph(x)
        if self._deferred_compile is not None:
            args, kwargs = self._deferred_compile
            self._deferred_compile = None
            Model.compile(self, *args, **kwargs)

    def _build_graph(self, x: Any = None) -> None:
        if self._graph_ready:
            return
        if not self._layers:
            raise ValueError(f"{self.name}: the model has no layers")
        if self._input is None:
            shape = self._known_input_shape()
            dtype = None
            if shape is None:
                data = _first_array(x)
                if isinstance(x, SymbolicTensor):
                    data = np.zeros([d or 0 for d in x.shape], dtype=x.dtype)
                if data is None:
                    raise ValueError(
                        f"{self.name}: the model is not built yet: give the first layer "
                        f"input_shape=..., start with Input(shape), call model.build(shape), "
                        f"or call the model on data"
                    )
                shape = (None, *data.shape[1:])
                if data.dtype.kind in "iu":
                    dtype = "int64"
            from rnnkit.layers.core import Embedding

            if dtype is None and isinstance(self._layers[0], Embedding):
                dtype = "int64"
            self._input = Input(batch_shape=shape, dtype=dtype)
        y: Any = self._input
        for layer in self._layers:
            y = layer(y)
            if isinstance(y, list):
                raise ValueError(  # noqa: TRY004 - a wrong value (layer config), not type
                    f"{self.name}: layer {layer.name!r} has {len(y)} outputs; every layer of a "
                    f"Sequential model must have one (use the functional Model for "
                    f"return_state)"
                )
        self._init_graph(self._input, y)

    def build(self, input_shape: Any = None) -> None:
        """Build for inputs of ``input_shape`` (with the batch axis, e.g. ``(None, 3, 1)``)."""
        if self._graph_ready:
            return
        if input_shape is not None and self._input is None:
            if (
                isinstance(input_shape, list)
                and input_shape
                and isinstance(input_shape[0], (tuple, list))
            ):
                input_shape = input_shape[0]
            from rnnkit.layers.core import Embedding

            dtype = "int64" if self._layers and isinstance(self._layers[0], Embedding) else None
            self._input = Input(batch_shape=tuple(input_shape), dtype=dtype)
        self._ensure_graph()

    @property
    def layers(self) -> list[Layer]:
        """The layers added (no InputLayer, like Keras's Sequential)."""
        return list(self._layers)

    def _sublayers(self) -> list[Layer]:
        return list(self._layers)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [serialize_layer(layer) for layer in self._layers],
        }
        if self._input is not None:
            config["build_input_shape"] = list(self._input.shape)
            config["input_dtype"] = self._input.dtype
        return config

    @classmethod
    def from_config(
        cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Sequential:
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        if config.get("build_input_shape") is not None:
            dtype = config.get("input_dtype")
            int_input = dtype is not None and np.dtype(dtype).kind in "iu"
            model.add(
                Input(
                    batch_shape=tuple(config["build_input_shape"]),
                    dtype=dtype if int_input else None,
                )
            )
        for entry in config["layers"]:
            model.add(deserialize_layer(entry, custom_objects))
        return model


def load_model(
    filepath: Any, custom_objects: dict[str, Any] | None = None, compile: bool = True
) -> Model:
    """Keras's path for :func:`rnnkit.load_model` (``keras.models.load_model``)."""
    from rnnkit import io

    return io.load_model(filepath, custom_objects=custom_objects, compile=compile)


def model_from_config(
    config: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> Model:
    """A model from ``{"class_name": "Sequential" | "Model" | ..., "config": ...}``."""
    # The config describes a model (its class name is Sequential, Model or a subclass).
    return cast(Model, deserialize_layer(config, custom_objects))


# ---------------------------------------------------------------------------------------------
# Truncated backpropagation through time
# ---------------------------------------------------------------------------------------------


def train_truncated_bptt(
    model: Model,
    x: Any,
    y: Any,
    window: int,
    sample_weight: Any = None,
    reset_state: bool = True,
) -> float:
    """Train on one long batch by truncated BPTT: one ``train_on_batch`` per window of steps.

    The batch (B, T, ...) is cut along time into windows of ``window`` steps (the last may be
    shorter). The model's recurrent layers must be ``stateful``, so each window starts from the
    state the previous one ended in; gradients do not flow back across windows (that is the
    truncation). The targets must be sequences too (``return_sequences=True`` outputs, y of
    shape (B, T, ...)). With ``window >= T`` this is exactly one full-BPTT ``train_on_batch``.

    Args:
        model: a compiled model whose recurrent layers are stateful.
        x: the input array, (B, T, ...).
        y: the target array, (B, T, ...).
        window: steps per window (k), >= 1.
        sample_weight: None, (B,) or (B, T) (cut into windows like y).
        reset_state: reset the states before the first window (True for a new batch of
            sequences; False to continue the sequences of the previous call).

    Returns:
        The mean of the windows' losses, weighted by their lengths.

    Raises:
        ValueError: a recurrent layer is not stateful, bad window, or x/y without a time axis.
    """
    if isinstance(window, bool) or int(window) < 1:
        raise ValueError(f"train_truncated_bptt: window must be a positive integer, got {window!r}")
    recurrent = [
        layer for layer in _all_layers(model) if isinstance(layer, (Recurrent, Bidirectional))
    ]
    if not recurrent or not all(layer.stateful for layer in recurrent):
        raise ValueError(
            "train_truncated_bptt: every recurrent layer must be stateful=True (the state is "
            "carried from one window to the next)"
        )
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2 or y.ndim < 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"train_truncated_bptt: x and y must be (B, T, ...) with the same T, got shapes "
            f"{x.shape} and {y.shape}"
        )
    sw = None if sample_weight is None else np.asarray(sample_weight)
    if reset_state:
        model.reset_state()
    steps, window = x.shape[1], int(window)
    total, count = 0.0, 0
    for start in range(0, steps, window):
        stop = min(start + window, steps)
        w = sw[:, start:stop] if sw is not None and sw.ndim >= 2 else sw
        result = model.train_on_batch(x[:, start:stop], y[:, start:stop], sample_weight=w)
        loss = result[0] if isinstance(result, list) else result
        total += loss * (stop - start)
        count += stop - start
    return total / count if count else 0.0


def _all_layers(model: Model) -> list[Layer]:
    out = []
    for layer in model._sublayers():
        out.extend(_all_layers(layer) if isinstance(layer, Model) else [layer])
    return out


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _first_array(x: Any) -> np.ndarray | None:
    if x is None or isinstance(x, SymbolicTensor):
        return None
    if isinstance(x, dict):
        x = next(iter(x.values()), None)
    elif isinstance(x, (list, tuple)):
        x = x[0] if x else None
    if x is None or _is_iterable_data(x):
        return None
    arr = np.asarray(x)
    return arr if arr.ndim >= 1 else None


def _check_shape_against(
    model: str, name: str, shape: tuple[Any, ...], tensor: SymbolicTensor
) -> None:
    """Rank, and the feature sizes of float inputs, against a model input (batch/time free)."""
    expected = tensor.shape
    if len(shape) != len(expected):
        raise ValueError(
            f"[{model}] input {name} has shape {shape}, expected {len(expected)} dimensions "
            f"{_shape_str(expected)}"
        )
    if np.dtype(tensor.dtype).kind in "iu":
        return
    first_checked = 2 if len(expected) >= 3 else 1
    for axis in range(first_checked, len(expected)):
        if expected[axis] is not None and shape[axis] != expected[axis]:
            raise ValueError(
                f"[{model}] input {name} has shape {shape}, expected {_shape_str(expected)} "
                f"(axis {axis} must be {expected[axis]})"
            )


def _check_int(name: str, value: Any, minimum: int) -> int:
    """An integer argument (Python or NumPy int, not bool) of at least `minimum`: a float such
    as 2.5 or a string is an error, never silently truncated."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return int(value)


def _check_verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _overrides(cbs: Any, hooks: tuple[str, ...]) -> bool:
    """Whether any callback implements one of these hooks (else skip the per-batch calls): in
    its class, or as an instance attribute (LambdaCallback(on_train_batch_end=...))."""
    from rnnkit.callbacks import Callback

    return any(
        getattr(type(c), hook) is not getattr(Callback, hook) or hook in vars(c)
        for c in cbs.callbacks
        for hook in hooks
    )


def _format_results(logs: dict[str, float], return_dict: bool) -> Any:
    if return_dict:
        return dict(logs)
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _split_validation(
    model: Model, x: Any, y: Any, sample_weight: Any, split: float
) -> tuple[Any, Any, Any, tuple[Any, Any, Any]]:
    """Hold out the last `split` fraction of array data (Keras: before shuffling)."""
    xs = model._standardize_x(x)
    if y is None:
        raise ValueError("validation_split needs y")
    ys = model._standardize_y(y)
    n = cast(int, _num_samples(xs + ys))  # x always has samples
    at = math.ceil(n * (1.0 - split))
    if at == 0 or at == n:
        raise ValueError(
            f"validation_split={split} leaves an empty training or validation set for {n} samples"
        )

    def part(arrays: list[np.ndarray], sl: slice) -> Any:
        picked = [a[sl] for a in arrays]
        return picked[0] if len(picked) == 1 else picked

    sw = None if sample_weight is None else np.asarray(sample_weight)
    train = (part(xs, slice(None, at)), part(ys, slice(None, at)), None if sw is None else sw[:at])
    val = (part(xs, slice(at, None)), part(ys, slice(at, None)), None if sw is None else sw[at:])
    return (*train, val)


def _class_weights(
    class_weight: dict[Any, Any], ys: list[np.ndarray] | None, sws: list[np.ndarray] | None
) -> np.ndarray:
    """Per-sample (or per-timestep) weights from a class -> weight dict, times sample_weight."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict class -> weight, got {class_weight!r}")
    if ys is None or len(ys) != 1:
        raise ValueError("class_weight needs exactly one output's targets y")
    y = ys[0]
    if y.ndim >= 2 and y.shape[-1] > 1:
        labels = np.argmax(y, axis=-1)
    else:
        labels = y.reshape(y.shape[:-1]) if (y.ndim >= 2 and y.shape[-1] == 1) else y
        labels = np.round(labels).astype(np.int64)
    table_size = max(int(labels.max(initial=0)), max(class_weight)) + 1
    table = np.full(table_size, np.nan, dtype=np.float64)
    for cls, weight in class_weight.items():
        table[int(cls)] = float(weight)
    weights: np.ndarray = table[labels]
    if np.isnan(weights).any():
        missing = sorted(set(labels[np.isnan(weights)].tolist()))
        raise ValueError(f"class_weight has no weight for class(es) {missing} found in y")
    weights = weights.astype(backend.floatx())
    if sws is not None:
        sw = sws[0]
        weights = weights * sw.reshape(sw.shape + (1,) * (weights.ndim - sw.ndim))
    return weights
