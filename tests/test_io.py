"""Model files (rnnkit.io): bitwise round trips for every layer type, compile state, tokenizers,
weights files, pickling, format versions and old-format fixtures, broken and hostile files, and
atomic writes under SIGKILL."""

from __future__ import annotations

import copy
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import rnnkit
from rnnkit import io as rio
from rnnkit.io import _container
from rnnkit.layers import (
    GRU,
    LSTM,
    Activation,
    Add,
    Bidirectional,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    Masking,
    RepeatVector,
    SimpleRNN,
    TimeDistributed,
)
from rnnkit.text import Tokenizer
from rnnkit.utils import set_random_seed

DATA = os.path.join(os.path.dirname(__file__), "data")
B, T, F = 4, 6, 3
RNG = np.random.default_rng(0)
X = RNG.standard_normal((B, T, F)).astype(np.float32)
IDS = np.array([[3, 1, 4, 1, 5, 0], [9, 2, 6, 0, 0, 0], [5, 3, 5, 8, 9, 7], [1, 0, 0, 0, 0, 0]])


def _perturb(model: rnnkit.Model) -> None:
    """Non-zero biases everywhere, so that a lost bias cannot go unnoticed."""
    rng = np.random.default_rng(1)
    model.set_weights([w + 0.1 * rng.standard_normal(w.shape) for w in model.get_weights()])


def _sequential(*layers):
    return lambda: (rnnkit.Sequential(list(layers)), X)


def _models():
    """name -> () -> (model, input): every layer type and model shape."""

    def encoder_decoder():
        enc_in, dec_in = Input((T, F)), Input((T, F))
        _, h, c = LSTM(5, return_state=True)(enc_in)
        y = LSTM(5, return_sequences=True)(dec_in, initial_state=[h, c])
        out = TimeDistributed(Dense(2, activation="softmax"))(y)
        return rnnkit.Model([enc_in, dec_in], out), [X, X[::-1].copy()]

    def two_outputs():
        inp = Input((T, F))
        a = GRU(4, return_sequences=True, reset_after=False)(inp)
        b = SimpleRNN(4, return_sequences=True, activation="relu")(inp)
        merged = Concatenate()([a, b])
        summed = Add()([a, b])
        return rnnkit.Model(inp, {"m": Dense(2)(Flatten()(merged)), "s": GRU(3)(summed)}), X

    def embedding_masked():
        model = rnnkit.Sequential(
            [
                Embedding(10, 4, mask_zero=True),
                Bidirectional(GRU(3, return_sequences=True)),
                LSTM(3),
                Dense(3, activation="softmax"),
            ]
        )
        model.build((None, T))
        return model, IDS

    def stateful():
        model = rnnkit.Sequential(
            [Input(batch_shape=(B, T, F)), LSTM(4, stateful=True, return_sequences=True),
             SimpleRNN(2, stateful=True)]
        )
        model.predict(X, verbose=0)  # carried states are non-zero now
        return model, X

    return {
        "simple_rnn_tanh": _sequential(SimpleRNN(5, input_shape=(T, F)), Dense(1)),
        "simple_rnn_relu": _sequential(SimpleRNN(5, activation="relu", input_shape=(T, F))),
        "lstm_sequences": _sequential(LSTM(5, return_sequences=True, input_shape=(T, F))),
        "gru_reset_after": _sequential(GRU(5, input_shape=(T, F))),
        "gru_reset_before": _sequential(GRU(5, reset_after=False, input_shape=(T, F))),
        "lstm_go_backwards": _sequential(LSTM(4, go_backwards=True, input_shape=(T, F))),
        **{
            f"bidirectional_{mode}": _sequential(
                Bidirectional(LSTM(3, return_sequences=True), merge_mode=mode, input_shape=(T, F)),
                GRU(2),
            )
            for mode in ("concat", "sum", "mul", "ave")
        },
        "masking_dropout_activation": _sequential(
            Masking(0.0, input_shape=(T, F)), Dropout(0.3), GRU(4), Activation("tanh"), Dense(2)
        ),
        "repeat_vector_time_distributed": _sequential(
            LSTM(4, input_shape=(T, F)), RepeatVector(3), GRU(3, return_sequences=True),
            TimeDistributed(Dense(2)),
        ),
        "embedding_masked": embedding_masked,
        "encoder_decoder": encoder_decoder,
        "two_outputs": two_outputs,
        "stateful": stateful,
    }


def _predict(model, x):
    out = model.predict(x, verbose=0)
    return out if isinstance(out, list) else [out]


@pytest.mark.parametrize("name", sorted(_models()))
def test_save_load_predicts_bitwise_identically(tmp_path, name):
    model, x = _models()[name]()
    _perturb(model)
    path = tmp_path / "model.rnnkit"
    model.save(path)
    loaded = rnnkit.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    assert loaded.weight_names == model.weight_names
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    for a, b in zip(_predict(model, x), _predict(loaded, x)):
        assert a.tobytes() == b.tobytes()


def test_loading_leaves_the_global_rng_alone(tmp_path):
    model, _ = _models()["lstm_sequences"]()
    model.save(tmp_path / "m.rnnkit")
    set_random_seed(3)
    expected = rnnkit._random.generator().random(4)
    set_random_seed(3)
    rnnkit.load_model(tmp_path / "m.rnnkit")
    assert np.array_equal(rnnkit._random.generator().random(4), expected)


def test_unbuilt_sequential_round_trips(tmp_path):
    model = rnnkit.Sequential([LSTM(3), Dense(1)])
    model.save(tmp_path / "m.rnnkit")
    loaded = rnnkit.load_model(tmp_path / "m.rnnkit")
    assert [type(layer).__name__ for layer in loaded.layers] == ["LSTM", "Dense"]
    assert loaded.weights == []


# ---- compile state, tokenizer, weights files ------------------------------------------------------


def _trained(seed=0):
    set_random_seed(seed)
    model = rnnkit.Sequential([GRU(6, input_shape=(T, F)), Dropout(0.2), Dense(3, "softmax")])
    model.compile(
        rnnkit.optimizers.Adam(3e-3, clipnorm=1.0),
        "sparse_categorical_crossentropy",
        metrics=["accuracy", "sparse_categorical_accuracy"],
    )
    x = np.random.default_rng(seed).standard_normal((32, T, F)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.int64) + (x[:, 0, 0] > 1)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return model, x, y


def test_loaded_model_continues_training_like_the_original(tmp_path):
    model, x, y = _trained()
    model.save(tmp_path / "m.rnnkit")
    loaded = rnnkit.load_model(tmp_path / "m.rnnkit")
    assert loaded.compiled and type(loaded.optimizer).__name__ == "Adam"
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 8
    assert loaded.metrics_names == model.metrics_names
    state = rnnkit._random.get_state()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    rnnkit._random.set_state(state)
    loaded.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.tobytes() == b.tobytes()
    assert model.evaluate(x, y, verbose=0) == loaded.evaluate(x, y, verbose=0)


def test_compile_false_and_include_optimizer_false(tmp_path):
    model, _, _ = _trained()
    model.save(tmp_path / "m.rnnkit", include_optimizer=False)
    assert not rnnkit.load_model(tmp_path / "m.rnnkit", compile=False).compiled
    loaded = rnnkit.load_model(tmp_path / "m.rnnkit")
    assert loaded.compiled and loaded.optimizer.iterations == 0


def test_tokenizer_travels_with_the_model(tmp_path):
    tok = Tokenizer(num_words=20, oov_token="<unk>")
    tok.fit_on_texts(["the cat sat on the mat", "the dog ate the cat"])
    model, _ = _models()["embedding_masked"]()
    model.save(tmp_path / "a.rnnkit", tokenizer=tok)
    loaded = rnnkit.load_model(tmp_path / "a.rnnkit")
    assert loaded.tokenizer.to_dict() == tok.to_dict()
    assert loaded.tokenizer.texts_to_sequences(["the cat"]) == tok.texts_to_sequences(["the cat"])
    loaded.save(tmp_path / "b.rnnkit")  # the attribute is saved too
    assert rnnkit.load_model(tmp_path / "b.rnnkit").tokenizer.word_index == tok.word_index
    assert rnnkit.load_model(tmp_path / "b.rnnkit", compile=False).tokenizer is not None
    with pytest.raises(TypeError, match="Tokenizer"):
        model.save(tmp_path / "c.rnnkit", tokenizer={"a": 1})


def test_weights_files(tmp_path):
    model, _ = _models()["bidirectional_concat"]()
    _perturb(model)
    model.save_weights(tmp_path / "w.rnnkit")
    other, _ = _models()["bidirectional_concat"]()  # other layer names, other weights
    assert other.weight_names != model.weight_names
    other.load_weights(tmp_path / "w.rnnkit")
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other.get_weights()))
    with pytest.raises(ValueError, match="weights only"):
        rnnkit.load_model(tmp_path / "w.rnnkit")
    model.save(tmp_path / "m.rnnkit")
    other.load_weights(tmp_path / "m.rnnkit")  # a model file holds weights too
    wrong, _ = _models()["lstm_sequences"]()
    before = wrong.get_weights()
    with pytest.raises(ValueError, match="weight"):
        wrong.load_weights(tmp_path / "w.rnnkit")
    assert all(np.array_equal(a, b) for a, b in zip(before, wrong.get_weights()))


def test_keras_extensions_warn_and_still_write_rnnkit_files(tmp_path):
    model, x = _models()["gru_reset_after"]()
    for name in ("m.h5", "m.keras", "w.weights.h5"):
        with pytest.warns(UserWarning, match="rnnkit writes its own format"):
            (model.save_weights if name.startswith("w") else model.save)(tmp_path / name)
    assert np.array_equal(rnnkit.load_model(tmp_path / "m.keras").predict(x, verbose=0),
                          model.predict(x, verbose=0))
    assert rnnkit.models.load_model(tmp_path / "m.h5").get_config() == model.get_config()


def test_overwrite_false_and_io_errors(tmp_path):
    model, _ = _models()["gru_reset_after"]()
    model.save(tmp_path / "m.rnnkit")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m.rnnkit", overwrite=False)
    with pytest.raises(IsADirectoryError):
        model.save(tmp_path)
    with pytest.raises(FileNotFoundError):
        model.save(tmp_path / "missing-folder" / "m.rnnkit")
    with pytest.raises(FileNotFoundError):
        rnnkit.load_model(tmp_path / "nope.rnnkit")
    with pytest.raises(IsADirectoryError):
        rnnkit.load_model(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["m.rnnkit"]  # no temporary file left behind


def test_pickle_and_deepcopy_carry_the_file_bytes():
    model, x, _ = _trained()
    model.tokenizer = Tokenizer()
    model.tokenizer.fit_on_texts(["a b c"])
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert clone is not model and clone.compiled
        assert clone.predict(x, verbose=0).tobytes() == model.predict(x, verbose=0).tobytes()
        assert clone.optimizer.iterations == model.optimizer.iterations
        assert clone.tokenizer.word_index == model.tokenizer.word_index
    payload = pickle.dumps(model)
    assert b"rnnkit.io" in payload and b"_model_from_bytes" in payload


def test_file_layout_is_plain_safetensors(tmp_path):
    """Any safetensors reader sees the weights; the metadata is one JSON document."""
    from safetensors.numpy import load_file

    model, _, _ = _trained()
    model.save(tmp_path / "m.rnnkit")
    tensors = load_file(str(tmp_path / "m.rnnkit"))
    for i, w in enumerate(model.weights):
        assert np.array_equal(tensors[f"weights/{i:06d}"], w)
    assert int(tensors["optimizer/iterations"]) == 8
    meta = rnnkit.io.read_metadata(tmp_path / "m.rnnkit")
    assert meta["format"] == "rnnkit" and meta["format_version"] == rio.FORMAT_VERSION
    assert meta["rnnkit_version"] == rnnkit.__version__
    assert meta["weights"] == model.weight_names
    assert meta["model"]["class_name"] == "Sequential"


# ---- format versions and committed fixtures ---------------------------------------------------------


def test_v1_fixture_files_keep_loading():
    """Files written by format version 1 (tests/data, made by tests/data/make_fixtures.py)."""
    from safetensors.numpy import load_file

    expected = load_file(os.path.join(DATA, "v1_expected.safetensors"))
    model = rnnkit.load_model(os.path.join(DATA, "v1_model.rnnkit"))
    out = model.predict(expected["ids"], verbose=0)
    # Another machine's SIMD path may round differently (DESIGN §10): close, not bitwise.
    np.testing.assert_allclose(out, expected["probabilities"], rtol=1e-5, atol=1e-6)
    assert model.compiled and model.optimizer.iterations > 0
    assert model.tokenizer.texts_to_sequences(["the cat"]) == [[1, 2]]
    other = rnnkit.load_model(os.path.join(DATA, "v1_model.rnnkit"), compile=False)
    other.load_weights(os.path.join(DATA, "v1_weights.rnnkit"))
    assert other.predict(expected["ids"], verbose=0).tobytes() == out.tobytes()
    meta = rnnkit.io.read_metadata(os.path.join(DATA, "v1_checkpoint.rnnkit"))
    assert meta["format_version"] == 1 and meta["training"]["epoch"] == 2


def _rewrite(source, target, document=None, tensors=None):
    """A consistent file (valid checksums) with a changed document or tensors: a file made by
    someone who knows the format, so only the semantic checks stand in the way."""
    with open(source, "rb") as f:
        container = _container.parse(f.read(), "")
    doc = json.loads(container.metadata[rio.METADATA_KEY])
    arrays = {name: container.array(name) for name in container.entries}
    if document is not None:
        document(doc)
    if tensors is not None:
        tensors(arrays)
    with open(target, "wb") as f:
        f.write(rio._encode(doc, arrays))
    return target


def test_newer_format_version_names_both_versions(tmp_path):
    model, _ = _models()["gru_reset_after"]()
    model.save(tmp_path / "m.rnnkit")
    path = _rewrite(tmp_path / "m.rnnkit", tmp_path / "future.rnnkit",
                    document=lambda d: d.update(format_version=rio.FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=rf"format version {rio.FORMAT_VERSION + 1}.*up to "
                                         rf"{rio.FORMAT_VERSION}"):
        rnnkit.load_model(path)


# ---- broken and hostile files --------------------------------------------------------------------


class _Exploit:
    """Unpickling this would run a shell command (it never may)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1 :]


def _with_header(data: bytes, edit) -> bytes:
    """The file with its safetensors header JSON edited (checksums untouched)."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    edit(header)
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data[8 + n :]


def _hostile_cases(tmp_path):
    """name -> (file bytes, or a callable writing the file and returning its path; match)."""
    model, _ = _models()["lstm_sequences"]()
    model.compile("adam", "mse")
    model.save(tmp_path / "base.rnnkit")
    data = (tmp_path / "base.rnnkit").read_bytes()
    n = int.from_bytes(data[:8], "little")
    first = data.index(b'"weights/000000"')
    zip_path = tmp_path / "zip"
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr("config.json", "{}")
    base = tmp_path / "base.rnnkit"

    def consistent(name, document=None, tensors=None):
        return lambda: _rewrite(base, tmp_path / f"{name}.rnnkit", document, tensors)

    def set_layer(key, value):
        return lambda d: d["model"]["config"]["layers"][0]["config"].__setitem__(key, value)

    def class_name(value):
        return lambda d: d["model"]["config"]["layers"][0].__setitem__("class_name", value)

    return {
        "empty": (b"", "empty"),
        "truncated_in_length": (data[:5], "truncated"),
        "truncated_after_length": (data[:8], "truncated"),
        "truncated_in_header": (data[: 8 + n // 2], "truncated"),
        "truncated_after_header": (data[: 8 + n], "truncated or corrupted"),
        "truncated_in_data": (data[: len(data) // 2 + n // 2], "truncated or corrupted"),
        "last_byte_missing": (data[:-1], "truncated or corrupted"),
        "trailing_bytes": (data + b"\0" * 8, "truncated or corrupted"),
        "header_length_beyond_file": ((n + 10**6).to_bytes(8, "little") + data[8:], "claims"),
        "absurd_header_length": ((2**63).to_bytes(8, "little") + data[8:], "claims"),
        "flipped_byte_in_header": (_flip(data, first + 3), "."),
        "flipped_byte_in_tensor_data": (_flip(data, len(data) - 3), "checksum mismatch"),
        "flipped_byte_in_metadata": (_flip(data, data.index(b"units") + 1), "checksum mismatch"),
        "header_not_json": (
            len(b"{nope").to_bytes(8, "little") + b"{nope", "not valid JSON"),
        "header_nested_too_deep": (
            (200000).to_bytes(8, "little") + b"[" * 200000, "not valid JSON"),
        "absurd_tensor_shape": (
            _with_header(data, lambda h: h["weights/000000"].update(shape=[2**40, 2**40])),
            "needs"),
        "overlapping_offsets": (
            _with_header(data, lambda h: h["weights/000001"].update(
                data_offsets=h["weights/000000"]["data_offsets"])),
            "overlaps|needs|gap"),
        "offsets_out_of_range": (
            _with_header(data, lambda h: h["weights/000000"].update(
                data_offsets=[2**62, 2**62 + 4])),
            "outside"),
        "unknown_dtype": (
            _with_header(data, lambda h: h["weights/000000"].update(dtype="F8_E4M3")),
            "dtype"),
        "no_rnnkit_metadata": (
            _with_header(data, lambda h: h.pop("__metadata__")), "without rnnkit metadata"),
        "pickle_renamed": (pickle.dumps(_Exploit(tmp_path / "pwned")), "pickle"),
        "zip_renamed": (zip_path.read_bytes(), "zip"),
        "future_version": (
            consistent("future", document=lambda d: d.update(format_version=99)), "version 99"),
        "unknown_layer_class": (
            consistent("unknown", document=class_name("os.system")), "unknown layer class"),
        "model_class_is_a_layer": (
            consistent("toplevel", document=lambda d: d["model"].update(class_name="LSTM")),
            "unknown model class"),
        "absurd_units": (
            consistent("units", document=set_layer("units", 10**12)), "needs more values"),
        "bad_config_value": (
            consistent("badunits", document=set_layer("units", "many")), "bad architecture"),
        "wrong_shape_for_architecture": (
            consistent("shape", document=set_layer("units", 2)), "needs more values|shape"),
        "wrong_dtype_for_architecture": (
            consistent("dtype", tensors=lambda t: t.update(
                {"weights/000000": t["weights/000000"].astype(np.int64)})),
            "expected a float"),
        "missing_tensor": (
            consistent("missing", tensors=lambda t: t.pop("weights/000002")), "missing"),
        "bad_optimizer_state": (
            consistent("opt", tensors=lambda t: t.update(
                {"optimizer/iterations": np.zeros(3, np.int64)})),
            "optimizer"),
        "bad_tokenizer": (
            consistent("tok", document=lambda d: d.update(tokenizer={"class_name": "x"})),
            "Tokenizer"),
        "bad_compile": (
            consistent("compile", document=lambda d: d.update(
                compile={"optimizer": {"class_name": "os.system"}})),
            "compile"),
    }


def test_hostile_and_broken_files_are_value_errors_and_run_nothing(tmp_path):
    failures = []
    for name, (content, match) in _hostile_cases(tmp_path).items():
        if callable(content):
            path = content()
        else:
            path = tmp_path / f"{name}.rnnkit"
            path.write_bytes(content)
        start = time.perf_counter()
        try:
            rnnkit.load_model(path)
        except ValueError as exc:
            if not __import__("re").search(match, str(exc)):
                failures.append(f"{name}: message {exc}")
        except Exception as exc:  # noqa: BLE001 - the test reports any other exception
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
        else:
            failures.append(f"{name}: loaded")
        if time.perf_counter() - start > 2:
            failures.append(f"{name}: took {time.perf_counter() - start:.1f}s")
    assert not failures, "\n".join(failures)
    assert not (tmp_path / "pwned").exists()


def test_every_single_byte_corruption_is_detected(tmp_path):
    """Flip each byte of the header (and a sample of the data): always a ValueError."""
    model, _ = _models()["gru_reset_before"]()
    model.save(tmp_path / "m.rnnkit")
    data = (tmp_path / "m.rnnkit").read_bytes()
    n = int.from_bytes(data[:8], "little")
    positions = list(range(8 + n)) + list(range(8 + n, len(data), 7))
    for at in positions:
        corrupted = bytearray(data)
        corrupted[at] ^= 0x01
        with pytest.raises(ValueError):
            rio._open(bytes(corrupted), "[test]")


# ---- atomic writes under SIGKILL -----------------------------------------------------------------

_SAVER = """
import sys
import rnnkit
a, b, target = (rnnkit.load_model(sys.argv[1]), rnnkit.load_model(sys.argv[2]), sys.argv[3])
print("ready", flush=True)
while True:
    a.save(target)
    b.save(target)
"""


def _kill_while_saving(tmp_path, kills):
    model_a, x = _models()["bidirectional_concat"]()
    model_b = rnnkit.Sequential.from_config(model_a.get_config())
    model_b.build((None, T, F))
    _perturb(model_b)
    model_a.save(tmp_path / "a.rnnkit")
    model_b.save(tmp_path / "b.rnnkit")
    expected = {model_a.predict(x, verbose=0).tobytes(), model_b.predict(x, verbose=0).tobytes()}
    target = tmp_path / "target.rnnkit"
    model_a.save(target)
    rng = np.random.default_rng(7)
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(tmp_path / "a.rnnkit"),
             str(tmp_path / "b.rnnkit"), str(target)],
            stdout=subprocess.PIPE,
        )
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.05))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        loaded = rnnkit.load_model(target)
        assert loaded.predict(x, verbose=0).tobytes() in expected
    # Kills inside a write leave its temporary file (never the target) half written.
    return [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_sigkill_while_saving_leaves_old_or_new_file(tmp_path):
    _kill_while_saving(tmp_path, kills=6)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_sigkill_while_saving_many_times(tmp_path):
    interrupted_writes = _kill_while_saving(tmp_path, kills=30)
    assert interrupted_writes, "no kill landed inside a write; the test proved nothing"
