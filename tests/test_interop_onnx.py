"""rnnkit.interop.export_onnx against onnxruntime.

Each model is exported, checked by onnx.checker (inside export_onnx), run in onnxruntime and
held to rnnkit's own predict within 1e-5: every recurrent kind, return_sequences both ways,
go_backwards, stacked and bidirectional layers with every merge mode, Dense heads, and
Embedding(mask_zero=True) on post-padded ids (sequence_lens), at the default opset and at the
lowest one supported (13), and at 18 (reductions take their axes as inputs).
"""

from __future__ import annotations

import numpy as np
import pytest
import rnnkit
from rnnkit import interop
from rnnkit import layers as rk

from conftest import require

onnx = require("onnx")
ort = require("onnxruntime")

TOL = 1e-5
B, T, F, V = 4, 7, 3, 9


def assert_close(actual, expected, tol=TOL):
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape
    assert np.all(np.abs(actual - expected) <= tol * (1 + np.abs(expected)))


def randomize(model, seed=1):
    rng = np.random.default_rng(seed)
    model.set_weights([0.5 * rng.standard_normal(w.shape) for w in model.get_weights()])


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x})[0]


RECURRENT = {
    "rnn_tanh": lambda rs: rk.SimpleRNN(5, return_sequences=rs),
    "rnn_relu_no_bias": lambda rs: rk.SimpleRNN(
        5, activation="relu", use_bias=False, return_sequences=rs
    ),
    "lstm": lambda rs: rk.LSTM(5, return_sequences=rs),
    "gru_reset_after": lambda rs: rk.GRU(5, return_sequences=rs),
    "gru_reset_before": lambda rs: rk.GRU(5, reset_after=False, return_sequences=rs),
    "lstm_go_backwards": lambda rs: rk.LSTM(5, go_backwards=True, return_sequences=rs),
    "bi_lstm_concat": lambda rs: rk.Bidirectional(rk.LSTM(5, return_sequences=rs)),
    "bi_gru_sum": lambda rs: rk.Bidirectional(rk.GRU(5, return_sequences=rs), merge_mode="sum"),
    "bi_rnn_ave": lambda rs: rk.Bidirectional(
        rk.SimpleRNN(5, return_sequences=rs), merge_mode="ave"
    ),
    "bi_gru_before_mul": lambda rs: rk.Bidirectional(
        rk.GRU(5, reset_after=False, return_sequences=rs), merge_mode="mul"
    ),
}


@pytest.mark.parametrize("opset", [None, 18], ids=["default_opset", "opset18"])
@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequences", "last"])
@pytest.mark.parametrize("name", list(RECURRENT))
def test_stacked_float_model_matches_onnxruntime(tmp_path, name, return_sequences, opset):
    model = rnnkit.Sequential(
        [
            rk.Input((None, F)),
            rk.Bidirectional(rk.LSTM(4, return_sequences=True)),  # stacked below `name`
            RECURRENT[name](return_sequences),
            rk.Dense(3, activation="softmax"),
        ]
    )
    randomize(model)
    x = np.random.default_rng(2).standard_normal((B, T, F)).astype(np.float32)
    path = tmp_path / "model.onnx"
    interop.export_onnx(model, path, opset)
    assert_close(run_onnx(path, x), model.predict(x, verbose=0))


RECURRENT_MASKED = {
    "lstm_sequences": lambda: rk.LSTM(4, return_sequences=True),
    "gru_last": lambda: rk.GRU(4),
    "rnn_go_backwards_last": lambda: rk.SimpleRNN(4, go_backwards=True),
    "bi_rnn_sequences": lambda: rk.Bidirectional(rk.SimpleRNN(4, return_sequences=True)),
    "bi_gru_last_sum": lambda: rk.Bidirectional(rk.GRU(4), merge_mode="sum"),
}


@pytest.mark.parametrize("opset", [None, 13], ids=["default_opset", "opset13"])
@pytest.mark.parametrize("name", list(RECURRENT_MASKED))
def test_post_padded_mask_exports_as_sequence_lens(tmp_path, name, opset):
    model = rnnkit.Sequential(
        [
            rk.Input((None,), dtype="int64"),
            rk.Embedding(V, 3, mask_zero=True),
            rk.LSTM(4, return_sequences=True),
            RECURRENT_MASKED[name](),
            rk.Dense(2, activation="tanh"),
        ]
    )
    randomize(model, seed=3)
    ids = np.random.default_rng(3).integers(1, V, (B, T))
    ids[1, 4:] = 0  # post-padded rows, of lengths T, 4, 1 and 0
    ids[2, 1:] = 0
    ids[3, :] = 0
    path = tmp_path / "model.onnx"
    with pytest.raises(ValueError, match="assume_post_padding"):
        interop.export_onnx(model, path, opset)
    assert not path.exists()
    proto = interop.export_onnx(model, path, opset, assume_post_padding=True)
    assert proto.opset_import[0].version == (opset or 17)
    assert_close(run_onnx(path, ids), model.predict(ids, verbose=0))


def test_dense_only_model_and_single_layer(tmp_path):
    model = rnnkit.Sequential([rk.Input((F,)), rk.Dense(6, activation="relu"), rk.Dense(2)])
    randomize(model, seed=5)
    x = np.random.default_rng(5).standard_normal((B, F)).astype(np.float32)
    interop.export_onnx(model, tmp_path / "dense.onnx")
    assert_close(run_onnx(tmp_path / "dense.onnx", x), model.predict(x, verbose=0))
    layer = rk.GRU(3, return_sequences=True)
    x = np.random.default_rng(6).standard_normal((B, T, F)).astype(np.float32)
    expected = layer(x)
    interop.export_onnx(layer, tmp_path / "gru.onnx")
    assert_close(run_onnx(tmp_path / "gru.onnx", x), expected)


def test_what_onnx_cannot_express_is_refused(tmp_path):
    masking = rnnkit.Sequential([rk.Input((None, F)), rk.Masking(0.0), rk.LSTM(3)])
    with pytest.raises(ValueError, match="Masking"):
        interop.export_onnx(masking, tmp_path / "m.onnx", assume_post_padding=True)
    backwards = rnnkit.Sequential(
        [
            rk.Input((None,), dtype="int64"),
            rk.Embedding(V, 3, mask_zero=True),
            rk.LSTM(3, go_backwards=True, return_sequences=True),
        ]
    )
    with pytest.raises(ValueError, match="go_backwards"):
        interop.export_onnx(backwards, tmp_path / "m.onnx", assume_post_padding=True)
    with pytest.raises(ValueError, match="opset"):
        interop.export_onnx(masking, tmp_path / "m.onnx", opset=12)
    assert not (tmp_path / "m.onnx").exists()
