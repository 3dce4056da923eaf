"""The command line's training jobs: ``demo`` and ``train-text``, character models on the model API.

Both build ``Embedding → LSTM/GRU/SimpleRNN (return_sequences) → Dense(softmax)`` over the
characters of a text (a :class:`rnnkit.text.Tokenizer` with ``char_level=True`` that keeps case
and punctuation), train it with ``fit`` and its Keras-style progress bar, print samples at a
few temperatures with :func:`rnnkit.sampling.generate_text`, and save the model with its
tokenizer inside (``model.save(path, tokenizer=...)``), so ``python -m rnnkit generate`` works
from the file alone.

``demo`` reads Python's own bundled documentation (``pydoc_data.topics``, in every CPython)
and trains on random windows in short epochs until its time budget (``--minutes``) would be
exceeded; ``train-text`` reads a UTF-8 file and trains on all its windows per epoch, writing a
checkpoint after each epoch so ``--resume`` can continue.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

import rnnkit
from rnnkit.callbacks import Callback, LambdaCallback
from rnnkit.layers import GRU, LSTM, Dense, Embedding, Input, SimpleRNN
from rnnkit.sampling import generate_text
from rnnkit.text import Tokenizer

CELLS = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}
TEMPERATURES = (0.2, 0.6, 1.0)


def corpus() -> str:
    """Python's bundled documentation topics, joined (about 465,000 characters)."""
    from pydoc_data import topics

    return "\n\n".join(topics.topics[k] for k in sorted(topics.topics))


def read_text(path: str) -> str:
    """A non-empty UTF-8 text file's contents.

    Raises:
        OSError: the file cannot be read. ValueError: it is empty or not UTF-8.
    """
    with open(path, "rb") as f:
        data = f.read()
    if not data.strip():
        raise ValueError(f"{path} is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})"
        ) from None


def char_tokenizer(text: str) -> Tokenizer:
    """A character tokenizer fitted on ``text`` that keeps case, punctuation and whitespace."""
    tokenizer = Tokenizer(char_level=True, lower=False, filters="")
    tokenizer.fit_on_texts([text])
    return tokenizer


def char_model(
    vocab_size: int, cell: str = "lstm", units: int = 128, layers: int = 1
) -> rnnkit.Sequential:
    """``Embedding(V, 32) → layers × cell(units, return_sequences) → Dense(V, softmax)``,
    compiled with Adam(3e-3, clipnorm=5) and sparse categorical crossentropy."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    if units < 1 or layers < 1:
        raise ValueError(f"units and layers must be >= 1, got {units} and {layers}")
    model = rnnkit.Sequential(
        [Input((None,), dtype="int32"), Embedding(vocab_size, min(32, vocab_size))]
        + [CELLS[cell](units, return_sequences=True) for _ in range(layers)]
        + [Dense(vocab_size, activation="softmax")]
    )
    model.compile(
        optimizer=rnnkit.optimizers.Adam(3e-3, clipnorm=5.0),
        loss="sparse_categorical_crossentropy",
    )
    return model


def windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows: x (N, seq_len) and the next characters y (N, seq_len)."""
    n = (len(ids) - 1) // seq_len
    if n < 1:
        raise ValueError(
            f"the text has {len(ids)} characters; --seq-len {seq_len} needs at least {seq_len + 1}"
        )
    return ids[: n * seq_len].reshape(n, seq_len), ids[1 : n * seq_len + 1].reshape(n, seq_len)


def random_batches(
    ids: np.ndarray, seq_len: int, batch_size: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless (x, y) batches of windows starting at random offsets."""
    offsets = np.arange(seq_len + 1)
    while True:
        rows = rng.integers(0, len(ids) - seq_len - 1, batch_size)[:, None] + offsets
        chunk = ids[rows]
        yield chunk[:, :-1], chunk[:, 1:]


class TimeBudget(Callback):
    """Stops ``fit`` before ``seconds`` run out: after an epoch when another epoch as long as
    the last would not fit, or at once inside an epoch that overruns."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = float(seconds)
        self.start = time.perf_counter()
        self.epoch_start = self.start

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.perf_counter()
        if now + (now - self.epoch_start) - self.start > self.seconds:
            self.model.stop_training = True


def print_samples(
    model: Any, tokenizer: Tokenizer, prompt: str, length: int, seed: int
) -> dict[float, str]:
    """Print (and return) a sample per temperature in :data:`TEMPERATURES`."""
    samples = {}
    for temperature in TEMPERATURES:
        text = generate_text(model, tokenizer, prompt, length, temperature=temperature, seed=seed)
        samples[temperature] = text
        print(f"\n--- temperature {temperature} ---\n{text}")
    return samples


def _loss_line(history: Any, started: float, tokens_per_epoch: list[int]) -> str:
    losses = history.history.get("loss", [])
    elapsed = time.perf_counter() - started
    if not losses:
        return "no epoch finished"
    return (
        f"loss {losses[0]:.3f} -> {losses[-1]:.3f} over {len(losses)} epochs in {elapsed:.0f} s "
        f"({sum(tokens_per_epoch[: len(losses)]) / elapsed:,.0f} characters/s)"
    )


def run(
    minutes: float = 2.0,
    epochs: int | None = None,
    units: int = 128,
    seed: int = 0,
    out: str = "rnnkit-demo.rnnkit",
    seq_len: int = 64,
    batch_size: int = 32,
    steps_per_epoch: int = 25,
) -> Any:
    """The demo: train on Python's docs until ``minutes`` (or ``epochs`` epochs of
    ``steps_per_epoch`` batches) are used, print samples, save to ``out``."""
    if minutes <= 0:
        raise ValueError(f"--minutes must be > 0, got {minutes}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {epochs}")
    rnnkit.utils.set_random_seed(seed)
    text = corpus()
    tokenizer = char_tokenizer(text)
    ids = np.array(tokenizer.texts_to_sequences([text])[0], np.int64)
    vocab = len(tokenizer.word_index) + 1
    model = char_model(vocab, "lstm", units)
    print(
        f"rnnkit demo: character LSTM({units}) on Python's bundled docs ({len(text):,} "
        f"characters, {vocab - 1} symbols), {minutes:g} min budget"
    )
    started = time.perf_counter()
    budget = minutes * 60.0
    batches = random_batches(ids, seq_len, batch_size, np.random.default_rng(seed))
    history: Any = None
    first: list[float] = []
    if epochs is None:
        # Time one epoch, then show a progress bar over the epochs the budget holds (TimeBudget
        # still stops early if later epochs run slower, or inside an epoch that overruns).
        history = model.fit(
            batches,
            steps_per_epoch=steps_per_epoch,
            epochs=1,
            callbacks=[TimeBudget(budget)],
            verbose=0,
        )
        first = history.history.get("loss", [])
        per_epoch = time.perf_counter() - started
        epochs = len(first) + max(0, int((budget - per_epoch) / per_epoch))
        held = f"the budget holds {epochs} epochs" if epochs > 1 else "the budget is used"
        print(f"epoch 1: loss {first[0]:.3f} in {per_epoch:.1f} s; {held}")
    if epochs > len(first):
        history = model.fit(
            batches,
            steps_per_epoch=steps_per_epoch,
            epochs=epochs,
            initial_epoch=len(first),
            callbacks=[TimeBudget(budget - (time.perf_counter() - started))],
            verbose=1,
        )
        history.history["loss"] = first + history.history.get("loss", [])
    done = len(history.history["loss"])
    print(_loss_line(history, started, [steps_per_epoch * batch_size * seq_len] * done))
    print_samples(model, tokenizer, "The ", 240, seed)
    model.save(out, tokenizer=tokenizer)
    print(f"\nsaved {out}; continue it with: python -m rnnkit generate {out} --prompt 'The '")
    return model


def train_text(
    path: str,
    cell: str = "lstm",
    units: int = 128,
    layers: int = 1,
    seq_len: int = 64,
    batch_size: int = 32,
    epochs: int = 10,
    out: str | None = None,
    resume: bool = False,
    seed: int = 0,
    distributed: bool = False,
) -> Any:
    """``train-text``: a character model on a UTF-8 file, saved to ``out`` (default: the file's
    name + ``.rnnkit``) with a checkpoint ``out + ".ckpt"`` after every epoch; ``resume``
    continues from that checkpoint up to ``epochs`` epochs in all.

    ``distributed``: data-parallel under ``mpiexec`` (``fit(distributed=True)``). Every rank
    reads the file and builds the same windows and model; ``batch_size`` is the global batch;
    rank 0 alone prints, writes the checkpoint (and reads it for ``resume``, then broadcasts
    it), samples and saves."""
    for name, value in (("--seq-len", seq_len), ("--batch-size", batch_size), ("--epochs", epochs)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    ranks, root = 1, True
    if distributed:
        from rnnkit.distributed import _mpi

        comm = _mpi.init()
        ranks, root = comm.Get_size(), comm.Get_rank() == 0
        if batch_size < ranks:
            raise ValueError(
                f"--batch-size {batch_size} is smaller than the {ranks} ranks: every rank needs "
                f"at least one window per step"
            )
    text = read_text(path)
    out = out or os.path.splitext(path)[0] + ".rnnkit"
    checkpoint = out + ".ckpt"
    if resume and root and not os.path.exists(checkpoint):
        raise ValueError(f"--resume: no checkpoint {checkpoint} (train without --resume first)")
    rnnkit.utils.set_random_seed(seed)
    tokenizer = char_tokenizer(text)
    ids = np.array(tokenizer.texts_to_sequences([text])[0], np.int64)
    x, y = windows(ids, seq_len)
    vocab = len(tokenizer.word_index) + 1
    model = char_model(vocab, cell, units, layers)
    model.tokenizer = tokenizer
    callbacks = []
    if root:
        parallel = (
            f"; {ranks} ranks x {rnnkit.get_num_threads()} threads, global batch {batch_size}"
            if distributed
            else ""
        )
        print(
            f"rnnkit train-text: {path}: {len(text):,} characters, {vocab - 1} symbols, "
            f"{len(x):,} windows of {seq_len}; {cell.upper()}({units}) x {layers}{parallel}"
        )
        callbacks.append(
            LambdaCallback(
                on_epoch_end=lambda epoch, logs: model.save_checkpoint(checkpoint, epoch=epoch + 1)
            )
        )
    started = time.perf_counter()
    history = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        callbacks=callbacks,
        verbose=1,
        resume_from=checkpoint if resume else None,
        distributed=distributed,
    )
    if not root:
        return model
    done = len(history.history.get("loss", []))
    print(_loss_line(history, started, [x.size] * done))
    prompt = text[: min(8, len(text))]
    print_samples(model, tokenizer, prompt, 200, seed)
    model.save(out, tokenizer=tokenizer)
    print(f"\nsaved {out} (checkpoint {checkpoint})")
    return model
