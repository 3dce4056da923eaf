"""Callbacks with Keras's protocol and behaviour (Keras path `keras.callbacks`).

`Model.fit` calls, in order: `set_model`, `set_params({"epochs", "steps", "verbose"})`,
`on_train_begin`, then per epoch `on_epoch_begin`, per batch `on_train_batch_begin/end` (batch
logs hold the running means of the epoch so far), `on_test_*` around validation, and
`on_epoch_end(epoch, logs)` with the epoch's "loss", metrics and "val_*" entries; finally
`on_train_end`. A callback ends training by setting `model.stop_training = True`.

What the callbacks here use of the model: `stop_training`, `get_weights()`/`set_weights()`
(EarlyStopping), `optimizer.learning_rate` (ReduceLROnPlateau), and optionally `metrics`
(objects with `name` and `direction`, for mode="auto"); `ModelCheckpoint` and `BackupAndRestore`
write files through `rnnkit.io`.

Checkpoints keep callbacks' state: `get_state()` returns a dict of JSON values and NumPy arrays
(what changes during training: counters, best values) and `set_state(state)` restores it; `fit`
calls `set_state` after `on_train_begin` when it resumes. The base class has no state.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
import warnings
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]


class Callback:
    """Base class: every hook is a no-op. `self.model` and `self.params` are set by `fit`.

    `on_train_batch_begin/end` call `on_batch_begin/end` (Keras's aliases), so overriding
    either works.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        """Attach the model being trained."""
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Receive {"epochs", "steps", "verbose"} from `fit` / `evaluate` / `predict`."""
        self.params = params

    def get_state(self) -> dict[str, Any]:
        """What a checkpoint keeps of this callback: JSON values and NumPy arrays."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s dict (called by ``fit`` when it resumes)."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called once before the first epoch."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called once after the last epoch."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called at the start of each epoch (0-based)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called at the end of each epoch with its loss, metrics and val_* values."""

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Alias hook called by `on_train_batch_begin`."""

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Alias hook called by `on_train_batch_end`."""

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before each training batch (0-based within the epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after each training batch with the epoch's running loss and metrics."""
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called before evaluation (and validation inside `fit`)."""

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called after evaluation."""

    def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before each evaluation batch."""

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after each evaluation batch."""

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called before prediction."""

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called after prediction."""

    def on_predict_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after each prediction batch."""


class CallbackList(Callback):
    """Dispatches every hook to a list of callbacks, in order.

    Args:
        callbacks: the user's callbacks.
        add_history: append a `History` unless one is in the list.
        add_progbar: append a `ProgbarLogger` unless one is in the list.
        model: passed to `set_model` of every callback.
        **params: passed to `set_params` of every callback (epochs, steps, verbose).
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | None = None,
        add_history: bool = False,
        add_progbar: bool = False,
        model: Any = None,
        **params: Any,
    ) -> None:
        super().__init__()
        given = list(callbacks or [])
        for i, callback in enumerate(given):
            if not isinstance(callback, Callback):
                raise TypeError(
                    f"callbacks[{i}] must be a rnnkit.callbacks.Callback, got "
                    f"{type(callback).__name__}"
                )
        # Checkpoint writers run after the others, so what they save at an epoch's end
        # includes the other callbacks' updates for that epoch.
        writers: list[Callback] = [
            c for c in given if isinstance(c, (ModelCheckpoint, BackupAndRestore))
        ]
        self.callbacks = [c for c in given if not any(c is w for w in writers)] + writers
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        if add_history and not any(isinstance(c, History) for c in self.callbacks):
            self.callbacks.append(History())
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    @property
    def history(self) -> History | None:
        """The History callback in the list, if any."""
        return next((c for c in self.callbacks if isinstance(c, History)), None)

    def append(self, callback: Callback) -> None:
        """Add one callback at the end."""
        self.callbacks.append(callback)

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def _dispatch(self, hook: str, *args: Any, logs: dict[str, Any] | None = None) -> None:
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            getattr(callback, hook)(*args, logs=logs)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_train_begin", logs=logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_train_end", logs=logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_train_batch_end", batch, logs=logs)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_test_begin", logs=logs)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_test_end", logs=logs)

    def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_test_batch_end", batch, logs=logs)

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_predict_begin", logs=logs)

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_predict_end", logs=logs)

    def on_predict_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._dispatch("on_predict_batch_end", batch, logs=logs)


class History(Callback):
    """Records each epoch's logs: `history.history["loss"]` is the list of epoch losses.

    `fit` always adds one and returns it; it also sets `model.history` to it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


# ---------------------------------------------------------------------------------------------
# Progress bar
# ---------------------------------------------------------------------------------------------


def _format_value(value: Any) -> str:
    value = float(np.mean(value))
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_per_step(seconds: float) -> str:
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class Progbar:
    """A Keras 2-style text progress bar for one pass over `target` steps.

    verbose 1: "12/40 [=====>........] - ETA: 3s - loss: 0.1234 - accuracy: 0.9000" redrawn
    in place with "\\r" on a terminal, and at most every `interval` seconds; when the stream
    is not a terminal, only the final line is written. verbose 2: one final line,
    "40/40 - 1s - 25ms/step - loss: ...". The values shown are the last ones given (the
    model's logs are already running means).
    """

    def __init__(
        self,
        target: int | None,
        width: int = 30,
        verbose: int = 1,
        interval: float = 0.05,
        stream: Any = None,
    ) -> None:
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self._stream = stream
        self._values: dict[str, Any] = {}
        self._start = time.time()
        self._last_update = 0.0
        self._previous_width = 0
        self._seen = 0

    @property
    def stream(self) -> Any:
        """Where the bar is written (sys.stdout at the time of writing, by default)."""
        return self._stream if self._stream is not None else sys.stdout

    def _dynamic(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty()) or "ipykernel" in sys.modules

    def update(
        self, current: int, values: dict[str, Any] | None = None, finalize: bool = False
    ) -> None:
        """Show progress `current` of `target` with these values (name -> number)."""
        self._values.update(values or {})
        self._seen = current
        now = time.time()
        if self.verbose == 2:
            if finalize:
                self._write(self._summary_line(current, now) + "\n")
            return
        if self.verbose != 1:
            return
        dynamic = self._dynamic()
        if not finalize and (not dynamic or now - self._last_update < self.interval):
            return
        line = self._bar(current) + self._info(current, now, finalize)
        padding = " " * max(self._previous_width - len(line), 0)
        self._previous_width = len(line)
        prefix = "\r" if dynamic else ""
        self._write(prefix + line + padding + ("\n" if finalize else ""))
        self._last_update = now

    def _bar(self, current: int) -> str:
        if not self.target:
            return f"{current:7d}/Unknown"
        digits = int(math.log10(self.target)) + 1
        done = int(self.width * min(current / self.target, 1.0))
        bar = "=" * max(done - 1, 0)
        if done > 0:
            bar += ">" if current < self.target else "="
        return f"{current:{digits}d}/{self.target} [{bar}{'.' * (self.width - done)}]"

    def _time_per_step(self, current: int, now: float) -> float:
        return (now - self._start) / current if current else 0.0

    def _info(self, current: int, now: float, finalize: bool) -> str:
        per_step = self._time_per_step(current, now)
        if self.target and not finalize:
            info = f" - ETA: {_format_eta(per_step * (self.target - current))}"
        else:
            info = f" - {now - self._start:.0f}s {_format_per_step(per_step)}"
        return info + "".join(f" - {k}: {_format_value(v)}" for k, v in self._values.items())

    def _summary_line(self, current: int, now: float) -> str:
        count = f"{current}/{self.target}" if self.target else f"{current}"
        line = f"{count} - {now - self._start:.0f}s - "
        line += _format_per_step(self._time_per_step(current, now))
        return line + "".join(f" - {k}: {_format_value(v)}" for k, v in self._values.items())

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class ProgbarLogger(Callback):
    """Prints a progress bar per epoch (verbose 1) or one line per epoch (verbose 2).

    `fit` adds it for verbose=1|2; params "epochs", "steps" (None when unknown) and "verbose"
    come from `set_params`. Inside `fit`, validation is silent, as in Keras; `evaluate` and
    `predict` get their own bar.
    """

    def __init__(self) -> None:
        super().__init__()
        self.verbose = 1
        self.epochs = 1
        self.target: int | None = None
        self.progbar: Progbar | None = None
        self.seen = 0
        self._called_in_fit = False

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = int(params.get("epochs", 1))
        self.target = params.get("steps")

    def _reset(self) -> None:
        self.seen = 0
        self.progbar = Progbar(self.target, verbose=self.verbose)

    def _update(self, batch: int, logs: dict[str, Any] | None) -> None:
        if self.progbar is None:
            self._reset()
        assert self.progbar is not None  # _reset made one
        self.seen = batch + 1
        self.progbar.update(self.seen, logs)

    def _finalize(self, logs: dict[str, Any] | None) -> None:
        if self.progbar is None:
            self._reset()
        assert self.progbar is not None  # _reset made one
        if self.target is None:
            self.progbar.target = self.seen
        self.progbar.update(self.progbar.target or self.seen, logs, finalize=True)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._called_in_fit = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._called_in_fit = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._reset()
        assert self.progbar is not None  # _reset made one
        if self.verbose and self.epochs > 1:
            self.progbar._write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._update(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._finalize(logs)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._called_in_fit:
            self._reset()

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._reset()

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._update(batch, None)

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        self._finalize(None)


# ---------------------------------------------------------------------------------------------
# Monitoring callbacks
# ---------------------------------------------------------------------------------------------

_MAXIMISED = ("acc", "accuracy", "auc", "precision", "recall")


class _MonitorCallback(Callback):
    """Tracks the best value of `monitor` with Keras's improvement rule."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self.best: float | None = None
        self._sign: int | None = None  # +1: larger is better, -1: smaller is better

    def _direction(self) -> int:
        if self.mode != "auto":
            return 1 if self.mode == "max" else -1
        name = self.monitor.removeprefix("val_")
        for metric in getattr(self.model, "metrics", None) or []:
            if getattr(metric, "name", None) == name and hasattr(metric, "direction"):
                return 1 if metric.direction == "up" else -1
        if name in ("loss", "mse", "mae") or name.endswith(("_loss", "error")):
            return -1
        if name in _MAXIMISED or name.endswith("_accuracy"):
            return 1
        raise ValueError(
            f"{type(self).__name__} cannot tell whether {self.monitor!r} should be maximized or "
            f"minimized; pass mode='max' or mode='min'"
        )

    def _is_improvement(self, current: float, reference: float | None) -> bool:
        if self._sign is None:
            self._sign = self._direction()
        if reference is None:
            return True
        if self._sign > 0:
            return current - self.min_delta > reference
        return current + self.min_delta < reference

    def get_state(self) -> dict[str, Any]:
        return {"best": self.best, "sign": self._sign}

    def set_state(self, state: dict[str, Any]) -> None:
        self.best = None if state.get("best") is None else float(state["best"])
        self._sign = None if state.get("sign") is None else int(state["sign"])

    def _monitored(self, logs: dict[str, Any] | None, what: str) -> float | None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"{what} conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs)}",
                stacklevel=3,
            )
            return None
        return float(value)


class EarlyStopping(_MonitorCallback):
    """Stop training when `monitor` has stopped improving (Keras 3's rule).

    Args:
        monitor: the logs entry to watch ("val_loss" by default).
        min_delta: changes smaller than this do not count as improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when it stops and when it restores weights.
        mode: "min", "max", or "auto" (from the metric's direction or name).
        baseline: training stops unless the monitored value beats it within `patience`.
        restore_best_weights: at the end, set the weights of the best epoch (of the epochs
            observed), even when training ran to the last epoch.
        start_from_epoch: epochs to wait before watching (warm-up).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        if start_from_epoch < 0:
            raise ValueError(f"start_from_epoch must be >= 0, got {start_from_epoch}")
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        current = self._monitored(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _copy_weights(self.model.get_weights())
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = _copy_weights(self.model.get_weights())
            # Restart the wait only when the baseline is beaten too.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def get_state(self) -> dict[str, Any]:
        return {
            **super().get_state(),
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.wait = int(state["wait"])
        self.stopped_epoch = int(state["stopped_epoch"])
        self.best_epoch = int(state["best_epoch"])
        weights = state.get("best_weights")
        self.best_weights = None if weights is None else [np.asarray(w) for w in weights]

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    f"Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


def _copy_weights(weights: Iterable[Any]) -> list[np.ndarray]:
    return [np.array(w, copy=True) for w in weights]


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss is NaN or infinite (or raise, with `raise_error`)."""

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                f"Terminating training immediately."
            )
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


class ReduceLROnPlateau(_MonitorCallback):
    """Multiply the learning rate by `factor` when `monitor` stops improving (Keras 3's rule).

    Adds "learning_rate" to each epoch's logs (so `History` records it, as in Keras).

    Args:
        monitor: the logs entry to watch.
        factor: new_lr = lr * factor, factor < 1.
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: "min", "max" or "auto".
        min_delta: the threshold for a change to count as improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the learning rate never goes below this.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        if not 0 <= factor < 1:
            raise ValueError(f"factor must be in [0, 1) (ReduceLROnPlateau), got {factor}")
        if patience < 0 or cooldown < 0:
            raise ValueError(f"patience and cooldown must be >= 0, got {patience}, {cooldown}")
        if min_lr < 0:
            raise ValueError(f"min_lr must be >= 0, got {min_lr}")
        self.factor = float(factor)
        self.patience = int(patience)
        self.verbose = verbose
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.wait = int(state["wait"])
        self.cooldown_counter = int(state["cooldown_counter"])

    def in_cooldown(self) -> bool:
        """Whether a recent reduction still holds the counting back."""
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        if logs is not None:
            logs["learning_rate"] = float(optimizer.learning_rate)
        current = self._monitored(logs, "Learning rate reduction")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                            f"to {new_lr}."
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LambdaCallback(Callback):
    """A callback from functions: on_epoch_begin(epoch, logs), on_epoch_end(epoch, logs),
    on_train_begin(logs), on_train_end(logs), on_train_batch_begin(batch, logs),
    on_train_batch_end(batch, logs). Other keyword arguments become attributes."""

    def __init__(
        self,
        on_epoch_begin: Callable[[int, dict[str, Any]], Any] | None = None,
        on_epoch_end: Callable[[int, dict[str, Any]], Any] | None = None,
        on_train_begin: Callable[[dict[str, Any]], Any] | None = None,
        on_train_end: Callable[[dict[str, Any]], Any] | None = None,
        on_train_batch_begin: Callable[[int, dict[str, Any]], Any] | None = None,
        on_train_batch_end: Callable[[int, dict[str, Any]], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for hook, function in hooks.items():
            if function is not None:
                if not callable(function):
                    raise TypeError(f"{hook} must be callable, got {type(function).__name__}")
                setattr(self, hook, function)


class CSVLogger(Callback):
    """Write each epoch's logs as a CSV row: "epoch" then the log keys, sorted.

    As in Keras, when the first epoch has no "val_*" keys, "val_" columns are added anyway
    (written "NA"), and with `append=True` the header is written only to an empty file.

    Args:
        filename: the CSV file.
        separator: the field separator.
        append: append to an existing file instead of overwriting it.
    """

    def __init__(
        self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator must be a single character, got {separator!r}")
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = bool(append)
        self.keys: list[str] | None = None
        self.writer: csv.DictWriter[str] | None = None
        self.csv_file: Any = None
        self._write_header = True

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.append:
            self._write_header = not (
                os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
            )
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys.extend(f"val_{k}" for k in list(self.keys))
        if self.writer is None:
            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch", *self.keys], delimiter=self.sep
            )
            if self._write_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value: Any) -> Any:
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if isinstance(value, Iterable):
        return f'"[{", ".join(map(str, value))}]"'
    return value


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


class _SaveFrequency:
    """Keras's ``save_freq``: "epoch", or every ``n`` batches (counted across epochs)."""

    def __init__(self, save_freq: Any) -> None:
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(f"save_freq must be 'epoch' or a positive integer, got {save_freq!r}")
        self.value = save_freq
        self.batches = 0

    @property
    def per_epoch(self) -> bool:
        every_epoch: bool = self.value == "epoch"
        return every_epoch

    def batch_done(self) -> bool:
        """Count one batch; True when a save is due."""
        if self.per_epoch:
            return False
        self.batches += 1
        if self.batches < self.value:
            return False
        self.batches = 0
        return True


class ModelCheckpoint(_MonitorCallback):
    """Save the model (or its weights) during training, as Keras's ModelCheckpoint.

    ``filepath`` may hold ``str.format`` fields filled from ``epoch`` (1-based), ``batch``
    (with an integer ``save_freq``) and the logs: ``"m-{epoch:02d}-{val_loss:.2f}.rnnkit"``.
    Files are rnnkit model files (``model.save``) or weights files (``model.save_weights``),
    written atomically; the folder is created if missing.

    Args:
        filepath: where to save (a format string).
        monitor: the logs entry compared with ``save_best_only``.
        verbose: 1 prints a line per save.
        save_best_only: save only when ``monitor`` improves on the best value so far (a
            constant file name then always holds the best model).
        save_weights_only: write weights files instead of model files.
        mode: "min", "max" or "auto" (from the metric's direction or name).
        save_freq: "epoch", or an integer: save every that many batches.
        initial_value_threshold: the best value to beat at first (save_best_only).
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: Any = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, 0.0)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self._frequency = _SaveFrequency(save_freq)
        self.save_freq = save_freq
        self.initial_value_threshold = initial_value_threshold
        self.best = None if initial_value_threshold is None else float(initial_value_threshold)
        self._current_epoch = 0

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "batches_since_save": self._frequency.batches}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self._frequency.batches = int(state["batches_since_save"])

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._frequency.batch_done():
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._frequency.per_epoch:
            self._save(epoch, None, logs)

    def _file_path(self, epoch: int, batch: int | None, logs: dict[str, Any]) -> str:
        fields = {**logs, "epoch": epoch + 1}
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as exc:
            raise KeyError(
                f"ModelCheckpoint: filepath {self.filepath!r} uses {exc}, which is not in the "
                f"logs (available: epoch, batch, {', '.join(logs)})"
            ) from None

    def _save(self, epoch: int, batch: int | None, logs: dict[str, Any] | None) -> None:
        logs = dict(logs or {})
        path = self._file_path(epoch, batch, logs)
        if self.save_best_only:
            current = self._monitored(logs, "Can save best model only with")
            if current is None:
                return
            previous = self.best
            if not self._is_improvement(current, previous):
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                        f"{_best_text(previous)}"
                    )
                return
            self.best = current
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {_best_text(previous)} "
                    f"to {current:.5f}, saving model to {path}"
                )
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)


def _best_text(best: float | None) -> str:
    return "inf" if best is None else f"{best:.5f}"


class BackupAndRestore(Callback):
    """Back up training to ``backup_dir`` and resume from the backup after an interruption
    (Keras's name and arguments).

    At each epoch's end (or every ``save_freq`` batches) it writes a full checkpoint,
    atomically: weights, optimizer slots and step, epoch, RNG and callback states. When ``fit``
    starts and a backup exists, training resumes from it; with epoch backups the result is
    bitwise what the uninterrupted run gives. A mid-epoch backup (integer ``save_freq``)
    resumes at the start of the epoch it was taken in, as in Keras (not bitwise). When
    training ends normally the backup is deleted (``delete_checkpoint=True``); a crash or a
    ``KeyboardInterrupt`` leaves it for the next run.
    """

    #: The checkpoint's name inside backup_dir.
    FILENAME = "checkpoint.rnnkit"

    def __init__(
        self,
        backup_dir: str | os.PathLike[str],
        save_freq: Any = "epoch",
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir must be a folder name")
        self.backup_dir = os.fspath(backup_dir)
        self._frequency = _SaveFrequency(save_freq)
        self.save_freq = save_freq
        self.delete_checkpoint = bool(delete_checkpoint)
        self._current_epoch = 0

    @property
    def checkpoint_path(self) -> str:
        """The backup file."""
        return os.path.join(self.backup_dir, self.FILENAME)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from rnnkit import io

        self._frequency.batches = 0
        if os.path.exists(self.checkpoint_path):
            self.model._pending_resume = io.restore_checkpoint(self.model, self.checkpoint_path)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._frequency.batch_done():
            self._backup(self._current_epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._frequency.per_epoch:
            self._backup(epoch + 1)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self.delete_checkpoint:
            return
        if os.path.exists(self.checkpoint_path):
            os.remove(self.checkpoint_path)
        try:
            os.rmdir(self.backup_dir)  # only when empty: the folder may hold the user's files
        except OSError:
            pass

    def _backup(self, epoch: int) -> None:
        from rnnkit import io

        os.makedirs(self.backup_dir, exist_ok=True)
        callbacks = getattr(self.model, "_fit_callbacks", None)
        io.save_checkpoint(self.model, self.checkpoint_path, epoch=epoch, callbacks=callbacks)
