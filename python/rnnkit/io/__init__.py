"""Model files, weights files and training checkpoints (the format: docs/files.md).

Every rnnkit file is a safetensors file whose ``__metadata__["rnnkit"]`` holds one JSON document:
the format name and version, the rnnkit version, what the file holds ("model", "weights" or
"checkpoint"), the architecture (``get_config`` of the model, layers by registered class name),
the compile settings, an attached tokenizer, training state for checkpoints, and the sha256 of
the tensors. Loading reads JSON and raw little-endian arrays only: no pickle, no import, no
code from the file runs. Layer class names resolve through rnnkit's layer registry (and the
caller's ``custom_objects``).

    model.save("m.rnnkit", tokenizer=tok)         # or rnnkit.io.save_model(model, path)
    model = rnnkit.load_model("m.rnnkit")         # model.tokenizer is tok again
    model.save_weights("w.rnnkit"); other.load_weights("w.rnnkit")
    model.save_checkpoint("ck.rnnkit")            # + optimizer slots, epoch, RNG, callbacks
    model.fit(x, y, epochs=10, resume_from="ck.rnnkit")
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnkit import _random, backend
from rnnkit._version import __version__
from rnnkit.io._container import (
    DTYPE_NAMES,
    Container,
    encode,
    parse,
    read_file,
    tensors_sha256,
    write_atomic,
)

if TYPE_CHECKING:
    from rnnkit.models import Model

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "load_model",
    "load_weights",
    "read_metadata",
    "save_checkpoint",
    "save_model",
    "save_weights",
]

FORMAT_NAME = "rnnkit"
#: The newest format this rnnkit writes and reads (it reads every older one too).
FORMAT_VERSION = 1
#: The ``__metadata__`` key holding the JSON document, and the one holding its sha256.
METADATA_KEY = "rnnkit"
METADATA_SHA256_KEY = "rnnkit_sha256"
_CONTENTS = ("model", "weights", "checkpoint")
_KERAS_SUFFIXES = (".h5", ".hdf5", ".keras")
_MODEL_CLASSES = ("Sequential", "Model", "Functional")


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def save_model(
    model: Model,
    filepath: str | os.PathLike[str],
    overwrite: bool = True,
    *,
    tokenizer: Any = None,
    include_optimizer: bool = True,
) -> None:
    """Write ``model`` (architecture, weights, compile settings, optimizer state, carried
    states of stateful layers, tokenizer) to ``filepath``, atomically.

    Args:
        model: an rnnkit Sequential or functional Model (built or not).
        filepath: any name; rnnkit's format is written whatever the extension (a ``.h5`` /
            ``.keras`` name gets a warning saying so).
        overwrite: False refuses to replace an existing file (``FileExistsError``).
        tokenizer: an :class:`rnnkit.text.Tokenizer` to attach; default ``model.tokenizer``.
        include_optimizer: also save the optimizer's slots and step (Keras's default).

    Raises:
        OSError: the file cannot be written (missing folder, a directory, ...).
    """
    _warn_keras_suffix(filepath, "save")
    data = model_to_bytes(model, tokenizer=tokenizer, include_optimizer=include_optimizer)
    write_atomic(filepath, data, overwrite)


def model_to_bytes(model: Model, *, tokenizer: Any = None, include_optimizer: bool = True) -> bytes:
    """The bytes :func:`save_model` writes (what ``pickle``/``deepcopy`` of a model carry)."""
    document, tensors = _model_document(model, "model", tokenizer, include_optimizer)
    return _encode(document, tensors)


def save_weights(model: Model, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
    """Write the weights only (with their names), as Keras's ``save_weights``; atomic.

    Read them with :func:`load_weights` into a model of the same architecture.
    """
    _warn_keras_suffix(filepath, "save_weights")
    weights, names = _model_weights(model)
    tensors = {_weight_key(i): w for i, w in enumerate(weights)}
    document = _header("weights")
    document["weights"] = names
    write_atomic(filepath, _encode(document, tensors), overwrite)


def save_checkpoint(
    model: Model,
    filepath: str | os.PathLike[str],
    *,
    epoch: int | None = None,
    callbacks: Any = None,
    overwrite: bool = True,
) -> None:
    """Write everything needed to resume training exactly: the model file's contents plus the
    optimizer's slots and step, the epoch, the RNG states and the callbacks' states.

    Args:
        model: a compiled model.
        filepath: where to write (atomically).
        epoch: epochs completed (the next ``fit`` resumes at this epoch); default: the number
            of epochs the model's last ``fit`` completed.
        callbacks: the callbacks whose state to keep (``get_state``); during ``fit`` the
            checkpointing callbacks pass fit's callbacks.
        overwrite: False refuses to replace an existing file.
    """
    document, tensors = _model_document(model, "checkpoint", None, True)
    if epoch is None:
        epoch = int(getattr(model, "_epochs_completed", 0))
    training: dict[str, Any] = {
        "epoch": int(epoch),
        "rng": _random.get_state(),
        "layer_rngs": _layer_rng_states(model),
    }
    callback_states: dict[str, Any] = {}
    for key, callback in _keyed_callbacks(callbacks):
        state = callback.get_state()
        if state:
            callback_states[key] = _split_arrays(state, f"callback/{key}", tensors)
    training["callbacks"] = callback_states
    document["training"] = training
    write_atomic(filepath, _encode(document, tensors), overwrite)


def _header(content: str) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "rnnkit_version": __version__,
        "content": content,
        "floatx": backend.floatx(),
    }


def _encode(document: dict[str, Any], tensors: dict[str, np.ndarray]) -> bytes:
    document["tensors_sha256"] = tensors_sha256(tensors)
    document["tensors"] = {name: _manifest_entry(a) for name, a in tensors.items()}
    text = json.dumps(document, sort_keys=True)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return encode(tensors, {METADATA_KEY: text, METADATA_SHA256_KEY: digest})


def _manifest_entry(array: np.ndarray) -> list[Any]:
    """[dtype name, shape]: the document lists every tensor, so the (checksummed) document
    also vouches for the safetensors table's names, dtypes and shapes."""
    return [DTYPE_NAMES[np.dtype(array.dtype).newbyteorder("<")], list(np.shape(array))]


def _weight_key(index: int) -> str:
    return f"weights/{index:06d}"


def _model_weights(model: Any) -> tuple[list[np.ndarray], list[str]]:
    """The weights and their names (an unbuilt Sequential has none yet)."""
    return list(model.weights), list(model.weight_names)


def _model_document(
    model: Any, content: str, tokenizer: Any, include_optimizer: bool
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from rnnkit.models import Model

    if not isinstance(model, Model):
        raise TypeError(f"expected an rnnkit Sequential or Model, got {type(model).__name__}")
    weights, names = _model_weights(model)
    tensors = {_weight_key(i): w for i, w in enumerate(weights)}
    document = _header(content)
    document["model"] = {"class_name": _class_name(model), "config": model.get_config()}
    document["weights"] = names
    document["compile"] = _compile_config(model)
    states = []
    for j, layer in enumerate(_stateful_layers(model)):
        for k, s in enumerate(layer.states or []):
            tensors[f"states/{j:04d}/{k}"] = s
        states.append(len(layer.states or []))
    document["states"] = states
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None and (optimizer.built or optimizer.iterations):
        for key, value in optimizer.get_state().items():
            tensors[f"optimizer/{key}"] = np.asarray(value)
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    document["tokenizer"] = None if tokenizer is None else _tokenizer_dict(tokenizer)
    return document, tensors


def _class_name(model: Any) -> str:
    from rnnkit.models import Sequential

    return "Sequential" if isinstance(model, Sequential) else "Model"


def _tokenizer_dict(tokenizer: Any) -> dict[str, Any]:
    from rnnkit.text import Tokenizer

    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(
            f"tokenizer must be an rnnkit.text.Tokenizer, got {type(tokenizer).__name__}"
        )
    return tokenizer.to_dict()


def _walk(layer: Any, seen: set[int] | None = None) -> list[Any]:
    """Every layer inside ``layer`` (wrapped and nested ones too), once each, in a fixed order."""
    seen = set() if seen is None else seen
    out = []
    for sub in layer._sublayers():
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        out.append(sub)
        out.extend(_walk(sub, seen))
    return out


def _stateful_layers(model: Any) -> list[Any]:
    from rnnkit.layers.recurrent import Recurrent

    return [layer for layer in _walk(model) if isinstance(layer, Recurrent) and layer.stateful]


def _layer_rng_states(model: Any) -> dict[str, Any]:
    """The own generators of layers given a ``seed`` (dropout masks), by walk index."""
    states = {}
    for i, layer in enumerate(_walk(model)):
        for attr in ("_rng", "_dropout_rng"):
            rng = getattr(layer, attr, None)
            if isinstance(rng, np.random.Generator):
                states[f"{i}/{attr}"] = rng.bit_generator.state
    return states


def _warn_keras_suffix(filepath: Any, what: str) -> None:
    name = os.fspath(filepath)
    if isinstance(name, str) and name.lower().endswith(_KERAS_SUFFIXES):
        warnings.warn(
            f"{what}({name!r}): rnnkit writes its own format (safetensors + JSON), not Keras's "
            f"HDF5 / .keras zip; read the file with rnnkit.load_model (or load_weights)",
            UserWarning,
            stacklevel=3,
        )


# ---- compile settings ---------------------------------------------------------------------------


def _compile_config(model: Any) -> dict[str, Any] | None:
    """compile()'s arguments as JSON, or None (not compiled, or a custom loss/metric)."""
    if not getattr(model, "compiled", False):
        return None
    from rnnkit import losses, metrics, optimizers

    config: dict[str, Any] = {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": [None if lo is None else losses.serialize(lo) for lo in model._losses],
        "loss_weights": list(model._loss_weights),
        "metrics": [],
    }
    for group in model._metrics:
        specs = []
        for metric in group:
            if type(metric).__name__ in metrics._CLASSES:
                specs.append({"class_name": type(metric).__name__, "config": metric.get_config()})
            elif metric.name in ("accuracy", "acc"):
                specs.append(metric.name)
            else:
                warnings.warn(
                    f"save: metric {metric.name!r} ({type(metric).__name__}) is not a built-in "
                    f"metric and is not saved; compile the loaded model again to use it",
                    UserWarning,
                    stacklevel=4,
                )
        config["metrics"].append(specs)
    return config


def _compile_from_config(
    model: Any, config: Any, where: str, custom_objects: dict[str, Any]
) -> None:
    from rnnkit import metrics, optimizers

    if not isinstance(config, dict):
        raise ValueError(f"{where} compile must be an object")  # noqa: TRY004 - a bad file
    try:
        optimizer = optimizers.deserialize(config["optimizer"])
        loss = [_loss_from_spec(spec, custom_objects) for spec in config["loss"]]
        specs = config["metrics"]
        made = [
            [
                spec
                if isinstance(spec, str)
                else metrics._CLASSES[spec["class_name"]].from_config(dict(spec["config"]))
                for spec in group
            ]
            for group in specs
        ]
        n_out = len(model.outputs)
        if len(loss) != n_out or len(made) != n_out:
            raise ValueError(f"compile settings are for {len(loss)} outputs, the model has {n_out}")
        model.compile(
            optimizer=optimizer,
            loss=loss[0] if n_out == 1 else loss,
            metrics=made[0] if n_out == 1 else made,
            loss_weights=list(config["loss_weights"]),
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ValueError(f"{where} bad compile settings: {exc}") from None


def _loss_from_spec(spec: Any, custom_objects: dict[str, Any]) -> Any:
    from rnnkit import losses

    if spec is None:
        return None
    cls = custom_objects.get(spec["class_name"])
    if cls is not None:
        return cls.from_config(dict(spec["config"]))
    return losses.deserialize(spec)


# ---- callbacks --------------------------------------------------------------------------------


def _keyed_callbacks(callbacks: Any) -> list[tuple[str, Any]]:
    """("<ClassName>/<n>", callback) for each callback with state (the n-th of its class)."""
    from rnnkit.callbacks import Callback, CallbackList, History, ProgbarLogger

    if isinstance(callbacks, CallbackList):
        callbacks = callbacks.callbacks
    counts: dict[str, int] = {}
    out = []
    for callback in callbacks or []:
        if not isinstance(callback, Callback) or isinstance(callback, (History, ProgbarLogger)):
            continue
        name = type(callback).__name__
        out.append((f"{name}/{counts.get(name, 0)}", callback))
        counts[name] = counts.get(name, 0) + 1
    return out


def _split_arrays(value: Any, prefix: str, tensors: dict[str, np.ndarray]) -> Any:
    """``value`` as JSON, its arrays moved into ``tensors`` (replaced by {"__tensor__": key})."""
    if isinstance(value, np.ndarray):
        tensors[prefix] = value
        return {"__tensor__": prefix}
    if isinstance(value, dict):
        return {str(k): _split_arrays(v, f"{prefix}/{k}", tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split_arrays(v, f"{prefix}/{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _join_arrays(value: Any, container: Container, where: str) -> Any:
    """The inverse of :func:`_split_arrays`."""
    if isinstance(value, dict):
        if set(value) == {"__tensor__"}:
            key = value["__tensor__"]
            if not isinstance(key, str) or key not in container.entries:
                raise ValueError(f"{where} refers to a missing tensor {key!r}")
            return container.array(key)
        return {k: _join_arrays(v, container, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_join_arrays(v, container, where) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass
class _File:
    """A validated rnnkit file: its JSON document and tensors."""

    document: dict[str, Any]
    container: Container
    where: str

    def tensor(self, key: str) -> np.ndarray:
        if key not in self.container.entries:
            raise ValueError(f"{self.where} tensor {key!r} is missing; corrupted file")
        return self.container.array(key)


def _open(source: str | os.PathLike[str] | bytes, where: str) -> _File:
    """Read and validate a file (or its bytes): container, metadata, version, checksum."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        where = f"{where} {os.fspath(source)!r}:"
        data = read_file(source)
    container = parse(data, where)
    text = container.metadata.get(METADATA_KEY)
    if text is None:
        raise ValueError(
            f"{where} a safetensors file without rnnkit metadata (not written by rnnkit); "
            f"load foreign weights with rnnkit.interop"
        )
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{where} the rnnkit metadata is not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise ValueError(f"{where} the metadata does not describe an rnnkit file")
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{where} format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{where} the file has format version {version} (written by rnnkit "
            f"{document.get('rnnkit_version')!s}); this rnnkit {__version__} reads format "
            f"versions up to {FORMAT_VERSION}: upgrade rnnkit"
        )
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    if container.metadata.get(METADATA_SHA256_KEY) != digest:
        raise ValueError(
            f"{where} checksum mismatch: the rnnkit metadata does not match its sha256 (the "
            f"file is corrupted)"
        )
    if document.get("content") not in _CONTENTS:
        raise ValueError(f"{where} unknown content {document.get('content')!r}")
    manifest = {
        name: [DTYPE_NAMES[entry.dtype], list(entry.shape)]
        for name, entry in container.entries.items()
    }
    if manifest != document.get("tensors"):
        raise ValueError(
            f"{where} the tensors (names, dtypes, shapes) differ from those the metadata lists "
            f"(the file is corrupted)"
        )
    if container.sha256() != document.get("tensors_sha256"):
        raise ValueError(
            f"{where} checksum mismatch: the tensor data does not match its sha256 "
            f"(the file is corrupted)"
        )
    names = document.get("weights")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{where} 'weights' must be a list of names")
    return _File(document, container, where)


def read_metadata(filepath: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON document of an rnnkit file (validated, checksum verified), without building
    the model: format and rnnkit versions, content, architecture, tokenizer, ..."""
    return _open(filepath, "[read_metadata]").document


def load_model(
    filepath: str | os.PathLike[str],
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
) -> Model:
    """The model saved in ``filepath`` (a model file or a checkpoint), predicting bitwise as
    the saved one did; compiled as it was (optimizer state included) unless ``compile=False``.

    ``model.tokenizer`` is the attached tokenizer (or None).

    Raises:
        OSError: the file cannot be read (missing, a directory, ...).
        ValueError: not an rnnkit model file, corrupted (checksum mismatch), truncated,
            hostile, from a newer rnnkit, or an architecture that does not match its tensors.
    """
    return _load(_open(filepath, "[load_model]"), custom_objects, compile)


def _model_from_bytes(data: bytes) -> Model:
    """Rebuild a model from :func:`model_to_bytes` (the unpickling side of ``Model.__reduce__``)."""
    return _load(_open(data, "[load_model] (bytes):"), None, True)


def _load(file: _File, custom_objects: dict[str, Any] | None, compile: bool) -> Model:
    where, document = file.where, file.document
    if document["content"] == "weights":
        raise ValueError(
            f"{where} holds weights only; build the model and call model.load_weights(path)"
        )
    custom_objects = dict(custom_objects or {})
    model = _build_model(file, custom_objects)
    _assign_weights(model, file)
    _assign_states(model, file)
    if compile and document.get("compile") is not None:
        _compile_from_config(model, document["compile"], where, custom_objects)
        _assign_optimizer_state(model, file)
    tokenizer = document.get("tokenizer")
    if tokenizer is not None:
        from rnnkit.text import Tokenizer

        model.tokenizer = Tokenizer.from_dict(tokenizer)
    return model


def _build_model(file: _File, custom_objects: dict[str, Any]) -> Model:
    """The architecture, built with no more weight values than the file holds."""
    from rnnkit.layers.base import weight_budget
    from rnnkit.models import Model, Sequential

    where, spec = file.where, file.document.get("model")
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ValueError(  # noqa: TRY004 - a bad file
            f"{where} the architecture ('model') is missing or not an object"
        )
    class_name = spec.get("class_name")
    if class_name not in _MODEL_CLASSES:
        raise ValueError(
            f"{where} unknown model class {class_name!r} (expected one of {list(_MODEL_CLASSES)})"
        )
    cls = Sequential if class_name == "Sequential" else Model
    floatx = file.document.get("floatx", "float32")
    if floatx != backend.floatx():
        warnings.warn(
            f"{where} the model was saved with floatx {floatx!r}; it is loaded as "
            f"{backend.floatx()!r}",
            UserWarning,
            stacklevel=4,
        )
    budget = sum(
        int(np.prod(file.container.entries[_weight_key(i)].shape, dtype=np.int64))
        for i in range(len(file.document["weights"]))
        if _weight_key(i) in file.container.entries
    )
    token = weight_budget.set([budget])
    rng_state = _random.get_state()  # building initializes weights: keep the user's RNG as is
    try:
        return cls.from_config(spec["config"], custom_objects)
    except (
        KeyError,
        TypeError,
        ValueError,
        IndexError,
        AttributeError,
        OverflowError,
        RecursionError,
        MemoryError,
    ) as exc:
        raise ValueError(f"{where} bad architecture: {type(exc).__name__}: {exc}") from None
    finally:
        weight_budget.reset(token)
        _random.set_state(rng_state)


def _file_weights(model: Any, file: _File) -> list[np.ndarray]:
    """The file's weights checked against the model's (count, dtype, shape)."""
    where, names = file.where, file.document["weights"]
    targets = model.weights
    if len(names) != len(targets):
        raise ValueError(
            f"{where} the file has {len(names)} weight arrays, the model has {len(targets)}"
        )
    arrays = []
    for i, (name, target) in enumerate(zip(names, targets)):
        key = _weight_key(i)
        entry = file.container.entries.get(key)
        if entry is None:
            raise ValueError(f"{where} weight {i} ({name}) is missing from the tensors")
        if entry.dtype.kind != "f":
            raise ValueError(
                f"{where} weight {i} ({name}) has dtype {entry.dtype}, expected a float type"
            )
        if entry.shape != target.shape:
            raise ValueError(
                f"{where} weight {i} ({name}) has shape {entry.shape} in the file, the "
                f"architecture needs {target.shape}"
            )
        arrays.append(file.tensor(key))
    return arrays


def _assign_weights(model: Any, file: _File) -> None:
    arrays = _file_weights(model, file)
    for target, value in zip(model.weights, arrays):
        target[...] = value


def _assign_states(model: Any, file: _File) -> None:
    where, counts = file.where, file.document.get("states", [])
    layers = _stateful_layers(model)
    if not isinstance(counts, list) or len(counts) != len(layers):
        raise ValueError(
            f"{where} 'states' lists {len(counts) if isinstance(counts, list) else '?'} stateful "
            f"layers, the model has {len(layers)}"
        )
    for j, (layer, count) in enumerate(zip(layers, counts)):
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 2:
            raise ValueError(f"{where} bad state count {count!r} for {layer.name}")
        if count == 0:
            layer._states = None
            continue
        states = [file.tensor(f"states/{j:04d}/{k}") for k in range(count)]
        try:
            layer.reset_state(states)
        except ValueError as exc:
            raise ValueError(f"{where} bad states for {layer.name}: {exc}") from None


def _optimizer_state(file: _File) -> dict[str, np.ndarray] | None:
    keys = [k for k in file.container.entries if k.startswith("optimizer/")]
    if not keys:
        return None
    return {k.removeprefix("optimizer/"): file.tensor(k) for k in keys}


def _assign_optimizer_state(model: Any, file: _File) -> None:
    state = _optimizer_state(file)
    if state is None:
        return
    optimizer = model.optimizer
    if optimizer.built:
        expected = set(optimizer.get_state())
    else:
        slots = optimizer._slot_initial_values()
        expected = {"iterations"} | {f"{s}/{i}" for s in slots for i in range(len(model.weights))}
    if set(state) != expected:
        raise ValueError(
            f"{file.where} the optimizer state does not match {type(optimizer).__name__}'s slots"
        )
    weights = model.weights
    for key, value in state.items():
        if key == "iterations":
            if value.shape != () or value.dtype.kind != "i" or int(value) < 0:
                raise ValueError(f"{file.where} optimizer iterations must be an int64 scalar >= 0")
            continue
        index = int(key.split("/")[1])
        if value.shape != weights[index].shape or value.dtype.kind != "f":
            raise ValueError(
                f"{file.where} optimizer slot {key} has shape {value.shape} ({value.dtype}), "
                f"expected {weights[index].shape} (float)"
            )
    optimizer.set_state(state)


# ---- weights into an existing model --------------------------------------------------------------


def load_weights(model: Model, filepath: str | os.PathLike[str]) -> None:
    """Set ``model``'s weights from a weights, model or checkpoint file (matched by position,
    shapes checked; nothing is changed when anything does not match).

    Raises:
        OSError: the file cannot be read.
        ValueError: not an rnnkit file, corrupted, or weights that do not fit the model.
    """
    file = _open(filepath, "[load_weights]")
    if hasattr(model, "_ensure_graph"):
        model._ensure_graph()
    _assign_weights(model, file)


# ---- checkpoints into a model being trained ------------------------------------------------------


@dataclass
class TrainingState:
    """What a checkpoint restores besides the model: where training stopped and the states
    that make the next epochs bitwise what they would have been."""

    epoch: int
    rng: dict[str, Any]
    layer_rngs: dict[str, Any]
    callbacks: dict[str, Any]


def restore_checkpoint(model: Model, filepath: str | os.PathLike[str]) -> TrainingState:
    """Load a checkpoint into a compiled ``model`` of the same architecture: weights, carried
    states, the optimizer's slots, step and learning rate. Returns the training state that
    ``fit`` applies once its callbacks have started (see :func:`apply_training_state`).

    Raises:
        OSError: the file cannot be read.
        ValueError: not a checkpoint, corrupted, or for another architecture / optimizer.
    """
    file = _open(filepath, "[resume_from]")
    where, document = file.where, file.document
    training = document.get("training")
    if document["content"] != "checkpoint" or not isinstance(training, dict):
        raise ValueError(
            f"{where} is a {document['content']} file, not a checkpoint (write one with "
            f"model.save_checkpoint or BackupAndRestore)"
        )
    weights = _file_weights(model, file)
    state = _optimizer_state(file)
    compile_config = document.get("compile") or {}
    saved_optimizer = compile_config.get("optimizer") or {}
    optimizer = model.optimizer
    if state is not None and saved_optimizer.get("class_name") != type(optimizer).__name__:
        raise ValueError(
            f"{where} the checkpoint's optimizer is {saved_optimizer.get('class_name')!r}, the "
            f"model is compiled with {type(optimizer).__name__}"
        )
    epoch = training.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ValueError(f"{where} training epoch must be an int >= 0, got {epoch!r}")
    rng = training.get("rng")
    layer_rngs = training.get("layer_rngs") or {}
    callbacks = training.get("callbacks") or {}
    if not isinstance(rng, dict) or not isinstance(layer_rngs, dict):
        raise ValueError(f"{where} bad RNG state")  # noqa: TRY004 - a bad file
    if not isinstance(callbacks, dict):
        raise ValueError(f"{where} bad callback states")  # noqa: TRY004 - a bad file
    for target, value in zip(model.weights, weights):
        target[...] = value
    _assign_states(model, file)
    if state is not None:
        _assign_optimizer_state(model, file)
        lr = (saved_optimizer.get("config") or {}).get("learning_rate")
        if isinstance(lr, (int, float)) and optimizer.learning_rate_schedule is None:
            optimizer.learning_rate = lr
    callbacks = {k: _join_arrays(v, file.container, where) for k, v in callbacks.items()}
    return TrainingState(epoch, rng, layer_rngs, callbacks)


def apply_training_state(model: Any, state: TrainingState, callbacks: Any) -> None:
    """Restore the RNG states and the callbacks' states (after their ``on_train_begin``)."""
    try:
        _random.set_state(state.rng)
        layers = _walk(model)
        for key, value in state.layer_rngs.items():
            index, attr = key.split("/")
            if attr not in ("_rng", "_dropout_rng"):
                raise ValueError(f"unknown generator {key!r}")
            rng = getattr(layers[int(index)], attr)
            rng.bit_generator.state = value
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ValueError(f"[resume_from] bad RNG state in the checkpoint: {exc}") from None
    keyed = dict(_keyed_callbacks(callbacks))
    for key, value in state.callbacks.items():
        callback = keyed.get(key)
        if callback is None:
            warnings.warn(
                f"resume_from: the checkpoint has the state of callback {key}, which is not "
                f"among fit's callbacks; it is ignored",
                UserWarning,
                stacklevel=4,
            )
            continue
        try:
            callback.set_state(value)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"[resume_from] bad state for callback {key}: {exc!r}") from None
