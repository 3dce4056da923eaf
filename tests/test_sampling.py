"""rnnkit.sampling: generation against model.predict (the oracle), seeds, sampling filters."""

from __future__ import annotations

import numpy as np
import pytest
import rnnkit
from rnnkit.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Input,
    SimpleRNN,
    TimeDistributed,
)
from rnnkit.sampling import Decoder, _choose, generate, generate_text
from rnnkit.text import Tokenizer, pad_sequences

V = 13
CELLS = [SimpleRNN, LSTM, GRU]


def _log_softmax(p: np.ndarray) -> np.ndarray:
    z = np.log(np.asarray(p, np.float64))
    return z - z.max(axis=-1, keepdims=True)


def _centered(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=-1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))


def _sequence_model(cell, *, layers=2, head_td=False, mask_zero=False, units=12) -> rnnkit.Model:
    """Embedding → stacked cells (return_sequences) → Dense softmax, trained a little."""
    rnnkit.utils.set_random_seed(1)
    head = Dense(V, activation="softmax")
    model = rnnkit.Sequential(
        [Input((None,), dtype="int32"), Embedding(V, 6, mask_zero=mask_zero)]
        + [cell(units, return_sequences=True) for _ in range(layers)]
        + [Dropout(0.1), TimeDistributed(head) if head_td else head]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    seq = (np.arange(40)[None, :] + rng.integers(1, V, (48, 1))) % (V - 1) + 1  # counting task
    model.fit(seq[:, :-1], seq[:, 1:], epochs=3, batch_size=16, verbose=0)
    return model


@pytest.fixture(scope="module", params=CELLS, ids=lambda c: c.__name__)
def trained(request):
    return _sequence_model(request.param)


def test_greedy_equals_argmax_of_predict_on_growing_sequence(trained) -> None:
    prompts = np.random.default_rng(2).integers(1, V, (3, 5))
    new = generate(trained, prompts, 12, temperature=0)
    assert new.shape == (3, 12) and new.dtype == np.int64
    full = np.concatenate([prompts, new], axis=1)
    predicted = trained.predict(full[:, :-1], verbose=0)  # (3, 16, V): next token at each step
    np.testing.assert_array_equal(predicted[:, 4:].argmax(axis=-1), new)


def test_step_logits_match_full_sequence_predict(trained) -> None:
    """Logits from start() + step() equal the log of predict's softmax at every position."""
    tokens = np.random.default_rng(3).integers(1, V, (2, 9))
    decoder = Decoder(trained)
    logits = [decoder.start(tokens[:, :4])]
    logits += [decoder.step(tokens[:, t]) for t in range(4, 9)]
    expected = _log_softmax(trained.predict(tokens, verbose=0)[:, 3:])
    np.testing.assert_allclose(_centered(np.stack(logits, axis=1)), _centered(expected), atol=2e-5)


def test_batched_generation_equals_one_prompt_at_a_time(trained) -> None:
    prompts = np.random.default_rng(4).integers(1, V, (4, 3))
    batch = generate(trained, prompts, 8, temperature=0)
    for row, prompt in zip(batch, prompts):
        np.testing.assert_array_equal(generate(trained, prompt, 8, temperature=0), row)


def test_seed_makes_sampling_reproducible(trained) -> None:
    prompt = [1, 2, 3]
    a = generate(trained, prompt, 30, temperature=1.5, seed=7)
    b = generate(trained, prompt, 30, temperature=1.5, seed=7)
    c = generate(trained, prompt, 30, temperature=1.5, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    rnnkit.utils.set_random_seed(5)
    d = generate(trained, prompt, 30, temperature=1.5)
    rnnkit.utils.set_random_seed(5)
    np.testing.assert_array_equal(generate(trained, prompt, 30, temperature=1.5), d)


def test_top_k_1_and_tiny_top_p_are_greedy(trained) -> None:
    prompt = [4, 5]
    greedy = generate(trained, prompt, 10, temperature=0)
    np.testing.assert_array_equal(generate(trained, prompt, 10, top_k=1, seed=0), greedy)
    np.testing.assert_array_equal(generate(trained, prompt, 10, top_p=1e-9, seed=0), greedy)


def test_stop_ids_end_each_row_and_pad_with_minus_one() -> None:
    model = _sequence_model(GRU, layers=1)
    prompts = np.array([[1, 2], [6, 7]])
    free = generate(model, prompts, 10, temperature=0)
    stop = int(free[0, 2])
    out = generate(model, prompts, 10, temperature=0, stop_ids=[stop])
    for row, free_row in zip(out, free):
        hits = np.flatnonzero(free_row == stop)
        end = hits[0] + 1 if hits.size else 10
        np.testing.assert_array_equal(row[:end], free_row[:end])
        assert (row[end:] == -1).all()
    assert out.shape[1] == max(
        (np.flatnonzero(r == stop)[0] + 1 if (r == stop).any() else 10) for r in free
    )


def test_time_distributed_head_and_mask_zero_prefix() -> None:
    """A pre-padded prompt (zeros under mask_zero) continues exactly like the unpadded one."""
    model = _sequence_model(LSTM, layers=1, head_td=True, mask_zero=True)
    plain = generate(model, [3, 4, 5], 6, temperature=0)
    padded = generate(model, [0, 0, 3, 4, 5], 6, temperature=0)
    np.testing.assert_array_equal(plain, padded)
    full = np.concatenate([[3, 4, 5], plain])[None, :]
    np.testing.assert_array_equal(model.predict(full[:, :-1], verbose=0)[0, 2:].argmax(-1), plain)


def test_model_without_embedding_reads_one_hot_ids() -> None:
    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential(
        [Input((None, V)), LSTM(8, return_sequences=True), Dense(V)]  # linear logits
    )
    model.build()
    prompt = np.array([2, 9, 4])
    new = generate(model, prompt, 5, temperature=0)
    ids = np.concatenate([prompt, new])
    one_hot = np.eye(V, dtype=np.float32)[ids[:-1]][None]
    np.testing.assert_array_equal(model.predict(one_hot, verbose=0)[0, 2:].argmax(-1), new)


def test_last_recurrent_layer_without_sequences_variable_length_is_stepped() -> None:
    """return_sequences=False, input length None: greedy = argmax predict(growing sequence)."""
    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential(
        [Input((None,), dtype="int32"), Embedding(V, 5), GRU(10), Dense(V, activation="softmax")]
    )
    model.build()
    prompt = [1, 7, 3]
    new = generate(model, prompt, 6, temperature=0)
    seq = list(prompt)
    for token in new:
        assert np.argmax(model.predict(np.array([seq]), verbose=0)[0]) == token
        seq.append(int(token))


ARTICLE_CORPUS = [
    "machine learning is powerful",
    "deep learning drives innovation",
    "recurrent neural networks learn sequences",
    "neural networks are inspired by the brain",
    "artificial intelligence is the future",
]


def _article_model(epochs: int) -> tuple[rnnkit.Model, Tokenizer, int]:
    """The seed article's program 2 (Embedding(10, input_length) + SimpleRNN(64) + Dense)."""
    rnnkit.utils.set_random_seed(0)
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(ARTICLE_CORPUS)
    total_words = len(tokenizer.word_index) + 1
    grams = []
    for line in ARTICLE_CORPUS:
        tokens = tokenizer.texts_to_sequences([line])[0]
        grams += [tokens[: i + 1] for i in range(1, len(tokens))]
    max_len = max(len(g) for g in grams)
    grams = pad_sequences(grams, maxlen=max_len, padding="pre")
    x, y = grams[:, :-1], rnnkit.utils.to_categorical(grams[:, -1], num_classes=total_words)
    model = rnnkit.Sequential(
        [
            Embedding(total_words, 10, input_length=max_len - 1),
            SimpleRNN(64),
            Dense(total_words, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    model.fit(x, y, epochs=epochs, verbose=0)
    return model, tokenizer, max_len - 1


def test_fixed_window_model_generates_like_the_article_loop() -> None:
    """Greedy generation = the article's loop: argmax predict on the last T tokens, pre-padded
    (also once the sequence is longer than the window)."""
    model, tokenizer, window = _article_model(epochs=40)
    prompt = tokenizer.texts_to_sequences(["recurrent neural networks"])[0]
    new = generate(model, prompt, 8, temperature=0)
    seq = list(prompt)
    for token in new:
        padded = pad_sequences([seq], maxlen=window, padding="pre")
        assert np.argmax(model.predict(padded, verbose=0)[0]) == token
        seq.append(int(token))
    assert len(seq) > window  # the window was truncated at least once


def test_article_program_continues_with_a_corpus_phrase() -> None:
    model, tokenizer, _ = _article_model(epochs=200)
    text = generate_text(model, tokenizer, "neural networks", 5, temperature=0)
    assert text in (
        "neural networks are inspired by the brain",
        "neural networks learn sequences are inspired by",
    ), text


def test_generate_text_word_and_char_level(trained) -> None:
    words = Tokenizer()
    words.fit_on_texts([" ".join(f"w{i}" for i in range(1, V))])
    text = generate_text(trained, words, "w1 w2", 4, temperature=0)
    ids = generate(trained, words.texts_to_sequences(["w1 w2"])[0], 4, temperature=0)
    assert text == "w1 w2 " + " ".join(words.index_word[int(i)] for i in ids)

    chars = Tokenizer(char_level=True, lower=False, filters="")
    chars.fit_on_texts(["abcdefghijkl"])
    out = generate_text(trained, chars, "ab", 5, temperature=0)
    ids = generate(trained, chars.texts_to_sequences(["ab"])[0], 5, temperature=0)
    assert out == "ab" + "".join(chars.index_word[int(i)] for i in ids)
    with pytest.raises(ValueError, match="none of the tokens"):
        generate_text(trained, chars, "XYZ", 3)


def test_choose_samples_the_tempered_softmax() -> None:
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    rng = np.random.default_rng(0)
    n = 40_000
    draws = np.array([_choose(logits, 2.0, None, None, rng)[0] for _ in range(n)])
    expected = np.exp(logits[0] / 2.0)
    expected /= expected.sum()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / n, expected, atol=0.01)

    top2 = np.array([_choose(logits, 1.0, 2, None, rng)[0] for _ in range(4000)])
    assert set(np.unique(top2)) == {0, 1}
    np.testing.assert_allclose(np.mean(top2 == 0), 0.5 / 0.8, atol=0.03)
    nucleus = np.array([_choose(logits, 1.0, None, 0.7, rng)[0] for _ in range(4000)])
    assert set(np.unique(nucleus)) == {0, 1}  # 0.5 < 0.7 <= 0.5 + 0.3


@pytest.mark.parametrize(
    ("model_fn", "message"),
    [
        (
            lambda: rnnkit.Sequential(
                [Input((None,), dtype="int32"), Embedding(V, 4),
                 Bidirectional(LSTM(4, return_sequences=True)), Dense(V, activation="softmax")]
            ),
            "cannot generate through layer",
        ),
        (
            lambda: rnnkit.Sequential(
                [Input((None,), dtype="int32"), Embedding(V, 4),
                 LSTM(4, return_sequences=True), Dense(V, activation="sigmoid")]
            ),
            "softmax probabilities or linear logits",
        ),
        (
            lambda: rnnkit.Sequential(
                [Input((None,), dtype="int32"), Embedding(V, 4),
                 GRU(4, return_sequences=True, go_backwards=True), Dense(V)]
            ),
            "go_backwards",
        ),
    ],
)
def test_unsupported_models_are_refused(model_fn, message) -> None:
    model = model_fn()
    model.build()
    with pytest.raises(ValueError, match=message):
        generate(model, [1, 2], 3)


def test_bad_arguments(trained) -> None:
    with pytest.raises(ValueError, match="empty"):
        generate(trained, [], 3)
    with pytest.raises(ValueError, match="out of range"):
        generate(trained, [1, V], 3)
    with pytest.raises(ValueError, match="temperature"):
        generate(trained, [1], 3, temperature=-1)
    with pytest.raises(ValueError, match="top_k"):
        generate(trained, [1], 3, top_k=0)
    with pytest.raises(ValueError, match="top_p"):
        generate(trained, [1], 3, top_p=1.5)
    with pytest.raises(ValueError, match="length"):
        generate(trained, [1], -1)
    with pytest.raises(ValueError, match="equal-length"):
        generate(trained, [[1, 2], [3]], 2)
    assert generate(trained, [1, 2], 0).shape == (0,)
