"""Write the fuzzers' seed corpora: fuzz/corpus/loader/ and fuzz/corpus/tokenizer/.

    python fuzz/make_corpus.py            # rewrites both folders

The contents are deterministic; the bytes of the model files may not be (the safetensors writer
orders the ``__metadata__`` keys arbitrarily), so rerun it only when the file format changes.

Loader seeds: a few small valid model files and a checkpoint (every cell type, a functional
model, compile state, an attached tokenizer) plus truncated variants of one of them. Tokenizer
seeds: ``Tokenizer.to_json`` / ``to_dict`` documents and plain texts. The files are committed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
LOADER = os.path.join(HERE, "corpus", "loader")
TOKENIZER = os.path.join(HERE, "corpus", "tokenizer")

TEXTS = ["the cat sat on the mat", "The dog ate the cat!", "a b c, d; e\tf\nG", "héllo wörld 🙂"]


def _tokenizers():
    from rnnkit.text import Tokenizer

    plain = Tokenizer()
    plain.fit_on_texts(TEXTS)
    oov = Tokenizer(num_words=5, oov_token="<unk>", lower=False)
    oov.fit_on_texts(TEXTS)
    chars = Tokenizer(char_level=True)
    chars.fit_on_texts(TEXTS[:2])
    return {"plain": plain, "oov": oov, "chars": chars, "empty": Tokenizer()}


def _models():
    import rnnkit
    from rnnkit.layers import GRU, LSTM, Bidirectional, Dense, Embedding, Input, SimpleRNN
    from rnnkit.utils import set_random_seed

    set_random_seed(0)
    T, F = 3, 2
    x = np.random.default_rng(0).standard_normal((4, T, F)).astype(np.float32)

    rnn = rnnkit.Sequential([SimpleRNN(2, input_shape=(T, F)), Dense(1)])
    gru = rnnkit.Sequential([GRU(2, reset_after=False, input_shape=(T, F))])
    lstm = rnnkit.Sequential([LSTM(2, return_sequences=True, input_shape=(T, F))])

    inp = Input((T,))
    h = Embedding(6, 2, mask_zero=True)(inp)
    h = Bidirectional(GRU(2))(h)
    functional = rnnkit.Model(inp, Dense(2, activation="softmax")(h))

    trained = rnnkit.Sequential([GRU(2, input_shape=(T, F)), Dense(2, activation="softmax")])
    trained.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    trained.fit(x, np.array([0, 1, 1, 0]), epochs=1, batch_size=2, verbose=0)
    return {
        "simple_rnn": (rnn, {}),
        "gru_reset_before": (gru, {}),
        "lstm_sequences": (lstm, {}),
        "functional_embedding_bidirectional": (functional, {"tokenizer": _tokenizers()["oov"]}),
        "trained_compiled": (trained, {}),
    }


def _fresh(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)


def _write(folder: str, name: str, data: bytes) -> None:
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def make_loader_corpus() -> None:
    _fresh(LOADER)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model, kw) in _models().items():
            path = os.path.join(tmp, name + ".rnnkit")
            model.save(path, **kw)
            with open(path, "rb") as f:
                data = f.read()
            _write(LOADER, name + ".rnnkit", data)
            if name == "trained_compiled":
                model.save_checkpoint(os.path.join(tmp, "ck.rnnkit"))
                with open(os.path.join(tmp, "ck.rnnkit"), "rb") as f:
                    _write(LOADER, "checkpoint.rnnkit", f.read())
        with open(os.path.join(LOADER, "simple_rnn.rnnkit"), "rb") as f:
            data = f.read()
        header_end = 8 + int.from_bytes(data[:8], "little")
        cuts = {
            "4": 4,
            "8": 8,
            "header_half": header_end // 2,
            "header_end": header_end,
            "minus_1": len(data) - 1,
        }
        for label, n in cuts.items():
            _write(LOADER, f"truncated_{label}.rnnkit", data[:n])


def make_tokenizer_corpus() -> None:
    _fresh(TOKENIZER)
    for name, tok in _tokenizers().items():
        _write(TOKENIZER, f"keras_json_{name}.json", tok.to_json().encode("utf-8"))
        _write(TOKENIZER, f"dict_{name}.json", json.dumps(tok.to_dict()).encode("utf-8"))
    for k, text in enumerate(TEXTS):
        _write(TOKENIZER, f"text_{k}.txt", text.encode("utf-8"))


def main() -> int:
    make_loader_corpus()
    make_tokenizer_corpus()
    for folder in (LOADER, TOKENIZER):
        files = sorted(os.listdir(folder))
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in files)
        print(f"{os.path.relpath(folder, HERE)}: {len(files)} files, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
