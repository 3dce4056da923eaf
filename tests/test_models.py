"""Models: Sequential and functional construction, the training loop and its options,
determinism, configs, and clear errors for bad input to every public call."""

from __future__ import annotations

import importlib.util
import io
import pathlib
from contextlib import redirect_stdout

import numpy as np
import pytest
import rnnkit
import rnnkit.models
import rnnkit.optimizers
from rnnkit.callbacks import Callback
from rnnkit.layers import (
    GRU,
    LSTM,
    Dense,
    Dropout,
    Embedding,
    Input,
    SimpleRNN,
)
from rnnkit.utils import Sequence, set_random_seed

ROOT = pathlib.Path(__file__).resolve().parents[1]
B, T, F = 16, 5, 3


def regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, F)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None] * 0.3
    return x, y


def small_model(units=8, **compile_args):
    model = rnnkit.Sequential([GRU(units, input_shape=(T, F)), Dense(1)])
    model.compile(**{"optimizer": "adam", "loss": "mse", **compile_args})
    return model


# ---- the seed article --------------------------------------------------------------------------


def test_seed_article_program_1_predicts_101():
    spec = importlib.util.spec_from_file_location(
        "seed_regression", ROOT / "examples/seed_regression.py"
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    predictions = []
    for seed in range(5):
        with redirect_stdout(io.StringIO()) as out:
            prediction, _ = example.main(seed)
        assert "Predicted next number after [98, 99, 100]:" in out.getvalue()
        predictions.append(prediction)
    assert sum(abs(p - 101) <= 1.5 for p in predictions) >= 4, predictions


def test_seed_article_program_2_model_part():
    """Embedding(input_length) + SimpleRNN + Dense(softmax), categorical CE, accuracy."""
    set_random_seed(0)
    rng = np.random.default_rng(0)
    total_words, max_len = 20, 6
    x = rng.integers(0, total_words, (24, max_len - 1))
    x[:, :2] = 0  # pre-padding, as pad_sequences makes it
    labels = (x[:, -1] + 1) % total_words
    y = np.eye(total_words)[labels]
    model = rnnkit.Sequential(
        [
            Embedding(input_dim=total_words, output_dim=10, input_length=max_len - 1),
            SimpleRNN(units=64),
            Dense(total_words, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    lines: list[str] = []
    model.summary(print_fn=lines.append)  # built from input_length, before any data
    assert "Total params: 6,300" in lines[0]  # 200 + 4800 + 1300 (Keras's counts)
    history = model.fit(x, y, epochs=200, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    assert np.argmax(model.predict(x[:3], verbose=0), axis=-1).tolist() == labels[:3].tolist()


# ---- building ----------------------------------------------------------------------------------


def test_sequential_ways_to_build_agree():
    x, _ = regression_data()
    set_random_seed(1)
    a = rnnkit.Sequential([Input((T, F)), LSTM(4), Dense(2)])
    set_random_seed(1)
    b = rnnkit.Sequential()
    b.add(LSTM(4, input_shape=(T, F)))
    b.add(Dense(2))
    set_random_seed(1)
    c = rnnkit.Sequential([LSTM(4), Dense(2)])  # built from the data
    with pytest.raises(ValueError, match="not built yet"):
        c.summary()
    out = c.predict(x, verbose=0)
    np.testing.assert_array_equal(a.predict(x, verbose=0), out)
    np.testing.assert_array_equal(b.predict(x, verbose=0), out)
    np.testing.assert_array_equal(c(x), out)
    assert a.layers[0].name.startswith("lstm")
    assert a.count_params() == 4 * (4 * (F + 4 + 1)) + 10


def test_functional_multi_input_output_and_nested_model():
    x1, x2 = np.ones((2, T, F), np.float32), np.ones((2, 4), np.float32)
    inner = rnnkit.Sequential([Dense(3, activation="relu"), Dense(2)], name="head")
    a, b = Input((T, F), name="seq"), Input((4,), name="vec")
    h = LSTM(4)(a)
    merged = rnnkit.layers.Concatenate()([h, b])
    model = rnnkit.Model({"seq": a, "vec": b}, [inner(merged), Dense(1, name="aux")(h)])
    out = model.predict({"seq": x1, "vec": x2}, verbose=0)
    assert [o.shape for o in out] == [(2, 2), (2, 1)]
    np.testing.assert_allclose(model([x1, x2])[0], out[0], rtol=1e-6)
    model.compile("adam", ["mse", "mse"], metrics=[["mae"], []])
    logs = model.fit([x1, x2], [np.zeros((2, 2)), np.zeros((2, 1))], epochs=2, verbose=0)
    assert {"loss", "head_loss", "aux_loss", "head_mae"} <= set(logs.history)
    with pytest.raises(ValueError, match="graph disconnected"):
        rnnkit.Model(a, Dense(1)(rnnkit.layers.Concatenate()([h, b])))


def test_config_roundtrip_rebuilds_the_same_architecture():
    enc, dec = Input((None, F)), Input((None, F))
    _, h, c = LSTM(4, return_state=True)(enc)
    seq = LSTM(4, return_sequences=True)(dec, initial_state=[h, c])
    functional = rnnkit.Model([enc, dec], Dense(2)(seq))
    sequential = rnnkit.Sequential(
        [Input((T,), dtype="int32"), Embedding(9, 3, mask_zero=True), GRU(2), Dense(1)]
    )
    for model, x in (
        (functional, [np.ones((2, T, F)), np.ones((2, 3, F))]),
        (sequential, np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 7]])),
    ):
        rebuilt = type(model).from_config(model.get_config())
        assert rebuilt.get_config()["layers"] == model.get_config()["layers"]
        rebuilt.set_weights(model.get_weights())
        np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))


# ---- training ----------------------------------------------------------------------------------


def test_fit_reduces_loss_and_history_has_validation():
    x, y = regression_data()
    set_random_seed(0)
    model = small_model(optimizer=rnnkit.optimizers.Adam(0.01))
    history = model.fit(x, y, epochs=30, validation_split=0.25, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 30 and losses[-1] < 0.5 * losses[0]
    assert len(history.history["val_loss"]) == 30
    assert model.history is history
    val = model.evaluate(x[48:], y[48:], verbose=0)
    assert val == pytest.approx(history.history["val_loss"][-1], rel=1e-5)


def test_same_seed_gives_bitwise_same_weights():
    x, y = regression_data()

    def train():
        set_random_seed(42)
        model = rnnkit.Sequential(
            [LSTM(6, dropout=0.2, input_shape=(T, F)), Dropout(0.3), Dense(1)]
        )
        model.compile("adam", "mse")
        model.fit(x, y, batch_size=8, epochs=3, verbose=0)
        return model.get_weights()

    for a, b in zip(train(), train()):
        np.testing.assert_array_equal(a, b)


def test_verbose_modes_print_progress():
    x, y = regression_data(32)
    model = small_model()
    with redirect_stdout(io.StringIO()) as out:
        model.fit(x, y, epochs=2, verbose=2)
    assert "Epoch 2/2" in out.getvalue() and "loss:" in out.getvalue()
    with redirect_stdout(io.StringIO()) as out:
        model.fit(x, y, epochs=1, verbose=0)
    assert out.getvalue() == ""


def test_callbacks_hooks_stop_training_and_initial_epoch():
    x, y = regression_data(32)
    model = small_model()
    events = []

    class Recorder(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            events.append(("epoch", epoch))

        def on_train_batch_end(self, batch, logs=None):
            events.append(("batch", batch, round(logs["loss"], 6) > 0))
            if len([e for e in events if e[0] == "batch"]) == 5:
                self.model.stop_training = True

    history = model.fit(
        x, y, batch_size=8, epochs=10, initial_epoch=3, callbacks=[Recorder()], verbose=0
    )
    assert events[0] == ("epoch", 3) and ("epoch", 4) in events and ("epoch", 5) not in events
    assert len(history.history["loss"]) == 2


class Batches(Sequence):
    def __init__(self, x, y, batch):
        super().__init__()
        self.x, self.y, self.batch, self.epochs_ended = x, y, batch, 0

    def __len__(self):
        return len(self.x) // self.batch

    def __getitem__(self, i):
        s = slice(i * self.batch, (i + 1) * self.batch)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_sequence_and_generator_inputs_match_arrays():
    x, y = regression_data(32)
    seq = Batches(x, y, 8)

    def fresh():
        set_random_seed(5)
        return small_model(optimizer=rnnkit.optimizers.SGD(0.05))

    arrays = fresh()
    arrays.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    from_sequence = fresh()
    from_sequence.fit(seq, epochs=2, verbose=0)
    assert seq.epochs_ended == 2

    def generator():
        while True:
            for i in range(4):
                yield seq[i]

    from_generator = fresh()
    from_generator.fit(generator(), steps_per_epoch=4, epochs=2, verbose=0, validation_data=seq)
    for a, b, c in zip(
        arrays.get_weights(), from_sequence.get_weights(), from_generator.get_weights()
    ):
        np.testing.assert_allclose(b, a, rtol=1e-6)
        np.testing.assert_allclose(c, a, rtol=1e-6)
    predicted = from_sequence.predict(seq, verbose=0)
    np.testing.assert_allclose(predicted, from_sequence.predict(x, verbose=0), rtol=1e-6)


def test_class_weight_equals_sample_weight():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    labels = rng.integers(0, 3, B)
    model = rnnkit.Sequential([SimpleRNN(4, input_shape=(T, F)), Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    as_samples = np.array([weights[c] for c in labels])
    loss_cw = model.test_on_batch(x, labels, sample_weight=as_samples)
    start = model.get_weights()
    model.train_on_batch(x, labels, class_weight=weights)
    after_cw = model.get_weights()
    model.set_weights(start)
    model.train_on_batch(x, labels, sample_weight=as_samples)
    for a, b in zip(after_cw, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert isinstance(loss_cw, list) and len(loss_cw) == 2
    with pytest.raises(ValueError, match="no weight for class"):
        model.train_on_batch(x, labels, class_weight={0: 1.0, 1: 2.0})


def test_frozen_layer_is_not_updated():
    x, y = regression_data(32)
    model = small_model()
    model.layers[0].trainable = False
    frozen = model.layers[0].get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(frozen, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(model.trainable_weights) == 2


def test_on_batch_methods_and_evaluate_formats():
    x, y = regression_data(32)
    model = small_model(metrics=["mae"])
    before = model.test_on_batch(x, y)
    model.train_on_batch(x, y)
    after = model.test_on_batch(x, y, return_dict=True)
    assert set(after) == {"loss", "mae"} and after["loss"] < before[0]
    np.testing.assert_allclose(
        model.predict_on_batch(x), model.predict(x, batch_size=7, verbose=0), rtol=1e-5, atol=1e-7
    )
    assert model.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(
        after["loss"], rel=1e-5
    )


def test_softmax_crossentropy_fusion_is_stable():
    """Saturated softmax outputs: the fused logits gradient stays finite and exact."""
    x = np.ones((2, T, F), np.float32)
    model = rnnkit.Sequential([SimpleRNN(3, input_shape=(T, F)), Dense(4, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.layers[1].set_weights([np.full((3, 4), 0.0), np.array([0.0, 200.0, 0.0, 0.0])])
    loss, grads = model.compute_gradients(x, np.array([0, 1]))
    assert np.isfinite(loss) and loss == pytest.approx(100.0, rel=1e-4)  # -log softmax = 200/2
    np.testing.assert_allclose(grads[-1], [-0.5, 0.5, 0.0, 0.0], atol=1e-6)


def test_truncated_bptt_needs_stateful_layers():
    model = small_model()
    with pytest.raises(ValueError, match="must be stateful"):
        rnnkit.models.train_truncated_bptt(model, np.zeros((2, T, F)), np.zeros((2, T, 1)), 2)


# ---- errors ------------------------------------------------------------------------------------


def test_errors_name_the_argument():
    x, y = regression_data(8)
    model = rnnkit.Sequential([GRU(4, input_shape=(T, F)), Dense(1)])
    with pytest.raises(RuntimeError, match="must be compiled first"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="unknown loss 'mse2'; valid names"):
        model.compile("adam", "mse2")
    with pytest.raises(ValueError, match="adam"):
        model.compile("adamm", "mse")
    with pytest.raises(ValueError, match="loss is required"):
        model.compile("adam")
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match=r"input x has shape \(8, 5\), expected 3 dimensions"):
        model.predict(x[..., 0], verbose=0)
    with pytest.raises(ValueError, match=r"input x has shape \(8, 5, 2\).*axis 2 must be 3"):
        model.fit(x[..., :2], y, verbose=0)
    with pytest.raises(ValueError, match=r"y \(y_true\) has shape \(8, 2\)"):
        model.fit(x, np.zeros((8, 2)), verbose=0)
    with pytest.raises(ValueError, match="different numbers of samples"):
        model.fit(x, y[:5], verbose=0)
    with pytest.raises(ValueError, match="y is required"):
        model.fit(x, verbose=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="verbose must be"):
        model.fit(x, y, verbose=3)
    with pytest.raises(ValueError, match="validation_split must be in"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight has shape \(3,\)"):
        model.fit(x, y, sample_weight=np.ones(3), verbose=0)
    with pytest.raises(TypeError, match="dtype <U1"):
        model.predict(np.full((2, T, F), "a"), verbose=0)
    sparse = rnnkit.Sequential([GRU(4, input_shape=(T, F)), Dense(3, activation="softmax")])
    sparse.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\]"):
        sparse.fit(x, np.full(8, 3), verbose=0)
    with pytest.raises(ValueError, match="every layer of a Sequential model must have one"):
        rnnkit.Sequential([Input((T, F)), LSTM(3, return_state=True)])
    with pytest.raises(ValueError, match="x must be a list or dict of 2 arrays"):
        a, b = Input((3,)), Input((3,))
        two = rnnkit.Model([a, b], rnnkit.layers.Add()([a, b]))
        two.predict(np.ones((2, 3)), verbose=0)


def test_compile_before_the_input_shape_is_known_applies_at_first_fit() -> None:
    """Keras lets a Sequential whose first layer has no input shape be compiled before data."""
    import rnnkit
    from rnnkit.layers import LSTM, Dense, Embedding

    def build(compile_first: bool):
        rnnkit.utils.set_random_seed(3)
        model = rnnkit.Sequential([Embedding(12, 4), LSTM(5), Dense(12, activation="softmax")])
        x = np.random.default_rng(0).integers(0, 12, (16, 6))
        y = np.random.default_rng(1).integers(0, 12, (16,))
        if compile_first:
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        else:
            model.build((None, 6))
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        return model.get_weights()

    for a, b in zip(build(True), build(False)):
        np.testing.assert_array_equal(a, b)


def test_deferred_compile_still_checks_names_and_order() -> None:
    import rnnkit
    from rnnkit.layers import LSTM, Embedding

    model = rnnkit.Sequential([Embedding(12, 4), LSTM(5)])
    with pytest.raises(ValueError, match="no_such_loss"):
        model.compile(optimizer="adam", loss="no_such_loss")
    with pytest.raises(ValueError, match="nadamx"):
        model.compile(optimizer="nadamx", loss="mse")
    with pytest.raises(RuntimeError, match="compiled"):
        rnnkit.Sequential([Embedding(12, 4), LSTM(5)]).fit(np.zeros((2, 3), int),
                                                           np.zeros((2, 5)), verbose=0)
