"""The seed article's two programs on rnnkit and on Keras 3, in one run.

    python bench/seed_programs.py            # prints both fit times and the ratio for each

Both run the article's code unchanged but for the import prefix. Program 1: SimpleRNN(10, relu,
input_shape=(3, 1)), Dense(1), adam, mse, 200 epochs, batch 32, on [i, i+1, i+2] -> i+3 for
i = 1..99. Program 2: the article's n-gram next-word model, Embedding(V, 10) + SimpleRNN(64) +
Dense(V, softmax), categorical crossentropy, adam, 200 epochs; its data are prepared once with
rnnkit's Tokenizer and pad_sequences (Keras 3 removed its Tokenizer, so that is Keras's stand-in
too) and both frameworks fit the same arrays. Keras runs on its torch backend
(KERAS_BACKEND=torch), both on 2 threads. Each figure is the median of ``repeats`` fits, after
one warm-up fit.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")


def seed_data() -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[i, i + 1, i + 2] for i in range(1, 100)]).reshape(99, 3, 1)
    y = np.array([i + 3 for i in range(1, 100)])
    return x, y


def program_1(models: Any, layers: Any) -> Callable[[], float]:
    """A callable that builds, fits and queries the article's model; returns the fit time."""
    x, y = seed_data()

    def run() -> float:
        model = models.Sequential()
        model.add(layers.SimpleRNN(10, activation="relu", input_shape=(3, 1)))
        model.add(layers.Dense(1))
        model.compile(optimizer="adam", loss="mse")
        t0 = time.perf_counter()
        model.fit(x, y, epochs=200, verbose=0)
        elapsed = time.perf_counter() - t0
        model.predict(np.array([[98, 99, 100]]).reshape(1, 3, 1), verbose=0)
        return elapsed

    return run


CORPUS = [
    "machine learning is powerful",
    "deep learning drives innovation",
    "recurrent neural networks learn sequences",
    "neural networks are inspired by the brain",
    "artificial intelligence is the future",
]


def article_ngrams() -> tuple[np.ndarray, np.ndarray, int]:
    """The article's program 2 data: padded n-gram prefixes, one-hot next words, vocabulary."""
    from rnnkit.text import Tokenizer, pad_sequences
    from rnnkit.utils import to_categorical

    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(CORPUS)
    total_words = len(tokenizer.word_index) + 1
    sequences = []
    for line in CORPUS:
        tokens = tokenizer.texts_to_sequences([line])[0]
        sequences += [tokens[: i + 1] for i in range(1, len(tokens))]
    padded = np.array(pad_sequences(sequences, maxlen=max(map(len, sequences)), padding="pre"))
    return padded[:, :-1], to_categorical(padded[:, -1], num_classes=total_words), total_words


def program_2(models: Any, layers: Any) -> Callable[[], float]:
    x, y, total_words = article_ngrams()

    def run() -> float:
        model = models.Sequential([
            layers.Embedding(input_dim=total_words, output_dim=10),
            layers.SimpleRNN(units=64),
            layers.Dense(total_words, activation="softmax"),
        ])
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        t0 = time.perf_counter()
        model.fit(x, y, epochs=200, verbose=0)
        return time.perf_counter() - t0

    return run


def rnnkit_program_1() -> Callable[[], float]:
    from rnnkit import layers, models

    return program_1(models, layers)


def keras_program_1() -> Callable[[], float]:
    import warnings

    import keras

    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    return program_1(keras.models, keras.layers)


def rnnkit_program_2() -> Callable[[], float]:
    from rnnkit import layers, models

    return program_2(models, layers)


def keras_program_2() -> Callable[[], float]:
    import warnings

    import keras

    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    return program_2(keras.models, keras.layers)


def median_fit(run: Callable[[], float], repeats: int) -> float:
    run()
    return statistics.median(run() for _ in range(repeats))


def main(repeats: int = 3) -> None:
    import rnnkit
    import torch

    rnnkit.set_num_threads(2)
    torch.set_num_threads(2)
    print(f"fit of 200 epochs, median of {repeats}, ISA {rnnkit.info()['isa']}, 2 threads:")
    for name, ours, theirs in [
        ("program 1 (SimpleRNN regression)", rnnkit_program_1, keras_program_1),
        ("program 2 (n-gram text model)", rnnkit_program_2, keras_program_2),
    ]:
        t_rnnkit = median_fit(ours(), repeats)
        t_keras = median_fit(theirs(), repeats)
        print(f"  {name}: rnnkit {t_rnnkit:.3f} s   keras {t_keras:.3f} s   "
              f"ratio {t_keras / t_rnnkit:.1f}x")


if __name__ == "__main__":
    main()
