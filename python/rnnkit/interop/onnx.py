"""ONNX export: :func:`export_onnx` (docs/interop.md).

The graph uses the standard ONNX operators: RNN / LSTM / GRU for recurrent layers (DESIGN.md
section 2: ONNX LSTM gates i, o, f, c; GRU z, r, h, which is Keras's order; ``B = [Wb; Rb]``;
``linear_before_reset=1`` for reset_after=True), Gather for Embedding, MatMul + Add (+ the
activation) for Dense. The operators run time-major (``layout=0``: onnxruntime refuses
``layout=1``), so the batch-first input is transposed once at the start, tensors stay
time-major through the layers (Dense and activations act on the last axis, indifferent to it),
and a sequence output is transposed back once at the end.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Literal, Union, cast, overload

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rnnkit import layers as rk
from rnnkit.models import Model, Sequential

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Squeeze/Unsqueeze/ReduceSum with axes as inputs, Softmax over one axis

# rnnkit activation -> one elementwise ONNX operator (and its attributes)
_ACTIVATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "relu": ("Relu", {}),
    "tanh": ("Tanh", {}),
    "sigmoid": ("Sigmoid", {}),
    "softmax": ("Softmax", {"axis": -1}),
    "elu": ("Elu", {"alpha": 1.0}),
    "selu": ("Selu", {}),  # ONNX's default alpha and gamma are Keras's constants
    "softplus": ("Softplus", {}),
    "softsign": ("Softsign", {}),
    "exponential": ("Exp", {}),
}
_RNN_ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu"}
_OP: dict[type[rk.Recurrent], str] = {rk.SimpleRNN: "RNN", rk.LSTM: "LSTM", rk.GRU: "GRU"}
# A layer one ONNX recurrent operator expresses: one direction, or both.
_RecurrentLayer = Union[rk.Recurrent, rk.Bidirectional]

PathLike = Union[str, "os.PathLike[str]"]


class _Graph:
    """Nodes and initializers of the graph being built, with unique names."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def fresh(self, base: str) -> str:
        self._count += 1
        return f"{base}_{self._count}"

    def const(self, value: Any, base: str, dtype: Any = np.float32) -> str:
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def ints(self, values: list[int], base: str = "axes") -> str:
        return self.const(np.array(values, dtype=np.int64), base, np.int64)

    @overload
    def op(
        self, op_type: str, inputs: list[str], outputs: Literal[1] = ..., **attrs: Any
    ) -> str: ...
    @overload
    def op(self, op_type: str, inputs: list[str], outputs: int, **attrs: Any) -> list[str]: ...
    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> Any:
        """Add a node; its output name (or the list of them when ``outputs`` > 1)."""
        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attrs))
        return names[0] if outputs == 1 else names

    def reduce(self, op_type: str, x: str, axes: list[int]) -> str:
        """A Reduce* node without kept axes (axes became an input in opset 13 for ReduceSum,
        in opset 18 for the others)."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes)], keepdims=0)
        return self.op(op_type, [x], axes=axes, keepdims=0)


def export_onnx(
    model: rk.Layer,
    path: PathLike | None,
    opset: int | None = None,
    *,
    assume_post_padding: bool = False,
) -> onnx.ModelProto:
    """Write a built rnnkit Sequential (or single layer) as an ONNX model; return the model.

    The graph has one input ``"input"``: x (B, T, F) float32, or token ids (B, T) int64 when
    the model starts with an Embedding; and one output ``"output"``, batch-first like
    ``model.predict``. B and T are dynamic. Layers: SimpleRNN (tanh, relu), LSTM, GRU (both
    ``reset_after``), Bidirectional (every merge mode but None), Embedding, Dense (linear,
    relu, tanh, sigmoid, softmax, elu, selu, softplus, softsign, exponential), Activation (the
    same), Dropout (inference: nothing), TimeDistributed(Dense). ``return_sequences=False``
    takes the final state (ONNX ``Y_h``); ``go_backwards`` runs the reverse direction.

    Masks: an ``Embedding(mask_zero=True)`` mask becomes the operators' ``sequence_lens``,
    counted in the graph from the ids (``ReduceSum(Cast(Not(Equal(ids, 0))))``). That equals the
    mask only for **post-padded** ids (every 0 after every non-zero id in each row): ONNX cannot
    express pre-padding or holes, and since the ids are only known at run time, the export
    cannot check them. So a model with such a mask exports only with
    ``assume_post_padding=True``, the caller's statement that every input will be post-padded
    (pre-padded ids would silently give other outputs). Masked output rows are then as in
    rnnkit: ONNX zero-fills them, which is what Bidirectional returns; a unidirectional layer
    repeats the last valid output (Keras's rule), rebuilt in the graph with GatherElements.

    Args:
        model: a built :class:`~rnnkit.Sequential`, or a built layer of the kinds above.
        path: where to write the ``.onnx`` file (atomically); None writes nothing.
        opset: the ONNX opset (default 17; 13 or newer).
        assume_post_padding: allow ``mask_zero`` and export it as ``sequence_lens``.

    Raises:
        ValueError: what ONNX or this exporter cannot express: a mask without
            ``assume_post_padding=True``, Masking, ``go_backwards`` with a mask and
            ``return_sequences``, ``merge_mode=None``, ``stateful``, ``return_state``, an
            unsupported activation, an unbuilt model, an opset below 13.
        TypeError: a layer type with no export, or a functional Model.
    """
    opset = DEFAULT_OPSET if opset is None else int(opset)
    if opset < MIN_OPSET:
        raise ValueError(f"export_onnx: opset must be {MIN_OPSET} or newer, got {opset}")
    sequential = _as_sequential(model)
    tensor = sequential.inputs[0]
    ids_input = np.dtype(tensor.dtype).kind in "iu"
    g = _Graph(opset)
    state = _State(g, "input", rank=len(tensor.shape))
    if state.rank == 3 or ids_input:
        state.x = g.op("Transpose", ["input"], perm=[1, 0, *range(2, state.rank)])
        state.time_major = True
    for layer in sequential.layers:
        _export_layer(state, layer, assume_post_padding)
    out = state.x
    if state.time_major:
        out = g.op("Transpose", [out], perm=[1, 0, *range(2, state.rank)])
    g.nodes.append(helper.make_node("Identity", [out], ["output"]))
    graph = helper.make_graph(
        g.nodes,
        sequential.name,
        [
            helper.make_tensor_value_info(
                "input", TensorProto.INT64 if ids_input else TensorProto.FLOAT, _dims(tensor.shape)
            )
        ],
        [
            helper.make_tensor_value_info(
                "output", TensorProto.FLOAT, _dims(sequential.outputs[0].shape)
            )
        ],
        initializer=g.initializers,
    )
    opset_id = helper.make_opsetid("", opset)
    proto = helper.make_model(
        graph,
        opset_imports=[opset_id],
        ir_version=helper.find_min_ir_version_for([opset_id]),
        producer_name="rnnkit",
    )
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        _write_atomic(Path(path), proto.SerializeToString())
    return proto


def _dims(shape: tuple[int | None, ...]) -> list[Any]:
    """A batch-first shape for ONNX: the batch axis "batch", an unknown time axis "time"."""
    names = ["batch", "time"] + [None] * (len(shape) - 2)
    return [names[i] if i == 0 or s is None else s for i, s in enumerate(shape)]


def _as_sequential(model: rk.Layer) -> Sequential:
    if isinstance(model, Sequential):
        if not model.built:
            model.build()
        return model
    if isinstance(model, Model):
        raise TypeError("export_onnx: functional Models are not supported (use a Sequential)")
    if isinstance(model, rk.Layer):
        if not model.built or model._built_input_shapes is None:
            raise ValueError(f"export_onnx: {model.name} is not built (call it on data first)")
        shape = model._built_input_shapes[0]
        dtype = "int64" if isinstance(model, rk.Embedding) else None
        return Sequential([rk.Input(batch_shape=shape, dtype=dtype), model])
    raise TypeError(f"export_onnx: expected an rnnkit Sequential or layer, got {model!r}")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _State:
    """The tensor flowing between layers: its name, rank, layout, and sequence_lens (or None)."""

    def __init__(self, g: _Graph, x: str, rank: int) -> None:
        self.g = g
        self.x = x
        self.rank = rank
        self.time_major = False
        self.lens: str | None = None


def _export_layer(state: _State, layer: rk.Layer, assume_post_padding: bool) -> None:
    g = state.g
    if isinstance(layer, rk.Embedding):
        if layer.mask_zero:
            if not assume_post_padding:
                raise ValueError(
                    f"export_onnx: {layer.name} has mask_zero=True; ONNX expresses a mask only "
                    f"as sequence lengths, which equal it only for post-padded ids. If every "
                    f"input will be post-padded, pass assume_post_padding=True"
                )
            is_zero = g.op("Equal", ["input", g.const(0, "zero", np.int64)])
            nonzero = g.op("Cast", [g.op("Not", [is_zero])], to=TensorProto.INT32)
            state.lens = g.reduce("ReduceSum", nonzero, [1])
        state.x = g.op("Gather", [g.const(layer.embeddings, "embeddings"), state.x], axis=0)
        state.rank = 3
    elif isinstance(layer, rk.Dense):
        state.x = g.op("MatMul", [state.x, g.const(layer.kernel, "kernel")])
        if layer.use_bias:
            state.x = g.op("Add", [state.x, g.const(layer.bias, "bias")])
        state.x = _activation(g, state.x, layer.activation.name, layer.name)
    elif isinstance(layer, rk.TimeDistributed) and isinstance(layer.layer, rk.Dense):
        _export_layer(state, layer.layer, assume_post_padding)
    elif isinstance(layer, rk.Activation):
        state.x = _activation(g, state.x, layer.activation.name, layer.name)
    elif isinstance(layer, rk.Dropout):
        pass
    elif isinstance(layer, (rk.Recurrent, rk.Bidirectional)):
        _export_recurrent(state, layer)
    elif isinstance(layer, rk.Masking):
        raise ValueError(  # noqa: TRY004 - a mask ONNX cannot express (DESIGN.md section 6)
            f"export_onnx: {layer.name}: Masking (value-based masks) has no ONNX export; use "
            f"Embedding(mask_zero=True) with post-padded ids"
        )
    else:
        raise TypeError(f"export_onnx: no ONNX export for {type(layer).__name__} ({layer.name})")


def _activation(g: _Graph, x: str, name: str, owner: str) -> str:
    if name == "linear":
        return x
    if name == "swish":
        return g.op("Mul", [x, g.op("Sigmoid", [x])])
    if name not in _ACTIVATIONS:
        raise ValueError(f"export_onnx: {owner}: activation {name!r} has no ONNX export here")
    op_type, attrs = _ACTIVATIONS[name]
    y: str = g.op(op_type, [x], **attrs)
    return y


# ---- recurrent layers ----------------------------------------------------------------------------


def _onnx_weights(cell: rk.Recurrent) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One direction's ONNX weights: W (G*H, I), R (G*H, H), B (2*G*H,) = [Wb; Rb] or None."""
    h = cell.units
    kernel, recurrent = cell.kernel.T, cell.recurrent_kernel.T  # (G*H, I), (G*H, H)
    if isinstance(cell, rk.LSTM):  # Keras i, f, c, o -> ONNX i, o, f, c
        order = np.r_[0:h, 3 * h : 4 * h, h : 2 * h, 2 * h : 3 * h]
        kernel, recurrent = kernel[order], recurrent[order]
        bias = None if cell.bias is None else cell.bias[order]
    else:  # SimpleRNN, and GRU whose Keras order z, r, h is ONNX's
        bias = cell.bias
    if bias is None:
        return kernel, recurrent, None
    if bias.ndim == 2:  # GRU reset_after: [input bias; recurrent bias]
        return kernel, recurrent, bias.reshape(-1)
    return kernel, recurrent, np.concatenate([bias, np.zeros_like(bias)])


def _directions(layer: _RecurrentLayer) -> tuple[list[rk.Recurrent], str]:
    if isinstance(layer, rk.Bidirectional):
        if layer.merge_mode is None:
            raise ValueError(f"export_onnx: {layer.name} has merge_mode=None (two outputs)")
        fwd, bwd = layer.forward_layer, layer.backward_layer
        if fwd.go_backwards or not bwd.go_backwards or type(fwd) is not type(bwd):
            raise ValueError(
                f"export_onnx: {layer.name}: ONNX's bidirectional operators need a forward "
                f"layer and a go_backwards copy of the same kind"
            )
        return [fwd, bwd], "bidirectional"
    return [layer], "reverse" if layer.go_backwards else "forward"


def _export_recurrent(state: _State, layer: _RecurrentLayer) -> None:
    g = state.g
    cells, direction = _directions(layer)
    first = cells[0]
    for cell in cells:
        if cell.stateful or cell.return_state:
            raise ValueError(
                f"export_onnx: {layer.name}: stateful and return_state layers have no export"
            )
        if state.lens is not None and cell.zero_output_for_mask and not cell.return_sequences:
            raise ValueError(
                f"export_onnx: {layer.name}: zero_output_for_mask with return_sequences=False "
                f"and a mask has no export"
            )
    masked = state.lens is not None
    if masked and direction == "reverse" and first.return_sequences:
        raise ValueError(
            f"export_onnx: {layer.name}: go_backwards with a mask and return_sequences has no "
            f"export"
        )
    weights = [_onnx_weights(cell) for cell in cells]
    w = g.const(np.stack([a for a, _, _ in weights]), "W")
    r = g.const(np.stack([b for _, b, _ in weights]), "R")
    b = (
        g.const(np.stack([cast(np.ndarray, c) for _, _, c in weights]), "B")  # set: use_bias
        if first.use_bias
        else ""
    )
    attrs: dict[str, Any] = {"hidden_size": first.units, "direction": direction}
    if isinstance(first, rk.SimpleRNN):
        attrs["activations"] = [_RNN_ACTIVATIONS[c.activation] for c in cells]
    if isinstance(first, rk.GRU):
        attrs["linear_before_reset"] = int(first.reset_after)
    inputs = [state.x, w, r, b, state.lens or ""]
    outputs = 3 if isinstance(first, rk.LSTM) else 2
    y, y_h = g.op(_OP[type(first)], inputs, outputs=outputs, **attrs)[:2]
    merge = layer.merge_mode if isinstance(layer, rk.Bidirectional) else None
    if first.return_sequences:  # y (T, D, B, H)
        if merge is None:
            y = g.op("Squeeze", [y, g.ints([1])])
            if direction == "reverse":  # go_backwards returns the outputs in processing order
                y = g.op("Slice", [y, g.ints([-1]), g.ints([-(2**62)]), g.ints([0]), g.ints([-1])])
            elif masked and not first.zero_output_for_mask:
                y = _repeat_last_valid(g, y, cast(str, state.lens))  # masked
        state.x = _merge(g, y, merge, direction_axis=1)
        state.rank = 3
    else:  # y_h (D, B, H)
        if merge is None:
            state.x = g.op("Squeeze", [y_h, g.ints([0])])
        else:
            state.x = _merge(g, y_h, merge, direction_axis=0)
        state.rank = 2
        state.time_major = False
        state.lens = None


def _merge(g: _Graph, y: str, merge: str | None, direction_axis: int) -> str:
    """Bidirectional's merge of the direction axis of y (.., D, B, H) into (.., B, H')."""
    if merge is None:
        return y
    if merge == "concat":
        perm = [0, 2, 1, 3] if direction_axis == 1 else [1, 0, 2]
        shape = [0, 0, -1] if direction_axis == 1 else [0, -1]
        return g.op("Reshape", [g.op("Transpose", [y], perm=perm), g.ints(shape, "shape")])
    op_type = {"sum": "ReduceSum", "ave": "ReduceMean", "mul": "ReduceProd"}[merge]
    return g.reduce(op_type, y, [direction_axis])


def _repeat_last_valid(g: _Graph, y: str, lens: str) -> str:
    """Keras's masked outputs from ONNX's zero-filled ones: y (T, B, H), row t of sequence b
    taken from step min(t, lens[b] - 1) (clamped to 0: an empty sequence stays zero)."""
    shape = g.op("Shape", [y])
    steps = g.op("Gather", [shape, g.const(0, "zero", np.int64)], axis=0)
    t = g.op("Range", [g.const(0, "zero", np.int64), steps, g.const(1, "one", np.int64)])
    last = g.op("Sub", [g.op("Cast", [lens], to=TensorProto.INT64), g.const(1, "one", np.int64)])
    index = g.op(
        "Min", [g.op("Unsqueeze", [t, g.ints([1])]), g.op("Unsqueeze", [last, g.ints([0])])]
    )
    index = g.op("Max", [index, g.const(0, "zero", np.int64)])
    index = g.op("Expand", [g.op("Unsqueeze", [index, g.ints([2])]), shape])
    return g.op("GatherElements", [y, index], axis=0)
