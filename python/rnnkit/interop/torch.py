"""PyTorch interop: :func:`from_torch` and :func:`to_torch` (docs/interop.md).

PyTorch's recurrent modules hold the kernels' layout (DESIGN.md section 2): ``weight_ih_l{k}``
(G*H, I), ``weight_hh_l{k}`` (G*H, H) and two biases ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G*H,),
``_reverse`` for the second direction; gate orders LSTM i, f, g, o and GRU r, z, n. rnnkit layers
hold Keras's: ``kernel`` (I, G*H), ``recurrent_kernel`` (H, G*H), one ``bias`` (G*H,) for
SimpleRNN/LSTM (torch's two summed: they only ever appear summed) and ``bias`` (2, 3H) = [input
bias; recurrent bias] for GRU (reset_after=True, the only GRU torch has), gates z, r, h.
"""

from __future__ import annotations

from typing import Any, Callable, Union, cast, overload

import numpy as np
import torch
from torch import nn

from rnnkit import backend
from rnnkit import layers as rk
from rnnkit.models import Model, Sequential

# A layer torch expresses as one recurrent module: one direction, or both.
_RecurrentLayer = Union[rk.Recurrent, rk.Bidirectional]

_MODES = {  # torch RNNBase.mode -> (rnnkit class, SimpleRNN activation)
    "RNN_TANH": (rk.SimpleRNN, "tanh"),
    "RNN_RELU": (rk.SimpleRNN, "relu"),
    "LSTM": (rk.LSTM, None),
    "GRU": (rk.GRU, None),
}
_TORCH_RNN: dict[type[rk.Recurrent], type[nn.RNNBase]] = {
    rk.SimpleRNN: nn.RNN,
    rk.LSTM: nn.LSTM,
    rk.GRU: nn.GRU,
}

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {  # rnnkit name -> torch module factory
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softmax": lambda: nn.Softmax(dim=-1),
    "elu": nn.ELU,
    "selu": nn.SELU,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "swish": nn.SiLU,
}
_ACTIVATION_NAMES: dict[type[nn.Module], str] = {
    nn.ReLU: "relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.SELU: "selu",
    nn.Softsign: "softsign",
    nn.SiLU: "swish",
}


def _gru_perm(units: int) -> np.ndarray:
    """Keras (z, r, h) <-> torch (r, z, n): swap the first two blocks (its own inverse)."""
    perm: np.ndarray = np.r_[units : 2 * units, 0:units, 2 * units : 3 * units]
    return perm


@overload
def _numpy(t: torch.Tensor) -> np.ndarray: ...
@overload
def _numpy(t: None) -> None: ...
def _numpy(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy().astype(backend.floatx())


# ---- weights: torch layout <-> Keras layout ------------------------------------------------------


def keras_weights_from_torch(
    cls: type, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray | None, b_hh: np.ndarray | None
) -> list[np.ndarray]:
    """One direction's torch weights -> [kernel, recurrent_kernel, (bias)] in Keras layout.

    w_ih (G*H, I), w_hh (G*H, H), b_ih and b_hh (G*H,) or None -> kernel (I, G*H),
    recurrent_kernel (H, G*H), bias (G*H,) (the sum b_ih + b_hh) or, for GRU, (2, 3H).
    """
    if cls is rk.GRU:
        p = _gru_perm(w_hh.shape[1])
        out = [w_ih[p].T, w_hh[p].T]
        if b_ih is not None:  # torch has both biases or neither
            out.append(np.stack([b_ih[p], cast(np.ndarray, b_hh)[p]]))
    else:
        out = [w_ih.T, w_hh.T]
        if b_ih is not None:
            out.append(b_ih + cast(np.ndarray, b_hh))
    return [np.ascontiguousarray(a) for a in out]


def torch_weights_from_keras(layer: rk.Recurrent) -> list[np.ndarray | None]:
    """One rnnkit recurrent layer's weights -> [w_ih, w_hh, b_ih, b_hh] in torch layout.

    SimpleRNN/LSTM's one bias becomes b_ih, with b_hh zero (so that converting back, which sums
    them, gives the bias exactly).
    """
    if isinstance(layer, rk.GRU):
        if not layer.reset_after:
            raise ValueError(
                f"to_torch: {layer.name} is a GRU with reset_after=False; torch's nn.GRU only "
                f"has reset_after=True (the reset gate applied after the recurrent product)"
            )
        p = _gru_perm(layer.units)
        w_ih, w_hh = layer.kernel[:, p].T, layer.recurrent_kernel[:, p].T
        if layer.bias is None:
            return [w_ih, w_hh, None, None]
        return [w_ih, w_hh, layer.bias[0, p], layer.bias[1, p]]
    w_ih, w_hh = layer.kernel.T, layer.recurrent_kernel.T
    if layer.bias is None:
        return [w_ih, w_hh, None, None]
    return [w_ih, w_hh, layer.bias, np.zeros_like(layer.bias)]


# ---- from_torch ----------------------------------------------------------------------------------


def from_torch(module: nn.Module, *, return_state: bool = False) -> rk.Layer:
    """An rnnkit layer (or model) computing what the torch ``module`` computes, same weights.

    Supported: ``nn.RNN`` (tanh or relu), ``nn.LSTM`` (no ``proj_size``), ``nn.GRU`` (any
    ``num_layers``, ``bidirectional``, ``batch_first``, ``bias``), ``nn.Embedding``,
    ``nn.Linear``, ``nn.Dropout``, the activations ``nn.ReLU``/``Tanh``/``Sigmoid``/
    ``Softmax(dim=-1)``/``ELU``/``SELU``/``Softplus``/``Softsign``/``SiLU``, and
    ``nn.Sequential`` of those (a recurrent module inside contributes its output sequence).

    A recurrent module becomes one rnnkit layer (one layer, one direction), a
    :class:`~rnnkit.layers.Bidirectional` (one layer, two directions, merge "concat"), or a
    :class:`~rnnkit.Sequential` of them (``num_layers`` > 1, with ``Dropout`` layers between
    when the module has ``dropout``), always with ``return_sequences=True``: for x (B, T, I),
    ``layer(x)`` equals ``module(x)[0]`` of a ``batch_first=True`` module, or
    ``module(x.transpose(1, 0, 2))[0].transpose(1, 0, 2)`` of a time-major one (rnnkit is always
    batch-first: transpose yourself).

    With ``return_state=True`` a call returns ``[y, *h, *c]``: one (B, H) state per
    layer and direction in torch's order (index ``layer * num_directions + direction``), the
    ``h`` states first, then (LSTM) the ``c`` states, so that ``np.stack(h)`` is torch's h_n
    (num_layers * num_directions, B, H) and ``np.stack(c)`` its c_n. (One layer, one direction:
    the recurrent layer itself with ``return_state=True``; otherwise a functional
    :class:`~rnnkit.Model`.)

    Raises:
        TypeError: a module of a type not listed above.
        ValueError: an option rnnkit cannot express (LSTM ``proj_size``, ``nn.Embedding``
            ``max_norm``, ``nn.Softmax`` over another axis, ``return_state`` on a non-recurrent
            module).
    """
    if isinstance(module, nn.RNNBase):
        return _from_torch_rnn(module, return_state)
    if return_state:
        raise ValueError(
            f"from_torch: return_state=True is for nn.RNN/LSTM/GRU, got {type(module).__name__}"
        )
    if isinstance(module, nn.Sequential):
        return _from_torch_sequential(module)
    return _from_torch_simple(module)


def _from_torch_simple(module: nn.Module) -> rk.Layer:
    if isinstance(module, nn.Linear):
        layer: rk.Layer = rk.Dense(module.out_features, use_bias=module.bias is not None)
        layer.build([(None, module.in_features)])
        weights = [_numpy(module.weight).T]
        if module.bias is not None:
            weights.append(_numpy(module.bias))
        layer.set_weights(weights)
        return layer
    if isinstance(module, nn.Embedding):
        if module.max_norm is not None:
            raise ValueError(
                "from_torch: nn.Embedding(max_norm=...) renormalizes rows at lookup; rnnkit's "
                "Embedding has no max_norm"
            )
        layer = rk.Embedding(module.num_embeddings, module.embedding_dim)
        layer.build([(None, None)])
        layer.set_weights([_numpy(module.weight)])
        return layer
    if isinstance(module, nn.Dropout):
        return rk.Dropout(module.p)
    if isinstance(module, nn.Softmax):
        if module.dim not in (-1, None):
            raise ValueError(
                f"from_torch: nn.Softmax(dim={module.dim}) is not over the last axis; rnnkit's "
                f"softmax is (use dim=-1)"
            )
        return rk.Activation("softmax")
    if isinstance(module, nn.ELU) and module.alpha == 1.0:
        return rk.Activation("elu")
    if isinstance(module, nn.Softplus) and module.beta == 1.0:
        return rk.Activation("softplus")
    name = _ACTIVATION_NAMES.get(type(module))
    if name is not None:
        return rk.Activation(name)
    raise TypeError(
        f"from_torch: unsupported module {type(module).__name__} (supported: nn.RNN, nn.LSTM, "
        f"nn.GRU, nn.Embedding, nn.Linear, nn.Dropout, activations, nn.Sequential of those)"
    )


def _from_torch_sequential(module: nn.Sequential) -> Sequential:
    layers: list[rk.Layer | rk.SymbolicTensor] = []
    for child in module:
        converted = from_torch(child)
        layers.extend(converted.layers if isinstance(converted, Sequential) else [converted])
    first = module[0] if len(module) else None
    if isinstance(first, nn.Embedding):
        layers.insert(0, rk.Input((None,), dtype="int64"))
    elif isinstance(first, nn.RNNBase):
        layers.insert(0, rk.Input((None, first.input_size)))
    return Sequential(layers)


def _rnn_layers(module: nn.RNNBase, return_state: bool) -> list[rk.Layer]:
    """One built rnnkit layer (plain or Bidirectional) per torch layer, weights set."""
    if getattr(module, "proj_size", 0):
        raise ValueError("from_torch: nn.LSTM with proj_size > 0 has no rnnkit equivalent")
    cls, activation = _MODES[module.mode]
    options: dict[str, Any] = {"use_bias": module.bias, "return_sequences": True}
    options["return_state"] = return_state
    if activation is not None:
        options["activation"] = activation
    if cls is rk.GRU:
        options["reset_after"] = True
    directions = 2 if module.bidirectional else 1
    out = []
    for k in range(module.num_layers):
        features = module.input_size if k == 0 else module.hidden_size * directions
        cell = cls(module.hidden_size, **options)
        layer = rk.Bidirectional(cell) if directions == 2 else cell
        layer.build([(None, None, features)])
        weights = []
        for suffix in ("", "_reverse")[:directions]:
            names = [f"{w}_l{k}{suffix}" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            # w_ih, w_hh, then b_ih, b_hh or (bias=False) None: one list holds both kinds.
            arrays: list[Any] = [_numpy(getattr(module, n, None)) for n in names]
            weights += keras_weights_from_torch(cls, *arrays)
        layer.set_weights(weights)
        out.append(layer)
    return out


def _from_torch_rnn(module: nn.RNNBase, return_state: bool) -> rk.Layer:
    layers = _rnn_layers(module, return_state)
    directions = 2 if module.bidirectional else 1
    if len(layers) == 1 and (directions == 1 or not return_state):
        return layers[0]
    x = rk.Input((None, module.input_size))
    if not return_state:
        stack: list[Any] = [x]
        for k, layer in enumerate(layers):
            if k and module.dropout:
                stack.append(rk.Dropout(module.dropout))
            stack.append(layer)
        return Sequential(stack)
    per_direction = 2 if module.mode == "LSTM" else 1
    h_states, c_states = [], []
    y = x
    for k, layer in enumerate(layers):
        if k and module.dropout:
            y = rk.Dropout(module.dropout)(y)
        y, *states = layer(y)
        for d in range(directions):
            h_states.append(states[d * per_direction])
            c_states += states[d * per_direction + 1 : (d + 1) * per_direction]
    return Model(x, [y, *h_states, *c_states])


# ---- to_torch ------------------------------------------------------------------------------------


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float32))


def _recurrent_parts(layer: _RecurrentLayer) -> tuple[list[rk.Recurrent], bool]:
    """The directions of a recurrent layer (forward first) and whether it is bidirectional."""
    if isinstance(layer, rk.Bidirectional):
        fwd, bwd = layer.forward_layer, layer.backward_layer
        if (
            layer.merge_mode != "concat"
            or fwd.go_backwards
            or fwd.get_config()
            != {
                **bwd.get_config(),
                "go_backwards": False,
                "name": fwd.name,
            }
        ):
            raise ValueError(
                f"to_torch: {layer.name}: torch's bidirectional modules concatenate a forward "
                f"and a backward copy of one configuration (merge_mode='concat')"
            )
        return [fwd, bwd], True
    if layer.go_backwards:
        raise ValueError(f"to_torch: {layer.name} has go_backwards=True; torch has no such option")
    return [layer], False


def _torch_rnn(group: list[_RecurrentLayer], dropout: float) -> nn.RNNBase:
    """One torch module for consecutive compatible recurrent layers (stacked as num_layers)."""
    first = group[0]
    directions, bidirectional = _recurrent_parts(first)
    cell = directions[0]
    if not cell.built:
        raise ValueError(f"to_torch: {first.name} is not built (call it or build the model)")
    if cell.stateful:
        raise ValueError(f"to_torch: {first.name} is stateful; torch modules carry no state")
    options: dict[str, Any] = {}
    if isinstance(cell, rk.SimpleRNN):
        options["nonlinearity"] = cell.activation
    module = _TORCH_RNN[type(cell)](
        cell.kernel.shape[0],
        cell.units,
        num_layers=len(group),
        bias=cell.use_bias,
        batch_first=True,
        dropout=dropout,
        bidirectional=bidirectional,
        **options,
    )
    with torch.no_grad():
        for k, layer in enumerate(group):
            for d, part in enumerate(_recurrent_parts(layer)[0]):
                suffix = "_reverse" if d else ""
                names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                for name, value in zip(names, torch_weights_from_keras(part)):
                    if value is not None:
                        getattr(module, f"{name}_l{k}{suffix}").copy_(_tensor(value))
    return module


def _stackable(previous: _RecurrentLayer, layer: rk.Layer) -> bool:
    """Whether ``layer`` can be the next torch layer of the module that ends with ``previous``."""
    if not isinstance(layer, (rk.Recurrent, rk.Bidirectional)) or type(layer) is not type(previous):
        return False
    a, b = _recurrent_parts(previous)[0][0], _recurrent_parts(layer)[0][0]
    same = ("units", "use_bias", "activation", "stateful")
    return (
        type(a) is type(b)
        and a.return_sequences
        and all(getattr(a, s) == getattr(b, s) for s in same)
    )


class RnnkitModule(nn.Module):
    """A torch module that runs an rnnkit Sequential's layers in order (from :func:`to_torch`).

    Recurrent layers are ``nn.RNN``/``LSTM``/``GRU`` modules (batch-first, stacked where the
    model stacks compatible layers); a group whose last layer had ``return_sequences=False``
    keeps the last step (both directions' final outputs when bidirectional).
    """

    def __init__(self, steps: list[nn.Module], keep_last: list[bool]) -> None:
        super().__init__()
        self.steps = nn.ModuleList(steps)
        self.keep_last = list(keep_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step, keep_last in zip(self.steps, self.keep_last):
            if isinstance(step, nn.RNNBase):
                x = step(x)[0]
                if keep_last:
                    x = _last_output(x, step)
            else:
                x = step(x)
        return x


def _last_output(y: torch.Tensor, module: nn.RNNBase) -> torch.Tensor:
    """Keras's return_sequences=False output from a batch-first output sequence y (B, T, D*H)."""
    if not module.bidirectional:
        return y[:, -1]
    h = module.hidden_size
    return torch.cat([y[:, -1, :h], y[:, 0, h:]], dim=-1)


def _module_for(layer: rk.Layer) -> nn.Module | None:
    """A torch module for one non-recurrent rnnkit layer (None: nothing to compute)."""
    if isinstance(layer, rk.InputLayer):
        return None
    if isinstance(layer, rk.Dense):
        if not layer.built:
            raise ValueError(f"to_torch: {layer.name} is not built (call it or build the model)")
        linear = nn.Linear(layer.kernel.shape[0], layer.units, bias=layer.use_bias)
        with torch.no_grad():
            linear.weight.copy_(_tensor(layer.kernel.T))
            if layer.use_bias:
                assert layer.bias is not None  # built with use_bias
                linear.bias.copy_(_tensor(layer.bias))
        activation = _activation_module(layer.activation.name, layer.name)
        return linear if activation is None else nn.Sequential(linear, activation)
    if isinstance(layer, rk.Embedding):
        if not layer.built:
            raise ValueError(f"to_torch: {layer.name} is not built (call it or build the model)")
        embedding = nn.Embedding(layer.input_dim, layer.output_dim)
        with torch.no_grad():
            embedding.weight.copy_(_tensor(layer.embeddings))
        return embedding
    if isinstance(layer, rk.Activation):
        return _activation_module(layer.activation.name, layer.name) or nn.Identity()
    if isinstance(layer, rk.Dropout):
        return nn.Dropout(layer.rate)
    raise TypeError(
        f"to_torch: unsupported layer {type(layer).__name__} ({layer.name}); supported: "
        f"SimpleRNN, LSTM, GRU, Bidirectional, Embedding, Dense, Activation, Dropout"
    )


def _activation_module(name: str, owner: str) -> nn.Module | None:
    if name == "linear":
        return None
    if name not in _ACTIVATIONS:
        raise ValueError(f"to_torch: {owner}: activation {name!r} has no torch module here")
    return _ACTIVATIONS[name]()


def to_torch(layer_or_model: rk.Layer) -> nn.Module:
    """A torch module computing what an rnnkit layer or Sequential computes, same weights.

    - SimpleRNN / LSTM / GRU (``reset_after=True``) -> ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``
      with ``batch_first=True``; Bidirectional (merge "concat") -> ``bidirectional=True``.
      torch returns ``(output, h_n)``/``(output, (h_n, c_n))`` whatever the layer's
      ``return_sequences`` / ``return_state``.
    - Embedding -> ``nn.Embedding``, Dense -> ``nn.Linear`` (followed by its activation in an
      ``nn.Sequential``), Activation, Dropout -> their torch modules.
    - A Sequential of recurrent layers that torch stacks (same class and options, optionally
      the same Dropout between them) -> one multi-layer module: the inverse of
      :func:`from_torch`. Any other Sequential -> a :class:`RnnkitModule` whose
      ``forward(x)`` returns ``model(x)``.

    SimpleRNN/LSTM's bias becomes ``bias_ih`` with ``bias_hh`` zero, so
    ``from_torch(to_torch(layer))`` has exactly the layer's weights.

    Raises:
        ValueError: what torch cannot express: GRU ``reset_after=False``, ``go_backwards``,
            ``stateful``, another Bidirectional ``merge_mode``, a masking Embedding
            (``mask_zero``) feeding recurrent layers, an unbuilt layer.
        TypeError: a layer type not listed above, or a functional Model.
    """
    if isinstance(layer_or_model, Sequential):
        return _sequential_to_torch(layer_or_model)
    if isinstance(layer_or_model, Model):
        raise TypeError("to_torch: functional Models are not supported (use a Sequential)")
    if isinstance(layer_or_model, (rk.Recurrent, rk.Bidirectional)):
        return _torch_rnn([layer_or_model], 0.0)
    module = _module_for(layer_or_model)
    if module is None:
        raise TypeError("to_torch: an InputLayer computes nothing")
    return module


def _sequential_to_torch(model: Sequential) -> nn.Module:
    layers = model.layers
    masked = False
    steps: list[nn.Module] = []
    keep_last: list[bool] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, rk.Embedding) and layer.mask_zero:
            masked = True
        if not isinstance(layer, (rk.Recurrent, rk.Bidirectional)):
            module = _module_for(layer)
            if module is not None:
                steps.append(module)
                keep_last.append(False)
            i += 1
            continue
        if masked:
            raise ValueError(
                f"to_torch: {layer.name} reads a mask (Embedding(mask_zero=True)); torch "
                f"modules have no masks (convert a model without mask_zero and pack padded "
                f"sequences in torch)"
            )
        group, dropout, i = _recurrent_group(layers, i)
        steps.append(_torch_rnn(group, dropout))
        keep_last.append(not group[-1].return_sequences)
    if len(steps) == 1 and isinstance(steps[0], nn.RNNBase) and not keep_last[0]:
        return steps[0]
    return RnnkitModule(steps, keep_last)


def _recurrent_group(
    layers: list[rk.Layer], start: int
) -> tuple[list[_RecurrentLayer], float, int]:
    """The longest run of layers from ``start`` (a recurrent one) that one torch module stacks,
    its dropout, and the index after it."""
    first = layers[start]
    assert isinstance(first, (rk.Recurrent, rk.Bidirectional))  # the caller checked
    group: list[_RecurrentLayer] = [first]
    dropout, i = 0.0, start + 1
    while i < len(layers):
        rate, nxt = 0.0, i
        between = layers[i]
        if isinstance(between, rk.Dropout):
            rate, nxt = between.rate, i + 1
        if nxt >= len(layers) or not _stackable(group[-1], layers[nxt]):
            break
        if len(group) > 1 and rate != dropout:
            break
        dropout = rate
        group.append(cast(_RecurrentLayer, layers[nxt]))  # _stackable checked its type
        i = nxt + 1
    for layer in group:
        if layer.return_state:
            raise ValueError(f"to_torch: {layer.name} has return_state=True (use a Sequential)")
    return group, dropout, i
