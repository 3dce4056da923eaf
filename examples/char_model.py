"""A character-level language model on any text file: loss curve and samples.

Reads a UTF-8 file (default: Python's bundled documentation, ``pydoc_data.topics``), keeps
its first ``--max-chars`` characters, tokenizes it with ``Tokenizer(char_level=True)``,
cuts non-overlapping windows of ``--seq-len`` characters, and trains
``Embedding(V, 32) → LSTM(units, return_sequences=True) → Dense(V, softmax)`` with Adam and
sparse categorical crossentropy, 10 % held out for validation. It prints the loss per epoch
(a text loss curve), samples at temperatures 0.5 and 1.0 (:func:`rnnkit.sampling.generate`,
stepping the LSTM one character at a time), and with ``--png`` (needs matplotlib: ``pip
install rnnkit[plot]``) saves the curve.

Run: ``python examples/char_model.py [FILE] [--epochs 20] [--units 128] [--max-chars 150000]
[--png loss.png]``. Printed here (defaults, pydoc corpus, seed 0, 2 threads)::

    150,000 characters, 100 symbols, 2343 windows of 64
    epoch  loss   val_loss   (fit 47 s)
        1  3.383  3.149  ########################################
        2  2.968  2.800  ###################################
        3  2.663  2.654  ###############################
        4  2.488  2.535  #############################
        5  2.360  2.464  ###########################
        6  2.256  2.400  ##########################
        7  2.161  2.342  #########################
        8  2.077  2.295  ########################
        9  2.003  2.248  #######################
       10  1.933  2.206  ######################
       11  1.873  2.172  ######################
       12  1.819  2.151  #####################
       13  1.770  2.117  ####################
       14  1.729  2.094  ####################
       15  1.688  2.072  ###################
       16  1.655  2.038  ###################
       17  1.622  2.028  ###################
       18  1.591  2.017  ##################
       19  1.564  1.985  ##################
       20  1.539  1.972  ##################

    --- temperature 0.5 ---
    The subject in will and by the exception in the called only of a class the executes the contine be the same of the for a formation of the class and a for be attribute the new except and "__getattr" that a

    --- temperature 1.0 ---
    The is
    | and tr= < It "voulted exception negision folats valueched, deferrsed in enlect can be equeal and to an They None(axce of the rearditation *bigsiagized the
    sam asses helue it a "Excluess, if types
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import rnnkit
from rnnkit.layers import LSTM, Dense, Embedding, Input
from rnnkit.sampling import generate_text
from rnnkit.text import Tokenizer


def default_text() -> str:
    """Python's own documentation topics (in every CPython)."""
    from pydoc_data import topics

    return "\n\n".join(topics.topics[k] for k in sorted(topics.topics))


def main(
    path: str | None = None,
    epochs: int = 20,
    units: int = 128,
    seq_len: int = 64,
    max_chars: int = 150_000,
    png: str | None = None,
    seed: int = 0,
) -> dict:
    """Train and sample; returns {"loss": [...], "val_loss": [...], "samples": {T: text}}."""
    rnnkit.utils.set_random_seed(seed)
    text = default_text() if path is None else Path(path).read_text(encoding="utf-8")
    text = text[:max_chars]
    tokenizer = Tokenizer(char_level=True, lower=False, filters="")
    tokenizer.fit_on_texts([text])
    ids = np.array(tokenizer.texts_to_sequences([text])[0])
    vocab = len(tokenizer.word_index) + 1
    n = (len(ids) - 1) // seq_len
    if n < 2:
        sys.exit(f"char_model: {path} is too short for --seq-len {seq_len}")
    x = ids[: n * seq_len].reshape(n, seq_len)
    y = ids[1 : n * seq_len + 1].reshape(n, seq_len)

    model = rnnkit.Sequential(
        [
            Input((None,), dtype="int32"),
            Embedding(vocab, 32),
            LSTM(units, return_sequences=True),
            Dense(vocab, activation="softmax"),
        ]
    )
    model.compile(optimizer=rnnkit.optimizers.Adam(3e-3, clipnorm=5.0),
                  loss="sparse_categorical_crossentropy")
    print(f"{len(text):,} characters, {vocab - 1} symbols, {n} windows of {seq_len}")
    start = time.perf_counter()
    history = model.fit(x, y, batch_size=32, epochs=epochs, validation_split=0.1, verbose=0)
    seconds = time.perf_counter() - start
    loss, val_loss = history.history["loss"], history.history["val_loss"]
    top = max(loss + val_loss)
    print(f"epoch  loss   val_loss   (fit {seconds:.0f} s)")
    for epoch, (a, b) in enumerate(zip(loss, val_loss), 1):
        print(f"{epoch:5d}  {a:.3f}  {b:.3f}  {'#' * int(40 * a / top)}")

    samples = {}
    prompt = text[:4]
    for temperature in (0.5, 1.0):
        samples[temperature] = generate_text(
            model, tokenizer, prompt, 200, temperature=temperature, seed=seed
        )
        print(f"\n--- temperature {temperature} ---\n{samples[temperature]}")

    if png:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("\n--png needs matplotlib (pip install rnnkit[plot]); no figure written")
        else:
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.plot(range(1, epochs + 1), loss, label="training")
            ax.plot(range(1, epochs + 1), val_loss, label="validation")
            ax.set(xlabel="epoch", ylabel="crossentropy (nats/char)", title="char LSTM")
            ax.legend()
            fig.savefig(png, dpi=120, bbox_inches="tight")
            print(f"\nwrote {png}")
    return {"loss": loss, "val_loss": val_loss, "samples": samples}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=None, help="UTF-8 text (default: pydoc)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--max-chars", type=int, default=150_000)
    parser.add_argument("--png", default=None, help="write the loss curve here (matplotlib)")
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    main(a.file, a.epochs, a.units, a.seq_len, a.max_chars, a.png, a.seed)
