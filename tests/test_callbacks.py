"""rnnkit.callbacks driven by a small fake training loop (no rnnkit.models): hand-worked
expectations, and Keras 3's own callbacks driven the same way when Keras is installed."""

from __future__ import annotations

import io
import os
import re
from typing import Any

import numpy as np
import pytest
from rnnkit import callbacks, metrics, optimizers

from conftest import require


class FakeOptimizer:
    """What Keras's ReduceLROnPlateau touches: a settable float learning_rate."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate


class FakeModel:
    """What the callbacks use of a model; its weight is the number of the epoch just ended."""

    def __init__(self, optimizer: Any = None, metrics_list: list | None = None) -> None:
        self.weights = [np.zeros(2)]
        self.stop_training = False
        self.optimizer = optimizer if optimizer is not None else optimizers.SGD(0.1)
        if metrics_list is not None:
            self.metrics = metrics_list

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        self.weights = [np.array(w) for w in weights]


def simulate_fit(
    model: FakeModel,
    callback_list: list,
    epoch_logs: list[dict[str, float]],
    steps: int = 3,
    verbose: int = 0,
    batch_loss: Any = None,
) -> Any:
    """Keras's fit loop with canned logs; returns the History."""
    cbs = callbacks.CallbackList(
        callback_list,
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        epochs=len(epoch_logs),
        steps=steps,
        verbose=verbose,
    )
    model.stop_training = False
    cbs.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        cbs.on_epoch_begin(epoch)
        for batch in range(steps):
            cbs.on_train_batch_begin(batch)
            loss = logs.get("loss", 1.0) if batch_loss is None else batch_loss(epoch, batch)
            cbs.on_train_batch_end(batch, {"loss": loss})
            if model.stop_training:
                break
        model.weights = [np.full(2, float(epoch))]
        cbs.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    cbs.on_train_end()
    return cbs.history


def val_losses(values: list[float]) -> list[dict[str, float]]:
    return [{"loss": 1.0, "val_loss": v} for v in values]


# --- History, CallbackList, LambdaCallback ---------------------------------------------------


def test_history_records_epoch_logs() -> None:
    model = FakeModel()
    logs = [{"loss": 0.5, "accuracy": 0.7}, {"loss": 0.4, "accuracy": 0.8}]
    history = simulate_fit(model, [], logs)
    assert history.history == {"loss": [0.5, 0.4], "accuracy": [0.7, 0.8]}
    assert history.epoch == [0, 1]
    assert model.history is history


def test_callback_list_dispatches_in_order() -> None:
    calls = []
    recorder = callbacks.LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(f"epoch_begin {epoch}"),
        on_train_batch_end=lambda batch, logs: calls.append(f"batch_end {batch}"),
        on_epoch_end=lambda epoch, logs: calls.append(f"epoch_end {epoch} {logs['loss']}"),
        on_train_end=lambda logs: calls.append("train_end"),
    )

    class BatchAlias(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            calls.append(f"alias {batch}")

    simulate_fit(FakeModel(), [recorder, BatchAlias()], [{"loss": 1.0}], steps=2)
    assert calls == [
        "train_begin",
        "epoch_begin 0",
        "batch_end 0",
        "alias 0",
        "batch_end 1",
        "alias 1",
        "epoch_end 0 1.0",
        "train_end",
    ]


def test_callback_list_adds_history_and_progbar_once() -> None:
    history = callbacks.History()
    cbs = callbacks.CallbackList([history], add_history=True, add_progbar=True)
    assert cbs.history is history
    assert sum(isinstance(c, callbacks.ProgbarLogger) for c in cbs.callbacks) == 1
    with pytest.raises(TypeError, match=r"callbacks\[0\] must be a rnnkit.callbacks.Callback"):
        callbacks.CallbackList([lambda: None])
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        callbacks.LambdaCallback(on_epoch_end=3)


# --- EarlyStopping ---------------------------------------------------------------------------


def test_early_stopping_patience_and_restore() -> None:
    model = FakeModel()
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = simulate_fit(model, [stopper], val_losses([1.0, 0.9, 0.95, 0.97, 0.8, 0.7]))
    # epoch 1 is the best; epochs 2 and 3 do not improve: stop after epoch 3
    assert history.epoch == [0, 1, 2, 3]
    assert stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])


def test_early_stopping_min_delta_mode_max_and_warm_up() -> None:
    stopper = callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", min_delta=0.05, patience=1, start_from_epoch=2
    )
    logs = [{"val_accuracy": a} for a in [0.1, 0.1, 0.5, 0.52, 0.53, 0.9]]
    history = simulate_fit(FakeModel(), [stopper], logs)
    # epochs 0-1 are warm-up; 0.52 and 0.53 are within min_delta of 0.5
    assert history.epoch == [0, 1, 2, 3]


def test_early_stopping_baseline() -> None:
    values = val_losses([0.9, 0.8, 0.85, 0.4])
    # Improvements that miss the baseline do not reset the wait (Keras's rule)...
    with_baseline = simulate_fit(
        FakeModel(), [callbacks.EarlyStopping(baseline=0.5, patience=2)], values
    )
    assert with_baseline.epoch == [0, 1, 2]
    # ...while without a baseline they do.
    without = simulate_fit(FakeModel(), [callbacks.EarlyStopping(patience=2)], values)
    assert without.epoch == [0, 1, 2, 3]


def test_early_stopping_auto_mode() -> None:
    accuracy = metrics.get("accuracy", loss="sparse_categorical_crossentropy")
    stopper = callbacks.EarlyStopping(monitor="val_accuracy", patience=0)
    model = FakeModel(metrics_list=[accuracy])
    history = simulate_fit(model, [stopper], [{"val_accuracy": a} for a in [0.5, 0.6, 0.55, 0.9]])
    assert history.epoch == [0, 1, 2]  # maximised: 0.55 < 0.6 stops it
    custom = callbacks.EarlyStopping(monitor="val_f1ish")
    with pytest.raises(ValueError, match="pass mode='max' or mode='min'"):
        simulate_fit(FakeModel(), [custom], [{"val_f1ish": 0.1}])
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        callbacks.EarlyStopping(mode="maximum")


def test_missing_monitor_warns_and_keeps_training() -> None:
    stopper = callbacks.EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        history = simulate_fit(FakeModel(), [stopper], [{"loss": 1.0}] * 3)
    assert history.epoch == [0, 1, 2]


EARLY_STOPPING_CASES = [
    ({"patience": 2, "restore_best_weights": True}, [1.0, 0.9, 0.95, 0.97, 0.8, 0.7]),
    ({"patience": 1, "min_delta": 0.08}, [1.0, 0.95, 0.85, 0.84, 0.7, 0.69, 0.68]),
    ({"patience": 3, "baseline": 0.5, "restore_best_weights": True}, [0.9, 0.8, 0.7, 0.6, 0.4]),
    ({"patience": 0, "start_from_epoch": 3}, [1.0, 2.0, 3.0, 2.5, 2.6, 1.0]),
    ({"patience": 1, "mode": "max", "restore_best_weights": True}, [0.1, 0.3, 0.2, 0.25, 0.4]),
]


@pytest.mark.parametrize("kwargs, values", EARLY_STOPPING_CASES)
def test_early_stopping_matches_keras(kwargs: dict, values: list[float]) -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = require("keras")
    ours_model, keras_model = FakeModel(), FakeModel()
    ours = simulate_fit(ours_model, [callbacks.EarlyStopping(**kwargs)], val_losses(values))
    theirs = simulate_fit(
        keras_model, [_KerasAdapter(keras.callbacks.EarlyStopping(**kwargs))], val_losses(values)
    )
    assert ours.epoch == theirs.epoch
    np.testing.assert_array_equal(ours_model.weights[0], keras_model.weights[0])


class _KerasAdapter(callbacks.Callback):
    """Runs a Keras callback inside the rnnkit CallbackList."""

    def __init__(self, keras_callback: Any) -> None:
        super().__init__()
        self.inner = keras_callback

    def set_model(self, model: Any) -> None:
        self.inner.set_model(model)

    def on_train_begin(self, logs=None):
        self.inner.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        self.inner.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self.inner.on_epoch_end(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.inner.on_train_batch_end(batch, logs)

    def on_train_end(self, logs=None):
        self.inner.on_train_end(logs)


# --- ReduceLROnPlateau -----------------------------------------------------------------------


def test_reduce_lr_on_plateau() -> None:
    model = FakeModel(optimizers.Adam(0.1))
    reducer = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.02)
    history = simulate_fit(model, [reducer], val_losses([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]))
    # logs hold the rate the epoch ran with: reduce after epoch 1, cooldown 2, reduce after 3,
    # cooldown 4, reduce after 5 (to the floor 0.02)
    assert history.history["learning_rate"] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02]
    )
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    with pytest.raises(ValueError, match=r"factor must be in \[0, 1\)"):
        callbacks.ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_on_plateau_refuses_a_schedule() -> None:
    schedule = optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    model = FakeModel(optimizers.SGD(schedule))
    reducer = callbacks.ReduceLROnPlateau(patience=0)
    with pytest.raises(TypeError, match="not settable"):
        simulate_fit(model, [reducer], val_losses([1.0, 1.0]))


REDUCE_CASES = [
    ({"factor": 0.5, "patience": 1, "cooldown": 1, "min_lr": 0.02}, [1.0] * 7),
    ({"factor": 0.2, "patience": 2, "min_delta": 0.05}, [1.0, 0.97, 0.9, 0.88, 0.87, 0.86, 0.5]),
    ({"factor": 0.1, "patience": 0, "mode": "max"}, [0.1, 0.2, 0.15, 0.3, 0.3]),
]


@pytest.mark.parametrize("kwargs, values", REDUCE_CASES)
def test_reduce_lr_on_plateau_matches_keras(kwargs: dict, values: list[float]) -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = require("keras")
    ours_model, keras_model = FakeModel(optimizers.SGD(0.1)), FakeModel(FakeOptimizer(0.1))
    ours = simulate_fit(ours_model, [callbacks.ReduceLROnPlateau(**kwargs)], val_losses(values))
    theirs = simulate_fit(
        keras_model,
        [_KerasAdapter(keras.callbacks.ReduceLROnPlateau(**kwargs))],
        val_losses(values),
    )
    assert ours.history["learning_rate"] == pytest.approx(theirs.history["learning_rate"])
    assert ours_model.optimizer.learning_rate == pytest.approx(keras_model.optimizer.learning_rate)


# --- TerminateOnNaN --------------------------------------------------------------------------


def test_terminate_on_nan(capsys) -> None:
    losses_by_batch = {(0, 0): 1.0, (0, 1): 0.9, (0, 2): 0.8, (1, 0): 0.7, (1, 1): np.inf}
    model = FakeModel()
    seen = []
    history = simulate_fit(
        model,
        [
            callbacks.TerminateOnNaN(),
            callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b)),
        ],
        [{"loss": 1.0}] * 3,
        batch_loss=lambda e, b: losses_by_batch.get((e, b), np.nan),
    )
    assert history.epoch == [0, 1] and seen == [0, 1, 2, 0, 1]
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0"):
        simulate_fit(
            FakeModel(),
            [callbacks.TerminateOnNaN(raise_error=True)],
            [{"loss": 1.0}],
            batch_loss=lambda e, b: float("nan"),
        )


# --- CSVLogger -------------------------------------------------------------------------------

CSV_LOGS = [
    {"loss": 0.5, "accuracy": 0.25, "val_loss": 0.6, "val_accuracy": 0.2},
    {"loss": 0.25, "accuracy": 0.5, "val_loss": 0.3, "val_accuracy": 0.4},
]


def test_csv_logger(tmp_path) -> None:
    path = tmp_path / "log.csv"
    simulate_fit(FakeModel(), [callbacks.CSVLogger(path)], CSV_LOGS)
    assert path.read_text().splitlines() == [
        "epoch,accuracy,loss,val_accuracy,val_loss",
        "0,0.25,0.5,0.2,0.6",
        "1,0.5,0.25,0.4,0.3",
    ]
    simulate_fit(FakeModel(), [callbacks.CSVLogger(path, separator=";", append=True)], CSV_LOGS)
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and lines[3] == "0;0.25;0.5;0.2;0.6"  # no second header
    with pytest.raises(ValueError, match="separator must be a single character"):
        callbacks.CSVLogger(path, separator="::")


@pytest.mark.parametrize(
    "logs",
    [CSV_LOGS, [{"loss": 0.5, "mae": 0.1}, {"loss": 0.4, "mae": 0.05}]],
    ids=["val", "no_val"],
)
def test_csv_logger_matches_keras(tmp_path, logs) -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = require("keras")
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    for _ in range(2):  # the second run appends
        simulate_fit(FakeModel(), [callbacks.CSVLogger(ours, separator="\t", append=True)], logs)
        keras_logger = keras.callbacks.CSVLogger(str(theirs), separator="\t", append=True)
        simulate_fit(FakeModel(), [_KerasAdapter(keras_logger)], logs)
    assert ours.read_bytes() == theirs.read_bytes()


# --- progress bar ----------------------------------------------------------------------------

LINE_TAIL = r" - \d+s \d+(us|ms|s)/step - loss: 0\.5000 - accuracy: 2\.5000e-04"


def test_progbar_verbose_1_without_a_terminal(capsys) -> None:
    logs = [{"loss": 0.5, "accuracy": 0.00025}] * 2
    simulate_fit(FakeModel(), [], logs, steps=3, verbose=1)
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == "Epoch 1/2"
    assert re.fullmatch(r"3/3 \[={30}\]" + LINE_TAIL, lines[1])
    assert lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"3/3 \[={30}\]" + LINE_TAIL, lines[3])
    assert lines[4:] == [""]


def test_progbar_verbose_2(capsys) -> None:
    simulate_fit(FakeModel(), [], [{"loss": 0.5, "accuracy": 0.00025}], steps=40, verbose=2)
    out = capsys.readouterr().out
    assert re.fullmatch(
        r"40/40 - \d+s - \d+(us|ms|s)/step - loss: 0\.5000 - accuracy: 2\.5000e-04\n", out
    )


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progbar_on_a_terminal_redraws_one_line() -> None:
    stream = FakeTerminal()
    bar = callbacks.Progbar(40, verbose=1, interval=0.0, stream=stream)
    bar.update(12, {"loss": 0.1234, "accuracy": 0.9})
    first = stream.getvalue()
    assert re.fullmatch(
        r"\r12/40 \[={8}>\.{21}\] - ETA: \d+s - loss: 0\.1234 - accuracy: 0\.9000", first
    )
    bar.update(40, {"loss": 0.1, "accuracy": 0.95}, finalize=True)
    second = stream.getvalue()[len(first) :]
    assert re.fullmatch(
        r"\r40/40 \[={30}\] - \d+s \d+(us|ms|s)/step - loss: 0\.1000 - accuracy: 0\.9500 *\n",
        second,
    )


def test_progbar_evaluate_and_unknown_steps(capsys) -> None:
    logger = callbacks.ProgbarLogger()
    logger.set_params({"verbose": 1, "epochs": 1, "steps": None})
    logger.on_test_begin()
    for batch in range(5):
        logger.on_test_batch_end(batch, {"loss": 2.0})
    logger.on_test_end({"loss": 2.0})
    assert re.fullmatch(
        r"5/5 \[={30}\] - \d+s \d+(us|ms|s)/step - loss: 2\.0000\n", capsys.readouterr().out
    )


def test_lambda_batch_hooks_run_in_a_real_fit() -> None:
    """fit skips per-batch dispatch when no callback has batch hooks; a LambdaCallback's hooks
    are instance attributes and must count (they once did not)."""
    import rnnkit
    from rnnkit.layers import Dense, Input

    model = rnnkit.Sequential([Input((3,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen = []
    model.fit(
        np.ones((8, 3)),
        np.ones(8),
        batch_size=4,
        epochs=2,
        verbose=0,
        callbacks=[
            callbacks.LambdaCallback(
                on_train_batch_begin=lambda b, logs: seen.append(("begin", b)),
                on_train_batch_end=lambda b, logs: seen.append(("end", b, round(logs["loss"], 6))),
            )
        ],
    )
    assert [s[:2] for s in seen] == [("begin", 0), ("end", 0), ("begin", 1), ("end", 1)] * 2
