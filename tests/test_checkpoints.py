"""Training checkpoints: exact resume (in-process and in a new process), BackupAndRestore,
ModelCheckpoint (Keras semantics, file names from the logs), and callbacks' state."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import rnnkit
from rnnkit.callbacks import (
    BackupAndRestore,
    Callback,
    EarlyStopping,
    LambdaCallback,
    ModelCheckpoint,
    ReduceLROnPlateau,
)
from rnnkit.layers import GRU, LSTM, Dense, Dropout
from rnnkit.utils import set_random_seed

T, F = 5, 3
EPOCHS, STOP = 5, 2


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, F)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64)
    return x, y


def build(seed=0, stateful=False):
    """A model whose training uses every random source: init, dropout (global and seeded),
    shuffling; Adam with a schedule-free learning rate that ReduceLROnPlateau changes."""
    set_random_seed(seed)
    layers = [
        LSTM(6, return_sequences=True, dropout=0.2, seed=5, input_shape=(T, F)),
        Dropout(0.3),
        GRU(4, dropout=0.1),
        Dense(2, activation="softmax"),
    ]
    model = rnnkit.Sequential(layers)
    model.compile(rnnkit.optimizers.Adam(5e-3), "sparse_categorical_crossentropy", ["accuracy"])
    return model


def callbacks():
    return [
        ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10.0),
        EarlyStopping("val_loss", patience=100, restore_best_weights=True),
    ]


FIT = {"batch_size": 8, "validation_split": 0.25, "verbose": 0}


def straight_through():
    model = build()
    history = model.fit(*data(), epochs=EPOCHS, callbacks=callbacks(), **FIT)
    return model, history.history


def checkpoint_at_stop(path):
    """Train STOP epochs and checkpoint; returns the callbacks (their state is in the file)."""
    model = build()
    cbs = callbacks()
    model.fit(*data(), epochs=STOP, callbacks=cbs, **FIT)
    model.save_checkpoint(path, callbacks=cbs)
    return cbs


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert wa.tobytes() == wb.tobytes()


def test_resume_from_checkpoint_is_bitwise_straight_through(tmp_path):
    expected, expected_history = straight_through()
    cbs = checkpoint_at_stop(tmp_path / "ck.rnnkit")
    assert cbs[0].wait == 0 and cbs[0].model.optimizer.learning_rate < 5e-3  # state to restore
    rnnkit._random.seed(123)  # the RNG moves on in between; the checkpoint puts it back
    fresh = build(seed=99)  # other initial weights: all overwritten
    history = fresh.fit(*data(), epochs=EPOCHS, callbacks=callbacks(),
                        resume_from=tmp_path / "ck.rnnkit", **FIT)
    assert history.epoch == list(range(STOP, EPOCHS))
    assert history.history["loss"] == expected_history["loss"][STOP:]
    assert history.history["learning_rate"] == expected_history["learning_rate"][STOP:]
    assert fresh.optimizer.iterations == expected.optimizer.iterations
    assert_same_weights(fresh, expected)


def test_resume_in_a_new_process_is_bitwise_straight_through(tmp_path):
    expected, _ = straight_through()
    checkpoint_at_stop(tmp_path / "ck.rnnkit")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_checkpoints import build, callbacks, data, FIT, EPOCHS
        model = build(seed=7)
        model.fit(*data(), epochs=EPOCHS, callbacks=callbacks(), resume_from=sys.argv[1], **FIT)
        model.save(sys.argv[2])
        """
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ck.rnnkit"), str(tmp_path / "out.rnnkit")],
        check=True,
    )
    assert_same_weights(rnnkit.load_model(tmp_path / "out.rnnkit"), expected)


class _Crash(Callback):
    """Interrupts training at the start of an epoch, as a crash or Ctrl-C would."""

    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def test_backup_and_restore_resumes_exactly_after_an_interruption(tmp_path):
    expected, _ = straight_through()
    backup = tmp_path / "backup"
    model = build()
    with pytest.raises(KeyboardInterrupt):
        model.fit(*data(), epochs=EPOCHS, callbacks=[*callbacks(), BackupAndRestore(backup),
                                                     _Crash(3)], **FIT)
    assert os.listdir(backup) == ["checkpoint.rnnkit"]
    assert rnnkit.io.read_metadata(backup / "checkpoint.rnnkit")["training"]["epoch"] == 3
    model = build(seed=1)
    history = model.fit(*data(), epochs=EPOCHS, callbacks=[BackupAndRestore(backup),
                                                           *callbacks()], **FIT)
    assert history.epoch == [3, 4]
    assert_same_weights(model, expected)
    assert not backup.exists()  # deleted after a finished run


def test_backup_and_restore_with_batch_frequency_and_kept_checkpoint(tmp_path):
    model = build()
    backup = BackupAndRestore(tmp_path / "b", save_freq=4, delete_checkpoint=False)
    model.fit(*data(), epochs=2, callbacks=[backup], batch_size=8, verbose=0)  # 6 steps/epoch
    meta = rnnkit.io.read_metadata(tmp_path / "b" / "checkpoint.rnnkit")
    assert meta["training"]["epoch"] == 1  # the last backup was taken during epoch 1
    with pytest.raises(ValueError, match="save_freq"):
        BackupAndRestore(tmp_path, save_freq=0)
    with pytest.raises(ValueError, match="backup_dir"):
        BackupAndRestore("")


def test_stateful_layers_and_carried_states_resume(tmp_path):
    def make():
        set_random_seed(0)
        model = rnnkit.Sequential(
            [rnnkit.layers.Input(batch_shape=(4, T, F)), LSTM(3, stateful=True), Dense(1)]
        )
        model.compile("sgd", "mse")
        return model

    x, y = data(16)
    y = y.astype(np.float32)
    expected = make()
    expected.fit(x, y, epochs=4, batch_size=4, shuffle=False, verbose=0)
    model = make()
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    model.save_checkpoint(tmp_path / "ck.rnnkit")
    resumed = make()
    resumed.fit(x, y, epochs=4, batch_size=4, shuffle=False, verbose=0,
                resume_from=tmp_path / "ck.rnnkit")
    assert_same_weights(resumed, expected)
    for a, b in zip(resumed.layers[0].states, expected.layers[0].states):
        assert a.tobytes() == b.tobytes()


def test_resume_from_errors(tmp_path):
    model = build()
    x, y = data()
    with pytest.raises(FileNotFoundError):
        model.fit(x, y, epochs=1, verbose=0, resume_from=tmp_path / "missing.rnnkit")
    model.save(tmp_path / "model.rnnkit")
    with pytest.raises(ValueError, match="not a checkpoint"):
        model.fit(x, y, epochs=1, verbose=0, resume_from=tmp_path / "model.rnnkit")
    model.save_checkpoint(tmp_path / "ck.rnnkit")
    other = rnnkit.Sequential([GRU(2, input_shape=(T, F)), Dense(2, activation="softmax")])
    other.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="weight"):
        other.fit(x, y, epochs=1, verbose=0, resume_from=tmp_path / "ck.rnnkit")
    sgd = build()
    sgd.compile("sgd", "sparse_categorical_crossentropy")
    sgd.fit(x, y, epochs=1, verbose=0)
    sgd.save_checkpoint(tmp_path / "sgd.rnnkit")
    with pytest.raises(ValueError, match="optimizer"):
        model.fit(x, y, epochs=1, verbose=0, resume_from=tmp_path / "sgd.rnnkit")
    sgd.save_checkpoint(tmp_path / "es.rnnkit", callbacks=[EarlyStopping("loss")])
    with pytest.warns(UserWarning, match="EarlyStopping/0"):
        sgd.fit(x, y, epochs=2, verbose=0, resume_from=tmp_path / "es.rnnkit")


def test_callback_states_round_trip():
    es = EarlyStopping("loss", patience=3, restore_best_weights=True)
    es.wait, es.best, es.best_epoch, es._sign = 2, 0.5, 4, -1
    es.best_weights = [np.ones(3, np.float32)]
    copy = EarlyStopping("loss", patience=3, restore_best_weights=True)
    copy.set_state(es.get_state())
    assert (copy.wait, copy.best, copy.best_epoch, copy._sign) == (2, 0.5, 4, -1)
    assert np.array_equal(copy.best_weights[0], es.best_weights[0])
    lr = ReduceLROnPlateau(cooldown=2)
    lr.wait, lr.cooldown_counter, lr.best = 1, 2, 0.25
    again = ReduceLROnPlateau(cooldown=2)
    again.set_state(lr.get_state())
    assert (again.wait, again.cooldown_counter, again.best) == (1, 2, 0.25)


# ---- ModelCheckpoint ----------------------------------------------------------------------------


def _scripted_val_loss(values):
    """A callback that sets each epoch's val_loss (ModelCheckpoint runs after it)."""
    return LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(val_loss=values[epoch]))


def test_model_checkpoint_formats_file_names_from_the_logs(tmp_path):
    model = build()
    x, y = data()
    pattern = str(tmp_path / "ck" / "m-{epoch:02d}-{val_loss:.2f}.rnnkit")
    cb = ModelCheckpoint(pattern)
    model.fit(x, y, epochs=3, callbacks=[cb, _scripted_val_loss([0.5, 0.25, 0.75])], verbose=0)
    assert sorted(os.listdir(tmp_path / "ck")) == [
        "m-01-0.50.rnnkit", "m-02-0.25.rnnkit", "m-03-0.75.rnnkit",
    ]
    last = rnnkit.load_model(tmp_path / "ck" / "m-03-0.75.rnnkit")
    assert_same_weights(last, model)
    with pytest.raises(KeyError, match="nope"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "{nope}"))])


def test_model_checkpoint_save_best_only(tmp_path, capsys):
    model = build()
    x, y = data()
    path = tmp_path / "best.rnnkit"
    saved = []
    cb = ModelCheckpoint(path, monitor="val_loss", save_best_only=True, verbose=1)
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: saved.append(path.exists() and
                                                                          path.stat().st_mtime_ns))
    model.fit(x, y, epochs=4, verbose=0,
              callbacks=[_scripted_val_loss([0.5, 0.6, 0.4, 0.45]), cb, record])
    out = capsys.readouterr().out
    assert "val_loss improved from inf to 0.50000" in out
    assert "val_loss did not improve from 0.50000" in out
    assert "val_loss improved from 0.50000 to 0.40000" in out
    assert cb.best == 0.4
    # record runs before the writer (writers go last), so it sees the previous epoch's file.
    assert saved[0] is False and saved[1] == saved[2] != saved[3]


def test_model_checkpoint_threshold_mode_weights_only_and_batches(tmp_path):
    model = build()
    x, y = data()
    cb = ModelCheckpoint(tmp_path / "never.rnnkit", save_best_only=True,
                         initial_value_threshold=0.1)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[_scripted_val_loss([0.5, 0.2]), cb])
    assert not (tmp_path / "never.rnnkit").exists()
    cb = ModelCheckpoint(tmp_path / "acc.rnnkit", monitor="accuracy", save_best_only=True)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert cb._sign == 1 and (tmp_path / "acc.rnnkit").exists()
    cb = ModelCheckpoint(str(tmp_path / "w-{epoch}-{batch}.rnnkit"), save_weights_only=True,
                         save_freq=3)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[cb])  # 6 steps
    assert sorted(os.listdir(tmp_path)) == [
        "acc.rnnkit", "w-1-3.rnnkit", "w-1-6.rnnkit",
    ]
    assert rnnkit.io.read_metadata(tmp_path / "w-1-6.rnnkit")["content"] == "weights"
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint(tmp_path / "x", save_freq="batch")
