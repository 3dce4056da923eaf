"""The seed article's program 2 — next-word text generation with a SimpleRNN — by import swap.

The Keras original imports ``tensorflow.keras.models``, ``.layers``, ``.preprocessing.sequence``
and ``.preprocessing.text``; here each ``tensorflow.keras.`` prefix became ``rnnkit.``, and
``tf.keras.utils.to_categorical`` became ``rnnkit.utils.to_categorical`` (``import tensorflow as
tf`` became ``import rnnkit``). Nothing else changed: the Keras 2 Tokenizer, n-gram inputs,
``pad_sequences(padding='pre')``, ``to_categorical``, Embedding(10) + SimpleRNN(64) + Dense
softmax, categorical crossentropy, ``summary()``, 200 epochs, and the article's argmax loop
from "neural networks". (Keras 3 itself no longer runs it: it removed the Tokenizer.)

The article prints ``neural networks learn sequences are inspired by``; any continuation by a
phrase of the corpus is the expected result (the two sentences with "neural networks" go on
with "learn sequences" and "are inspired by the brain").

Run: ``python examples/article_text_generation.py [--seed N]``. Printed here (seed 0, 2 threads,
avx512; the fit time varies with the machine's load)::

    Model: "sequential"
    ________________________________________________
    Layer (type)            Output Shape   Param #
    ================================================
    embedding (Embedding)   (None, 6, 10)      210
    ________________________________________________
    simple_rnn (SimpleRNN)  (None, 64)       4,800
    ________________________________________________
    dense (Dense)           (None, 21)       1,365
    ================================================
     Total params: 6,375 (24.90 KB)
     Trainable params: 6,375 (24.90 KB)
     Non-trainable params: 0 (0.00 B)
    ________________________________________________
    neural networks are inspired by the brain
    fit: 0.1 s (200 epochs)

Seeds 0 to 7 all print "neural networks are inspired by the brain".
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import rnnkit
from rnnkit.layers import Dense, Embedding, SimpleRNN
from rnnkit.models import Sequential
from rnnkit.preprocessing.sequence import pad_sequences
from rnnkit.preprocessing.text import Tokenizer


def main(seed: int | None = 0) -> tuple[str, float]:
    """Run the article's program; returns (the generated text, fit seconds)."""
    if seed is not None:
        rnnkit.utils.set_random_seed(seed)

    # Simple training corpus
    corpus = [
        "machine learning is powerful",
        "deep learning drives innovation",
        "recurrent neural networks learn sequences",
        "neural networks are inspired by the brain",
        "artificial intelligence is the future",
    ]

    # Tokenize the corpus
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(corpus)
    total_words = len(tokenizer.word_index) + 1

    # Create input sequences for n-gram training
    input_sequences = []
    for line in corpus:
        token_list = tokenizer.texts_to_sequences([line])[0]
        for i in range(1, len(token_list)):
            n_gram_sequence = token_list[: i + 1]
            input_sequences.append(n_gram_sequence)

    # Pad sequences
    max_sequence_len = max([len(seq) for seq in input_sequences])
    input_sequences = np.array(
        pad_sequences(input_sequences, maxlen=max_sequence_len, padding="pre")
    )

    # Split into predictors (X) and label (y)
    X = input_sequences[:, :-1]
    y = rnnkit.utils.to_categorical(input_sequences[:, -1], num_classes=total_words)

    # Define a simple RNN model
    model = Sequential(
        [
            Embedding(input_dim=total_words, output_dim=10, input_length=max_sequence_len - 1),
            SimpleRNN(units=64),
            Dense(total_words, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.summary()

    # Train the model
    start = time.perf_counter()
    model.fit(X, y, epochs=200, verbose=0)
    fit_seconds = time.perf_counter() - start

    # Function to generate new text
    def generate_text(seed_text: str, next_words: int = 5) -> str:
        for _ in range(next_words):
            token_list = tokenizer.texts_to_sequences([seed_text])[0]
            token_list = pad_sequences([token_list], maxlen=max_sequence_len - 1, padding="pre")
            predicted = np.argmax(model.predict(token_list, verbose=0), axis=-1)
            output_word = ""
            for word, index in tokenizer.word_index.items():
                if index == predicted:
                    output_word = word
                    break
            seed_text += " " + output_word
        return seed_text

    # Test the model
    text = generate_text("neural networks", next_words=5)
    print(text)
    print(f"fit: {fit_seconds:.1f} s (200 epochs)")
    return text, fit_seconds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="rnnkit.utils.set_random_seed")
    main(parser.parse_args().seed)
