"""Batch inference over large data in Dask or Ray workers: ``model.predict`` per partition.

The model travels to the workers as its file bytes (``rnnkit.io.model_to_bytes``: weights and
architecture, no pickle) and each worker process loads it once, keyed by the bytes' SHA-256,
so thousands of partitions cost one load per worker, not one per partition.
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from rnnkit import _runtime, io
from rnnkit.distributed._mpi import check_positive, usable_cores

_loaded: dict[str, Any] = {}  # sha256 of model bytes -> model, once per worker process


def model_bytes(model: Any) -> bytes:
    """The model's file bytes without optimizer state (what a worker needs to predict)."""
    return io.model_to_bytes(model, include_optimizer=False)


def load_once(data: bytes) -> Any:
    """The model in ``data`` (from :func:`model_bytes`), loaded once per process."""
    key = hashlib.sha256(data).hexdigest()
    model = _loaded.get(key)
    if model is None:
        model = _loaded[key] = io._model_from_bytes(data)
    return model


class ModelPredictor:
    """A picklable ``model.predict`` that carries the model as file bytes.

    Called on an array (or a list of arrays, one per model input) it returns the predictions;
    called on a dict of columns (a Ray Data ``map_batches`` batch, ``batch_format="numpy"``)
    it reads ``input_column`` and returns the dict with ``output_column`` added. The model is
    loaded on the first call in each process, and ``threads`` (if given) sets rnnkit's thread
    count there.

        predictor = ModelPredictor(model, batch_size=64, threads=1)
        ds.map_batches(ModelPredictor, fn_constructor_args=(model_bytes(model),), ...)
    """

    def __init__(
        self,
        model: Any,
        batch_size: int = 32,
        threads: int | None = None,
        input_column: str = "x",
        output_column: str = "predictions",
    ) -> None:
        check_positive("batch_size", batch_size)
        check_positive("threads", threads, optional=True)
        if isinstance(model, (bytes, bytearray)):
            self.model_bytes = bytes(model)
        elif hasattr(model, "predict") and hasattr(model, "get_config"):
            self.model_bytes = model_bytes(model)
        else:
            raise TypeError(
                f"model must be a rnnkit model or its file bytes, got {type(model).__name__}"
            )
        self.batch_size = batch_size
        self.threads = threads
        self.input_column = input_column
        self.output_column = output_column

    def __call__(self, batch: Any) -> Any:
        if self.threads is not None:
            _runtime.set_num_threads(self.threads)
        model = load_once(self.model_bytes)
        if isinstance(batch, dict):
            if self.input_column not in batch:
                raise KeyError(
                    f"input_column {self.input_column!r} is not in the batch's columns "
                    f"{sorted(batch)}"
                )
            out = model.predict(batch[self.input_column], batch_size=self.batch_size, verbose=0)
            return {**batch, self.output_column: out}
        return model.predict(batch, batch_size=self.batch_size, verbose=0)


def _partition_bounds(n: int, partition_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + partition_size, n)) for start in range(0, n, partition_size)]


class _FileRows:
    """Rows ``[start, stop)`` of a whole-file ``np.memmap``, read by the worker itself: a task
    carries the file's name, not its data (the file must be visible to the workers)."""

    def __init__(self, array: np.memmap, start: int, stop: int) -> None:
        self.filename = str(array.filename)
        self.dtype = array.dtype.str
        self.shape = array.shape
        self.offset = int(array.offset)
        self.start, self.stop = start, stop

    def read(self) -> np.ndarray:
        rows = np.memmap(self.filename, self.dtype, "r", self.offset, self.shape)
        return np.array(rows[self.start : self.stop])


def _rows(array: Any, start: int, stop: int) -> Any:
    """What a task gets for rows [start, stop): a file reference for a memmap of a whole file
    (its buffer is the mmap itself, not a view of another memmap), else the rows."""
    whole_file = isinstance(array, np.memmap) and isinstance(
        getattr(array, "base", None), mmap.mmap
    )
    if whole_file and array.filename is not None and array.flags.c_contiguous:
        return _FileRows(array, start, stop)
    return np.asarray(array[start:stop])


def _threads_per_worker(client: Any) -> int:
    """Usable cores divided by the workers on the busiest host (at least 1)."""
    per_host: dict[str, int] = {}
    for address in client.nthreads():
        host = urlsplit(str(address)).hostname or str(address)
        per_host[host] = per_host.get(host, 0) + 1
    return max(1, usable_cores() // max(per_host.values(), default=1))


def predict_partitions(
    model: Any,
    x: Any,
    client: Any,
    *,
    batch_size: int = 32,
    partition_size: int | None = None,
    threads: int | None = None,
) -> Any:
    """``model.predict(x, batch_size=batch_size)`` computed in a Dask cluster's workers.

    ``x`` (an array, or a list of arrays for a multi-input model; anything sliceable along its
    first axis) is cut into partitions of ``partition_size`` examples
    (default: about four per worker), rounded up to a multiple of ``batch_size`` so that every
    ``predict`` call sees exactly the batches one ``model.predict`` over all of ``x`` would:
    the result equals it exactly. The model goes to every worker once as file bytes
    (``client.scatter(..., broadcast=True)``) and is loaded once per worker process; each
    worker sets rnnkit's threads to ``threads`` (default: this machine's usable cores divided
    by the workers per host). A ``np.memmap`` of a whole file is read by the workers: each
    task carries the file's name and its rows, not the data (the path must be readable on the
    workers); other inputs are sliced here and sent.

    Returns:
        The predictions in ``x``'s order: an array, or a list for several outputs.

    Raises:
        ValueError: a bad ``batch_size``, ``partition_size`` or ``threads``, or inputs with
            different lengths.
        TypeError: ``client`` is not a ``dask.distributed.Client``.
    """
    if not (hasattr(client, "scatter") and hasattr(client, "submit")):
        raise TypeError(
            f"client must be a dask.distributed.Client, got {type(client).__name__} "
            f"(pip install 'rnnkit[dist]')"
        )
    inputs = list(x) if isinstance(x, (list, tuple)) else [x]
    lengths = {len(a) for a in inputs}
    if len(lengths) != 1:
        raise ValueError(f"the inputs in x have different lengths: {sorted(lengths)}")
    n = lengths.pop()
    workers = max(1, len(client.nthreads()))
    if partition_size is None:
        partition_size = max(1, -(-n // (4 * workers)))
    check_positive("partition_size", partition_size)
    predictor = ModelPredictor(
        model,
        batch_size=batch_size,
        threads=threads if threads is not None else _threads_per_worker(client),
    )
    partition_size = -(-partition_size // batch_size) * batch_size
    if n == 0:
        empty = [np.asarray(a[:0]) for a in inputs]
        return load_once(predictor.model_bytes).predict(
            empty if len(empty) > 1 else empty[0], batch_size=batch_size, verbose=0
        )
    # hash=False: a fresh key per call. With the default content hash, a second call with the
    # same model reuses the key the first call's future is still releasing, and the scheduler
    # may drop the data under the new tasks ("lost dependencies", dask/distributed#3703).
    shipped = client.scatter(predictor, broadcast=True, hash=False)
    futures = []
    for start, stop in _partition_bounds(n, partition_size):
        part = [_rows(a, start, stop) for a in inputs]
        futures.append(client.submit(_predict, shipped, part, pure=False))
    parts = client.gather(futures)
    if isinstance(parts[0], list):
        return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
    return np.concatenate(parts)


def _predict(predictor: ModelPredictor, part: Sequence[Any]) -> Any:
    arrays = [p.read() if isinstance(p, _FileRows) else p for p in part]
    return predictor(arrays if len(arrays) > 1 else arrays[0])
