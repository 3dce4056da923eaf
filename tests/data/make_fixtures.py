"""Writes the format-version-1 fixtures of tests/test_io.py (run once per format version; the
files are committed so that later rnnkit versions are tested against them):

    python tests/data/make_fixtures.py

v1_model.rnnkit (a compiled, trained model with a tokenizer), v1_weights.rnnkit,
v1_checkpoint.rnnkit, and v1_expected.safetensors (the inputs and the predictions).
"""

from __future__ import annotations

import os

import numpy as np
import rnnkit
from rnnkit.layers import GRU, Bidirectional, Dense, Embedding
from rnnkit.text import Tokenizer
from rnnkit.utils import set_random_seed
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    set_random_seed(0)
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(["the cat sat", "the cat ran", "the dog"])
    ids = rnnkit.text.pad_sequences(
        tokenizer.texts_to_sequences(["the cat sat", "the dog ran", "cat", "dog sat the"]),
        maxlen=5,
        padding="post",
    ).astype(np.int64)
    model = rnnkit.Sequential(
        [Embedding(8, 4, mask_zero=True), Bidirectional(GRU(3)), Dense(2, activation="softmax")]
    )
    model.build((None, 5))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(ids, np.array([0, 1, 0, 1]), epochs=2, batch_size=2, verbose=0)
    model.save(os.path.join(HERE, "v1_model.rnnkit"), tokenizer=tokenizer)
    model.save_weights(os.path.join(HERE, "v1_weights.rnnkit"))
    model.save_checkpoint(os.path.join(HERE, "v1_checkpoint.rnnkit"))
    save_file(
        {"ids": ids, "probabilities": model.predict(ids, verbose=0)},
        os.path.join(HERE, "v1_expected.safetensors"),
    )


if __name__ == "__main__":
    main()
