"""The bad-input catalogue across components (issue 8, DESIGN.md section 9).

One table of invalid calls: layers, models (compile / fit / predict), optimizers, model files,
text tools, timeseries.windows, sampling.generate, the CLI and a few ops rows (the full ops table
is tests/test_ops_errors.py). Each row gives the exact exception class (``type(exc) is``, not
``isinstance``) and substrings the message must contain, at least the argument's name.

CLI rows run ``python -m rnnkit`` in a subprocess; the helper asserts exit code 2, exactly one
line on stderr and no traceback, then raises :class:`CliExit` carrying that line so the row is
checked like any other.

A second table holds valid-but-awkward input (float64, int, Fortran-ordered, strided, nested
lists, B=0) that must give the same result as the clean float32 call.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rnnkit
from rnnkit import layers as L
from rnnkit import ops, optimizers, sampling, text, timeseries
from rnnkit.utils import pad_sequences, to_categorical

TMP: dict[str, Path] = {}


@pytest.fixture(scope="module", autouse=True)
def _scratch(tmp_path_factory: pytest.TempPathFactory):
    """A scratch folder the rows' callables find at call time (they are built at collection)."""
    TMP["dir"] = tmp_path_factory.mktemp("catalogue")
    yield
    TMP.clear()


def scratch(name: str, content: bytes | None = None) -> str:
    path = TMP["dir"] / name
    if content is not None:
        path.write_bytes(content)
    return str(path)


def zip_file() -> str:
    path = scratch("model.zip")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
    return path


# ----------------------------------------------------------------------------------------------
# Builders


X = np.zeros((4, 5, 3), np.float32)
Y = np.zeros((4, 2), np.float32)


def regressor(compile_: bool = True) -> rnnkit.Sequential:
    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential([L.LSTM(4, input_shape=(5, 3)), L.Dense(2)])
    if compile_:
        model.compile(optimizer="adam", loss="mse")
    return model


def language_model() -> rnnkit.Sequential:
    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential([L.Embedding(10, 4), L.LSTM(8), L.Dense(10)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.build((None, 3))
    return model


def fit(**kw):
    return lambda: regressor().fit(X, Y, verbose=0, **kw)


def compile_(**kw):
    kw = {"optimizer": "adam", "loss": "mse", **kw}
    return lambda: regressor(compile_=False).compile(**kw)


def generate(prompt=(1, 2), length=3, **kw):
    return lambda: sampling.generate(language_model(), list(prompt), length, **kw)


def lstm_args(**changes):
    T, B, I, H = 3, 2, 4, 5
    args = {
        "x": np.zeros((T, B, I), np.float32),
        "h0": None,
        "c0": None,
        "w_ih": np.zeros((4 * H, I), np.float32),
        "w_hh": np.zeros((4 * H, H), np.float32),
        "b_ih": None,
        "b_hh": None,
    }
    return {**args, **changes}


def lstm(**changes):
    return lambda: ops.lstm_forward(**lstm_args(**changes))


def rnn(**changes):
    args = lstm_args(w_ih=np.zeros((5, 4), np.float32), w_hh=np.zeros((5, 5), np.float32))
    del args["c0"]
    return lambda: ops.rnn_forward(**{**args, **changes})


class CliExit(Exception):
    """A CLI run that exited with code 2 and one line on stderr (the message)."""


def cli(*args: str):
    def call():
        proc = subprocess.run(
            [sys.executable, "-m", "rnnkit", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=TMP["dir"],
            check=False,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode == 2, (proc.returncode, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        raise CliExit(lines[0])

    return call


def _row(id_, call, exc, *subs):
    return pytest.param(call, exc, subs, id=id_)


# ----------------------------------------------------------------------------------------------
# The table


BAD_INPUT = [
    # ops (a sample; tests/test_ops_errors.py has the full table)
    _row("ops-x-rank2", lstm(x=np.zeros((3, 4), np.float32)), ValueError, "[lstm_forward]", "x"),
    _row("ops-x-None", lstm(x=None), TypeError, "[lstm_forward]", "x is None"),
    _row("ops-h0-shape", lstm(h0=np.zeros((2, 6), np.float32)), ValueError, "h0"),
    _row("ops-w_ih-rows", lstm(w_ih=np.zeros((21, 4), np.float32)), ValueError, "w_ih"),
    _row("ops-lengths-long", lstm(lengths=[4, 1]), ValueError, "lengths"),
    _row("ops-x-complex", lstm(x=np.zeros((3, 2, 4), np.complex64)), TypeError, "x", "complex"),
    _row("ops-rnn-activation", rnn(activation="sigmoid"), ValueError, "activation"),
    _row(
        "ops-backward-saved",
        lambda: ops.lstm_backward(np.zeros((3, 2, 5), np.float32), None, object()),
        TypeError,
        "saved",
    ),
    # layers: Keras options the kernels do not implement, bad units
    _row(
        "layer-hard-sigmoid",
        lambda: L.LSTM(4, recurrent_activation="hard_sigmoid"),
        ValueError,
        "recurrent_activation",
        "hard_sigmoid",
        "sigmoid",
    ),
    _row("layer-unroll", lambda: L.LSTM(4, unroll=True), ValueError, "unroll"),
    _row(
        "layer-recurrent-dropout",
        lambda: L.GRU(4, recurrent_dropout=0.2),
        ValueError,
        "recurrent_dropout",
    ),
    _row("layer-units-str", lambda: L.LSTM("4"), ValueError, "units", "'4'"),
    _row("layer-units-negative", lambda: L.SimpleRNN(-1), ValueError, "units", "-1"),
    _row("layer-units-zero", lambda: L.GRU(0), ValueError, "units"),
    _row("layer-units-float", lambda: L.LSTM(4.5), ValueError, "units", "4.5"),
    _row(
        "layer-activation-unknown",
        lambda: L.SimpleRNN(4, activation="nope"),
        ValueError,
        "activation",
        "nope",
        "tanh",
    ),
    _row("layer-dropout-range", lambda: L.LSTM(4, dropout=1.5), ValueError, "dropout", "1.5"),
    # models: input shape, compile, fit arguments, labels
    _row(
        "predict-rank2",
        lambda: regressor().predict(np.zeros((4, 5), np.float32), verbose=0),
        ValueError,
        "input x",
        "(4, 5)",
        "(None, 5, 3)",
    ),
    _row(
        "predict-features",
        lambda: regressor().predict(np.zeros((4, 5, 7), np.float32), verbose=0),
        ValueError,
        "input x",
        "axis 2 must be 3",
    ),
    _row(
        "predict-token-out-of-vocab",
        lambda: language_model().predict(np.full((2, 3), 10), verbose=0),
        ValueError,
        "token id 10",
        "input_dim=10",
    ),
    _row(
        "fit-before-compile",
        lambda: regressor(compile_=False).fit(X, Y, verbose=0),
        RuntimeError,
        "compile",
    ),
    _row(
        "fit-sparse-label-too-big",
        lambda: language_model().fit(np.zeros((4, 3), np.int64), np.full(4, 10), verbose=0),
        ValueError,
        "sparse labels",
        "label 10",
        "[0, 9]",
    ),
    _row(
        "fit-sparse-label-negative",
        lambda: language_model().fit(np.zeros((4, 3), np.int64), np.full(4, -1), verbose=0),
        ValueError,
        "sparse labels",
        "label -1",
    ),
    _row(
        "fit-labels-shape",
        lambda: regressor().fit(X, np.zeros((4, 3), np.float32), verbose=0),
        ValueError,
        "y_true",
        "(4, 3)",
        "(4, 2)",
    ),
    _row(
        "fit-labels-count",
        lambda: regressor().fit(X, np.zeros((3, 2), np.float32), verbose=0),
        ValueError,
        "numbers of samples",
    ),
    _row("compile-loss-unknown", compile_(loss="nope"), ValueError, "loss", "'nope'", "mse"),
    _row(
        "compile-optimizer-unknown",
        compile_(optimizer="nope"),
        ValueError,
        "optimizer",
        "'nope'",
        "adam, adamw, rmsprop, sgd",
    ),
    _row(
        "compile-metric-unknown",
        compile_(metrics=["nope"]),
        ValueError,
        "metric",
        "'nope'",
        "accuracy",
    ),
    _row("fit-batch-size-0", fit(batch_size=0), ValueError, "batch_size", "0"),
    _row(
        "fit-batch-size-float",
        fit(batch_size=2.5),
        ValueError,
        "batch_size",
    ),
    _row(
        "fit-batch-size-str",
        fit(batch_size="2"),
        ValueError,
        "batch_size",
    ),
    _row("fit-epochs-negative", fit(epochs=-1), ValueError, "epochs", "-1"),
    _row(
        "fit-epochs-float",
        fit(epochs=1.5),
        ValueError,
        "epochs",
    ),
    _row("fit-validation-split-1", fit(validation_split=1.0), ValueError, "validation_split"),
    _row("fit-validation-split-neg", fit(validation_split=-0.1), ValueError, "validation_split"),
    # optimizers
    _row(
        "adam-lr-negative",
        lambda: optimizers.Adam(learning_rate=-1.0),
        ValueError,
        "learning_rate",
        "-1.0",
    ),
    _row(
        "sgd-lr-negative", lambda: optimizers.SGD(learning_rate=-0.1), ValueError, "learning_rate"
    ),
    _row(
        "two-clip-options",
        lambda: optimizers.Adam(clipnorm=1.0, clipvalue=1.0),
        ValueError,
        "clipnorm",
        "clipvalue",
    ),
    _row("clipnorm-negative", lambda: optimizers.SGD(clipnorm=-1.0), ValueError, "clipnorm"),
    _row("sgd-momentum-range", lambda: optimizers.SGD(momentum=1.5), ValueError, "momentum"),
    # files
    _row(
        "load-missing",
        lambda: rnnkit.load_model(scratch("missing.rnnkit")),
        FileNotFoundError,
        "missing.rnnkit",
    ),
    _row("load-directory", lambda: rnnkit.load_model(scratch("")), IsADirectoryError, "catalogue"),
    _row(
        "load-empty",
        lambda: rnnkit.load_model(scratch("empty.rnnkit", b"")),
        ValueError,
        "[load_model]",
        "empty.rnnkit",
        "empty",
    ),
    _row(
        "load-random-bytes",
        lambda: rnnkit.load_model(scratch("random.rnnkit", np.random.default_rng(0).bytes(256))),
        ValueError,
        "[load_model]",
        "random.rnnkit",
    ),
    _row(
        "load-zip",
        lambda: rnnkit.load_model(zip_file()),
        ValueError,
        "[load_model]",
        "zip archive",
    ),
    _row(
        "save-missing-directory",
        lambda: regressor().save(scratch("no/such/dir/model.rnnkit")),
        FileNotFoundError,
        "no/such/dir",
    ),
    # text tools
    _row(
        "tokenizer-bare-string",
        lambda: text.Tokenizer().fit_on_texts("hello world"),
        TypeError,
        "[Tokenizer.fit_on_texts]",
        "texts",
        "str",
    ),
    _row(
        "texts-to-sequences-bare-string",
        lambda: text.Tokenizer().texts_to_sequences("hello"),
        TypeError,
        "texts",
    ),
    _row("pad-padding", lambda: pad_sequences([[1, 2]], padding="mid"), ValueError, "padding"),
    _row(
        "pad-truncating",
        lambda: pad_sequences([[1, 2]], truncating="mid"),
        ValueError,
        "truncating",
    ),
    _row("pad-maxlen-negative", lambda: pad_sequences([[1, 2]], maxlen=-1), ValueError, "maxlen"),
    _row(
        "to-categorical-negative",
        lambda: to_categorical([0, -1, 2]),
        ValueError,
        "[to_categorical]",
        "label -1",
    ),
    _row(
        "to-categorical-too-big",
        lambda: to_categorical([0, 3], num_classes=3),
        ValueError,
        "label 3",
        "num_classes",
    ),
    # timeseries.windows
    _row(
        "windows-lookback-0",
        lambda: timeseries.windows(np.arange(10.0), 0),
        ValueError,
        "[windows]",
        "lookback",
    ),
    _row(
        "windows-too-short",
        lambda: timeseries.windows(np.arange(3.0), 5),
        ValueError,
        "series",
        "3 rows",
    ),
    _row(
        "windows-horizon-0",
        lambda: timeseries.windows(np.arange(10.0), 2, horizon=0),
        ValueError,
        "horizon",
    ),
    _row(
        "windows-stride-0",
        lambda: timeseries.windows(np.arange(10.0), 2, stride=0),
        ValueError,
        "stride",
    ),
    # sampling.generate
    _row(
        "generate-temperature", generate(temperature=-1.0), ValueError, "[generate]", "temperature"
    ),
    _row("generate-top-k-0", generate(top_k=0), ValueError, "top_k"),
    _row("generate-top-p-big", generate(top_p=1.5), ValueError, "top_p", "1.5"),
    _row("generate-top-p-0", generate(top_p=0.0), ValueError, "top_p"),
    _row("generate-id-out-of-vocab", generate(prompt=(1, 99)), ValueError, "token id 99", "[0, 9]"),
    _row("generate-id-negative", generate(prompt=(1, -1)), ValueError, "token id -1"),
    _row("generate-length-negative", generate(length=-1), ValueError, "length"),
    # the CLI: exit code 2, one line on stderr, no traceback
    _row(
        "cli-generate-missing",
        cli("generate", "/nonexistent"),
        CliExit,
        "rnnkit generate",
        "/nonexistent",
    ),
    _row(
        "cli-generate-directory", cli("generate", "/"), CliExit, "rnnkit generate", "Is a directory"
    ),
    _row(
        "cli-train-text-empty",
        cli("train-text", "empty.txt", "--epochs", "1"),
        CliExit,
        "rnnkit train-text",
        "empty.txt",
        "empty",
    ),
    _row(
        "cli-train-text-not-utf8",
        cli("train-text", "latin1.txt", "--epochs", "1"),
        CliExit,
        "rnnkit train-text",
        "latin1.txt",
        "UTF-8",
    ),
]


@pytest.fixture(scope="module")
def _cli_files(_scratch):
    scratch("empty.txt", b"")
    scratch("latin1.txt", b"\xff\xfe caf\xe9 \x81 na\xefve\n" * 10)


def test_catalogue_size() -> None:
    ids = [p.id for p in BAD_INPUT]
    assert len(ids) == len(set(ids)) >= 40
    assert sum(i.startswith("ops-") for i in ids) <= 8


@pytest.mark.usefixtures("_cli_files")
@pytest.mark.parametrize(("call", "exc_type", "substrings"), BAD_INPUT)
def test_bad_input(call, exc_type, substrings) -> None:
    with pytest.raises(Exception) as info:
        call()
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    for sub in substrings:
        assert sub in message, f"{sub!r} not in {message!r}"


# ----------------------------------------------------------------------------------------------
# Valid but awkward input: the same result as the clean float32 call


def _x_clean() -> np.ndarray:
    # small integers: exact in every dtype below
    return np.random.default_rng(1).integers(-2, 3, (6, 5, 3)).astype(np.float32)


def _y_clean() -> np.ndarray:
    return np.random.default_rng(2).integers(-2, 3, (6, 2)).astype(np.float32)


AWKWARD_X = {
    "float64": lambda x: x.astype(np.float64),
    "int64": lambda x: x.astype(np.int64),
    "int32": lambda x: x.astype(np.int32),
    "fortran": lambda x: np.asfortranarray(x),
    "strided": lambda x: np.repeat(x, 2, axis=2)[:, :, ::2],
    "read-only": lambda x: _read_only(x),
    "list-of-lists": lambda x: x.tolist(),
}


def _read_only(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x.flags.writeable = False
    return x


@pytest.mark.parametrize("variant", sorted(AWKWARD_X))
def test_predict_awkward_x(variant: str) -> None:
    model = regressor()
    x = _x_clean()
    expected = model.predict(x, verbose=0)
    got = model.predict(AWKWARD_X[variant](x), verbose=0)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("variant", ["float64", "int64", "fortran", "list-of-lists"])
def test_fit_awkward_x(variant: str) -> None:
    x, y = _x_clean(), _y_clean()
    clean = regressor()
    clean_history = clean.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0).history
    model = regressor()
    y_in = y.tolist() if variant == "list-of-lists" else y
    history = model.fit(
        AWKWARD_X[variant](x), y_in, batch_size=3, epochs=2, shuffle=False, verbose=0
    ).history
    assert history == clean_history
    for got, want in zip(model.get_weights(), clean.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_predict_empty_batch() -> None:
    assert regressor().predict(np.zeros((0, 5, 3), np.float32), verbose=0).shape == (0, 2)


def test_empty_batch_sequences_model() -> None:
    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential([L.GRU(4, return_sequences=True, input_shape=(5, 3))])
    assert model.predict(np.zeros((0, 5, 3), np.float32), verbose=0).shape == (0, 5, 4)


def test_generate_list_and_array_prompts_agree() -> None:
    model = language_model()
    a = sampling.generate(model, [1, 2, 3], 5, seed=0)
    b = sampling.generate(model, np.array([1, 2, 3], np.int32), 5, seed=0)
    np.testing.assert_array_equal(a, b)


def test_pad_sequences_awkward_inputs_agree() -> None:
    seqs = [[1, 2, 3], [4], []]
    expected = pad_sequences(seqs, maxlen=4)
    np.testing.assert_array_equal(
        pad_sequences([np.array(s, np.int64) for s in seqs], maxlen=4), expected
    )
    np.testing.assert_array_equal(pad_sequences(tuple(tuple(s) for s in seqs), maxlen=4), expected)
