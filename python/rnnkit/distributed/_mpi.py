"""Data-parallel training on MPI (mpi4py): one replica per rank, one Allreduce per step.

Every rank holds a replica of the model, computes the gradient of its shard of each global
batch with the same kernels, and one ``Allreduce`` over one flat contiguous buffer sums the
gradients, each multiplied by its rank's weight, together with the weights themselves and the
rank's loss; every rank then divides by the summed weight and applies the same update, so the
replicas stay bitwise identical.

The weight of a rank is what its loss divides by (losses.py, Keras's ``sum_over_batch_size``):
the number of unmasked loss elements of its shard -- examples, or unmasked tokens for a
masked sequence loss (``ignore_class`` labels excluded). A rank's gradient ``g_r`` is
``sum_r / n_r``, so ``sum(n_r * g_r) / sum(n_r)`` is exactly the gradient of the global batch,
however unevenly the batch was split. Sample weights do not change the divisor (Keras divides by
the count, not by the sum of weights), so they need no weighting of their own. A model with
several loss outputs is weighted by its examples per shard, exact when no mask reaches the
losses (each output's count is then examples times a constant); a loss with
``reduction="sum"`` is summed without division.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Callable

import numpy as np

from rnnkit import _random, _runtime, _version, callbacks, optimizers

INSTALL_HINT = "pip install 'rnnkit[dist]' (mpi4py and the mpich wheel)"

_hook_installed = False
_threads_set = False


def _mpi() -> Any:
    """The ``mpi4py.MPI`` module (initialises MPI on first import)."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            f"rnnkit.distributed needs mpi4py and an MPI library: {INSTALL_HINT}"
        ) from exc
    return MPI


def world(comm: Any = None) -> Any:
    """``comm``, or ``MPI.COMM_WORLD``: every process that ``mpiexec`` started."""
    return _mpi().COMM_WORLD if comm is None else comm


def rank(comm: Any = None) -> int:
    """This process's rank (0 without ``mpiexec``)."""
    return int(world(comm).Get_rank())


def size(comm: Any = None) -> int:
    """The number of ranks (1 without ``mpiexec``)."""
    return int(world(comm).Get_size())


def is_root(comm: Any = None) -> bool:
    """Whether this is rank 0, the rank that prints progress and writes files."""
    return rank(comm) == 0


def local_size(comm: Any = None) -> int:
    """The number of ranks on this machine (sharing its memory)."""
    MPI = _mpi()
    node = world(comm).Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return int(node.Get_size())
    finally:
        node.Free()


def check_positive(name: str, value: Any, optional: bool = False) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is an int >= 1 (or None if optional)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        allowed = "a positive integer or None" if optional else "a positive integer"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def init(comm: Any = None, *, threads: int | None = None, bind: bool = True) -> Any:
    """Join the MPI job; returns the communicator. ``fit(distributed=True)`` calls it.

    Installs (once, where there are several ranks) an exception hook: an uncaught exception on
    any rank prints ``rnnkit.distributed: rank N failed: ...`` after its traceback and calls
    ``comm.Abort(1)``, so every rank exits instead of waiting forever in a collective call.

    On the first call, where several ranks share this machine, each takes its share of the
    cores: the usable cores divided by those ranks become its thread count, and with ``bind``
    its CPU affinity is set to its own block of them (unless the launcher already gave the
    ranks different CPU sets, e.g. ``mpiexec -bind-to core`` or Slurm). Unbound ranks that the
    OS moves between cores ran 2.4x slower here than bound ones. ``threads`` sets the thread
    count whatever the machine.

    Raises:
        ImportError: mpi4py is not installed (the message names ``rnnkit[dist]``).
        ValueError: ``threads`` is not a positive integer.
    """
    global _hook_installed, _threads_set
    check_positive("threads", threads, optional=True)
    comm = world(comm)
    if comm.Get_size() > 1 and not _hook_installed:
        _install_abort_hook(comm)
        _hook_installed = True
    if not _threads_set:
        _share_the_machine(comm, bind)
        _threads_set = True
    if threads is not None:
        _runtime.set_num_threads(threads)
    return comm


def _share_the_machine(comm: Any, bind: bool) -> None:
    """Give each rank on this machine its block of the cores (threads, and affinity if bind).
    One rank per machine keeps rnnkit's own default thread count (or the user's)."""
    node = comm.Split_type(_mpi().COMM_TYPE_SHARED)
    try:
        sharing, local = int(node.Get_size()), int(node.Get_rank())
        if sharing == 1:
            return
        if not hasattr(os, "sched_getaffinity"):  # no affinity API (macOS): threads only
            _runtime.set_num_threads(max(1, usable_cores() // sharing))
            return
        cores = sorted(os.sched_getaffinity(0))
        if any(other != cores for other in node.allgather(cores)):
            # The launcher placed the ranks (-bind-to, Slurm): each keeps the cores it got.
            _runtime.set_num_threads(len(cores))
            return
        share = max(1, len(cores) // sharing)
        if bind and len(cores) >= sharing:
            os.sched_setaffinity(0, cores[local * share : (local + 1) * share])
        _runtime.set_num_threads(share)
    finally:
        node.Free()


def _install_abort_hook(comm: Any) -> None:
    previous = sys.excepthook

    def abort_all(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        previous(exc_type, exc, tb)
        sys.stderr.write(
            f"rnnkit.distributed: rank {comm.Get_rank()} failed: {exc_type.__name__}: {exc}; "
            f"aborting all {comm.Get_size()} ranks\n"
        )
        sys.stderr.flush()
        comm.Abort(1)

    sys.excepthook = abort_all


# ---------------------------------------------------------------------------------------------
# Start: the same job on every rank
# ---------------------------------------------------------------------------------------------


def _config_digest(model: Any) -> str:
    config = json.dumps(model.get_config(), sort_keys=True, default=repr)
    return hashlib.sha256(config.encode()).hexdigest()[:16]


def check_consistent(model: Any, comm: Any = None, **facts: Any) -> None:
    """Raise on every rank if the ranks differ in what must be the same.

    Compares (one ``allgather``) the rnnkit version, a hash of the model's config JSON, the
    weight shapes, the optimizer's config and any ``facts`` given (e.g. steps per epoch).

    Raises:
        RuntimeError: on every rank, naming each entry that differs and every rank's value.
    """
    comm = world(comm)
    mine = {
        "rnnkit version": _version.__version__,
        "model config (sha256 of its JSON)": _config_digest(model),
        "weight shapes": [list(np.shape(w)) for w in model.weights],
        "optimizer": None
        if getattr(model, "optimizer", None) is None
        else json.dumps(optimizers.serialize(model.optimizer), sort_keys=True, default=repr),
        **facts,
    }
    everyone = comm.allgather(mine)
    problems = []
    for key in everyone[0]:
        values = [repr(f.get(key)) for f in everyone]
        if len(set(values)) > 1:
            listed = ", ".join(f"rank {r}: {v}" for r, v in enumerate(values))
            problems.append(f"{key} differs ({listed})")
    if problems:
        raise RuntimeError(
            "rnnkit.distributed: the ranks do not run the same job: " + "; ".join(problems)
        )


def broadcast_weights(model: Any, comm: Any = None, root: int = 0) -> None:
    """Give every rank ``root``'s weights (one broadcast)."""
    comm = world(comm)
    weights = comm.bcast(model.get_weights() if comm.Get_rank() == root else None, root=root)
    if comm.Get_rank() != root:
        model.set_weights(weights)


# ---------------------------------------------------------------------------------------------
# The step: one Allreduce over one flat buffer
# ---------------------------------------------------------------------------------------------


class DistributedOptimizer:
    """Horovod's ``DistributedOptimizer`` for a custom training loop.

    ``apply_gradients(grads_and_vars, weight=n)`` averages each gradient over the ranks,
    weighted by ``n`` (this rank's count of examples or unmasked tokens, what its loss divided
    by), with one ``Allreduce`` over one flat buffer, then lets the wrapped optimizer apply
    the average. Other attributes are the wrapped optimizer's. ``fit(..., distributed=True)``
    needs no wrapper: compile with the plain optimizer.

        opt = rnnkit.distributed.DistributedOptimizer(model.optimizer)
        loss, grads = model.compute_gradients(x_shard, y_shard)
        opt.apply_gradients(zip(grads, model.trainable_weights), weight=len(x_shard))
    """

    def __init__(self, optimizer: Any, comm: Any = None) -> None:
        if isinstance(optimizer, DistributedOptimizer):
            raise TypeError("optimizer is already a DistributedOptimizer")
        if not callable(getattr(optimizer, "apply_gradients", None)):
            raise TypeError(
                f"optimizer must be a rnnkit optimizer (with apply_gradients), got "
                f"{type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.comm = world(comm)
        self._buffer = np.zeros(0, np.float32)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)

    def apply_gradients(
        self, grads_and_vars: Iterable[tuple[Any, np.ndarray]], weight: float = 1.0
    ) -> int:
        """Average the gradients over the ranks (weighted), then apply them; returns the
        optimizer's ``iterations``.

        Raises:
            ValueError: a ``None`` gradient (every rank must send every gradient) or a
                negative ``weight``.
        """
        pairs = list(grads_and_vars)
        averaged = self.allreduce_gradients([g for g, _ in pairs], weight)
        return int(self.optimizer.apply_gradients(zip(averaged, [v for _, v in pairs])))

    def allreduce_gradients(self, grads: Sequence[Any], weight: float = 1.0) -> list[np.ndarray]:
        """``sum_r(weight_r * grads_r) / sum_r(weight_r)`` on every rank (fresh arrays; zeros
        where every weight is 0)."""
        averaged, _ = self._allreduce(grads, _check_weight(weight), (), normalize=True)
        return averaged

    def _allreduce(
        self, grads: Sequence[Any], weight: float, extras: Sequence[float], normalize: bool
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """One Allreduce of ``[weight * grads..., weight, weight * extras...]``; returns the
        gradients and the extras, divided by the summed weight where ``normalize``."""
        arrays = []
        for i, grad in enumerate(grads):
            if grad is None:
                raise ValueError(
                    f"gradient #{i} is None: every rank must send every gradient (zeros for "
                    f"a variable without one)"
                )
            arrays.append(np.asarray(grad))
        dtype = np.result_type(np.float32, *arrays)
        sizes = [a.size for a in arrays]
        count = sum(sizes)
        total = count + 1 + len(extras)
        if self._buffer.size != total or self._buffer.dtype != dtype:
            self._buffer = np.empty(total, dtype)
        buffer = self._buffer
        offset = 0
        for array, n in zip(arrays, sizes):
            np.multiply(array, weight, out=buffer[offset : offset + n].reshape(array.shape))
            offset += n
        buffer[count] = weight
        buffer[count + 1 :] = np.asarray(extras, np.float64) * weight
        self.comm.Allreduce(_mpi().IN_PLACE, buffer, op=_mpi().SUM)
        summed = float(buffer[count])
        scale = (1.0 / summed if summed else 0.0) if normalize else 1.0
        scale_t = dtype.type(scale)
        results = []
        offset = 0
        for array, n in zip(arrays, sizes):
            results.append(buffer[offset : offset + n].reshape(array.shape) * scale_t)
            offset += n
        return results, buffer[count + 1 :].astype(np.float64) * scale


def _check_weight(weight: Any) -> float:
    value = float(weight)
    if not value >= 0.0:
        raise ValueError(f"weight must be >= 0 (this rank's example or token count), got {weight}")
    return value


def shard_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rank ``rank``'s slice ``[start, stop)`` of ``n`` examples: contiguous, sizes differ by
    at most one (the first ``n % size`` ranks take one more)."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


# ---------------------------------------------------------------------------------------------
# fit(..., distributed=True)
# ---------------------------------------------------------------------------------------------


def _loss_divisor(loss: Any, y_true: Any, y_pred: Any, mask: Any) -> float:
    """What ``loss`` divides its weighted sum by: its unmasked elements (losses._reduce)."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 1 and getattr(loss, "rank1_as_elements", True):
        shape = y_pred.shape
    else:
        shape = y_pred.shape[:-1]
    keep = np.ones(shape, bool)
    if mask is not None:
        m = np.asarray(mask, bool)
        if m.ndim == len(shape) + 1 and m.shape[-1] == 1:
            m = m[..., 0]
        keep &= m.reshape(m.shape + (1,) * (len(shape) - m.ndim))
    ignore = getattr(loss, "ignore_class", None)
    if ignore is not None:
        keep &= np.asarray(y_true).reshape(shape) != ignore
    return float(np.count_nonzero(keep))


class FitSession:
    """The distributed side of one ``Model.fit`` (created by fit; not a public API).

    fit calls, in order: ``callbacks()``/``verbose()`` (rank 0 alone prints and writes
    checkpoints), ``start()`` after any resume (rank 0's weights, optimizer state, epoch and
    RNG state go to every rank; the optimizer and losses are hooked), ``shard()`` around each
    epoch's batches, ``reduced()`` after each step (the global batch's loss and size),
    ``agree()`` for a stop decision after a step and ``end_epoch()`` after an epoch (rank 0's
    decision and random state), and ``close()``.
    """

    def __init__(self, model: Any, steps: int | None, epochs: int, comm: Any = None) -> None:
        self.comm = init(comm)
        self.rank = int(self.comm.Get_rank())
        self.size = int(self.comm.Get_size())
        self.model = model
        facts = {
            "steps per epoch": steps,
            "epochs": epochs,
            "optimizer built": model.optimizer.built,
        }
        check_consistent(model, self.comm, **facts)
        self._loss_outputs = [i for i, lo in enumerate(model._losses) if lo is not None]
        reductions = {model._losses[i].reduction for i in self._loss_outputs}
        self._summed = reductions == {"sum"}
        if "sum" in reductions and not self._summed:
            raise ValueError(
                "fit(distributed=True) cannot combine losses with reduction='sum' and averaged "
                "losses in one model"
            )
        self._reducer = DistributedOptimizer(model.optimizer, self.comm)
        self._observed: dict[int, tuple[float, float]] = {}
        self._restore: list[tuple[Any, str]] = []
        self._shard_size = 0
        self._per_step = False
        self._global_size = 0
        self._losses = (0.0, [0.0] * len(model._losses))
        self._apply: Callable[..., Any] = model.optimizer.apply_gradients

    @property
    def active(self) -> bool:
        """Whether there is more than one rank (one rank trains exactly like plain fit)."""
        return self.size > 1

    def verbose(self, verbose: int) -> int:
        return verbose if self.rank == 0 else 0

    def callbacks(self, given: Any) -> Any:
        """Rank 0 runs every callback; the others all but the checkpoint writers."""
        hooks = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
        self._per_step = any(
            getattr(type(c), h) is not getattr(callbacks.Callback, h) or h in vars(c)
            for c in given or []
            for h in hooks
        )
        if self.rank == 0 or given is None:
            return given
        writers = (callbacks.ModelCheckpoint, callbacks.BackupAndRestore)
        return [c for c in given if not isinstance(c, writers)]

    def start(self, initial_epoch: int) -> int:
        """Make every rank rank 0's replica; returns the first epoch (rank 0's)."""
        model = self.model
        if not model.optimizer.built:
            # As the first step would (all weights); on rank 0 this also applies the optimizer
            # state of a checkpoint just restored, so that its slots are sent.
            model.optimizer.build(model.weights)
        state = None
        if self.rank == 0:
            state = {
                "weights": model.get_weights(),
                "optimizer": model.optimizer.get_state(),
                "rng": _random.get_state(),
                "epoch": initial_epoch,
                "per_step": self._per_step,
            }
        state = self.comm.bcast(state, root=0)
        if self.rank != 0:
            model.set_weights(state["weights"])
            model.optimizer.set_state(state["optimizer"])
            _random.set_state(state["rng"])
        self._per_step = bool(state["per_step"])
        if self.active:
            self._apply = model.optimizer.apply_gradients
            self._hook(model.optimizer, "apply_gradients", self._apply_gradients)
            for i in self._loss_outputs:
                loss = model._losses[i]
                for name in ("value_and_grad", "value_and_grad_logits"):
                    if hasattr(loss, name):
                        self._hook(loss, name, self._observer(loss, i, getattr(loss, name)))
        return int(state["epoch"])

    def _hook(self, owner: Any, name: str, function: Callable[..., Any]) -> None:
        setattr(owner, name, function)  # an instance attribute: serialization sees no change
        self._restore.append((owner, name))

    def close(self) -> None:
        """Remove the hooks."""
        for owner, name in reversed(self._restore):
            owner.__dict__.pop(name, None)
        self._restore.clear()

    def _observer(
        self, loss: Any, index: int, method: Callable[..., tuple[float, np.ndarray]]
    ) -> Callable[..., tuple[float, np.ndarray]]:
        def observed(
            y_true: Any, y_pred: Any, sample_weight: Any = None, mask: Any = None
        ) -> tuple[float, np.ndarray]:
            value, grad = method(y_true, y_pred, sample_weight, mask)
            self._observed[index] = (float(value), _loss_divisor(loss, y_true, y_pred, mask))
            return value, grad

        return observed

    def shard(self, batches: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        """This rank's slice of every global batch (all ranks iterate the same batches)."""
        for step, batch in enumerate(batches):
            if step == 0 and self.rank != 0:
                self._own_random_stream()
            n = int(batch[0][0].shape[0])
            start, stop = shard_bounds(n, self.rank, self.size)
            self._global_size, self._shard_size = n, stop - start
            self._observed.clear()
            yield tuple(None if g is None else [a[start:stop] for a in g] for g in batch)

    def _apply_gradients(self, grads_and_vars: Iterable[tuple[Any, np.ndarray]]) -> int:
        pairs = list(grads_and_vars)
        per_output = [self._observed.get(i, (0.0, 0.0))[0] for i in range(len(self.model._losses))]
        total = sum(w * v for w, v in zip(self.model._loss_weights, per_output))
        observed_all = all(i in self._observed for i in self._loss_outputs)
        if self._summed:
            weight = 1.0
        elif len(self._loss_outputs) == 1 and observed_all:
            weight = self._observed[self._loss_outputs[0]][1]
        else:
            weight = float(self._shard_size)
        grads, extras = self._reducer._allreduce(
            [g for g, _ in pairs], weight, [total, *per_output], normalize=not self._summed
        )
        self._losses = (float(extras[0]), [float(v) for v in extras[1:]])
        return int(self._apply(zip(grads, [v for _, v in pairs])))

    def reduced(self, total: float, per_output: list[float]) -> tuple[float, list[float], int]:
        """The step's loss over the global batch and the global batch size (for the logs)."""
        if not self.active:
            return total, per_output, self._global_size
        return self._losses[0], list(self._losses[1]), self._global_size

    def _own_random_stream(self) -> None:
        """Once the epoch's shuffle is drawn (the same on every rank), give this rank its own
        random stream for the epoch, so that dropout masks differ between ranks."""
        state = _random.get_state()["state"]["state"]
        seed = np.random.SeedSequence([int(state) % 2**64, self.rank]).generate_state(1)[0]
        _random.seed(int(seed))

    def agree(self, stop: bool) -> bool:
        """Rank 0's stop decision after a step, on every rank: a broadcast where rank 0 has
        callbacks that run after each step (they may stop training), else rank 0 goes on."""
        if not self.active:
            return bool(stop)
        if not self._per_step:
            return bool(stop) and self.rank == 0
        return bool(self.comm.bcast(bool(stop), root=0))

    def end_epoch(self, stop: bool) -> bool:
        """Rank 0's stop decision and random state (next epoch's shuffle), on every rank."""
        if not self.active:
            return bool(stop)
        mine = (bool(stop), _random.get_state() if self.rank == 0 else None)
        stop, state = self.comm.bcast(mine, root=0)
        if self.rank != 0:
            _random.set_state(state)
        return bool(stop)
