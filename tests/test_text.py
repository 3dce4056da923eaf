"""rnnkit.text (Tokenizer, pad_sequences) and to_categorical against Keras 2's behaviour.

Two oracles. First, tables of edge cases whose expected values are written by hand from Keras
2's documented behaviour (vocabulary by descending count, ties by first appearance, index 0
reserved, OOV at index 1, ``num_words`` keeping indices < num_words, "pre" padding and
truncation by default). Second, where Keras 3 is installed, its surviving copy of the Keras 2
code (``keras.src.legacy.preprocessing.text``, ``keras.utils.pad_sequences``,
``keras.utils.to_categorical``): the same tables, random texts (hypothesis), JSON in both
directions and the seed article's n-gram pipeline must give what Keras gives.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json
import math
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import rnnkit.preprocessing
from hypothesis import given, settings
from hypothesis import strategies as st
from rnnkit import text as rk_text
from rnnkit._categorical import to_categorical
from rnnkit.text import Tokenizer, pad_sequences, tokenizer_from_json

from conftest import require

TWO_DOCS = ["The cat sat on the mat.", "The dog ate my homework!"]
# "the" occurs 3 times, every other word once: first "the", then the rest as they appear.
TWO_DOCS_INDEX = {
    word: index
    for index, word in enumerate(
        ["the", "cat", "sat", "on", "mat", "dog", "ate", "my", "homework"], start=1
    )
}
TWO_DOCS_INDEX_OOV = {"<OOV>": 1, **{word: index + 1 for word, index in TWO_DOCS_INDEX.items()}}

# (id, Tokenizer kwargs, texts to fit, texts to convert, expected word_index, expected sequences)
TOKENIZER_CASES = [
    (
        "default",
        {},
        TWO_DOCS,
        ["the cat ate a fish"],
        TWO_DOCS_INDEX,
        [[1, 2, 7]],
    ),
    (
        "unknown words become the oov index 1",
        {"oov_token": "<OOV>"},
        TWO_DOCS,
        ["the cat ate a fish"],
        TWO_DOCS_INDEX_OOV,
        [[2, 3, 8, 1, 1]],
    ),
    (
        "num_words drops indices >= num_words",
        {"num_words": 4},
        TWO_DOCS,
        ["the cat sat on the mat"],
        TWO_DOCS_INDEX,
        [[1, 2, 3, 1]],
    ),
    (
        "num_words with oov maps the cut words to 1",
        {"num_words": 4, "oov_token": "<OOV>"},
        TWO_DOCS,
        ["the cat sat on the mat"],
        TWO_DOCS_INDEX_OOV,
        [[2, 3, 1, 1, 2, 1]],
    ),
    (
        "empty strings are documents without words",
        {},
        ["", "a b", ""],
        ["", "b a c"],
        {"a": 1, "b": 2},
        [[], [2, 1]],
    ),
    (
        "default filters split at punctuation, keep the apostrophe",
        {},
        ["Hello, world! It's e-mail:\thello@world.\n"],
        ["it's HELLO"],
        {"hello": 1, "world": 2, "it's": 3, "e": 4, "mail": 5},
        [[3, 1]],
    ),
    (
        "no filters keep punctuation inside words",
        {"filters": ""},
        ["Hello, world! hello"],
        ["hello, hello"],
        {"hello,": 1, "world!": 2, "hello": 3},
        [[1, 3]],
    ),
    (
        "lower=False keeps case; ties by first appearance",
        {"lower": False},
        ["The the THE"],
        ["THE The"],
        {"The": 1, "the": 2, "THE": 3},
        [[3, 1]],
    ),
    (
        "ties by first appearance across documents",
        {},
        ["b a", "a c b"],
        ["c b a"],
        {"b": 1, "a": 2, "c": 3},
        [[3, 1, 2]],
    ),
    (
        "higher counts first",
        {},
        ["x y", "y z z z"],
        ["x y z"],
        {"z": 1, "y": 2, "x": 3},
        [[3, 2, 1]],
    ),
    (
        "custom split",
        {"split": ",", "filters": ""},
        ["a,b c,,d"],
        ["d,a"],
        {"a": 1, "b c": 2, "d": 3},
        [[3, 1]],
    ),
    (
        "char_level: characters, no filters, spaces count",
        {"char_level": True},
        ["abca", "B! a"],
        ["cab?"],
        {"a": 1, "b": 2, "c": 3, "!": 4, " ": 5},
        [[3, 1, 2]],
    ),
    (
        "char_level with oov",
        {"char_level": True, "oov_token": "?"},
        ["aab"],
        ["abz"],
        {"?": 1, "a": 2, "b": 3},
        [[2, 3, 1]],
    ),
    (
        "pre-split token lists: lowered, not filtered",
        {},
        [["Hello", "World"], ["hello"], ["a.b"]],
        [["HELLO", "a.b", "x"]],
        {"hello": 1, "world": 2, "a.b": 3},
        [[1, 3]],
    ),
    (
        "oov token that also occurs in the text: its later index wins (Keras quirk)",
        {"oov_token": "unk"},
        ["unk a a"],
        ["zzz a unk"],
        {"a": 2, "unk": 3},
        [[3, 2, 3]],
    ),
]


def _ids(cases: list) -> list[str]:
    return [case[0] for case in cases]


@pytest.fixture(scope="module")
def keras() -> SimpleNamespace:
    """Keras's copies of the Keras 2 tools (skips, or fails in CI, where Keras is absent)."""
    require("keras")
    legacy_text = require("keras.src.legacy.preprocessing.text")
    utils = require("keras.utils")
    return SimpleNamespace(
        Tokenizer=legacy_text.Tokenizer,
        tokenizer_from_json=legacy_text.tokenizer_from_json,
        pad_sequences=utils.pad_sequences,
        to_categorical=utils.to_categorical,
    )


@pytest.mark.parametrize(
    ("kwargs", "fit", "convert", "word_index", "sequences"),
    [case[1:] for case in TOKENIZER_CASES],
    ids=_ids(TOKENIZER_CASES),
)
def test_tokenizer_table(kwargs, fit, convert, word_index, sequences) -> None:
    tokenizer = Tokenizer(**kwargs)
    tokenizer.fit_on_texts(fit)
    assert tokenizer.word_index == word_index
    assert tokenizer.index_word == {i: w for w, i in word_index.items()}
    assert tokenizer.document_count == len(fit)
    assert tokenizer.texts_to_sequences(convert) == sequences
    assert list(tokenizer.texts_to_sequences_generator(convert)) == sequences


@pytest.mark.parametrize(
    ("kwargs", "fit", "convert"),
    [case[1:4] for case in TOKENIZER_CASES],
    ids=_ids(TOKENIZER_CASES),
)
def test_tokenizer_table_matches_keras(keras, kwargs, fit, convert) -> None:
    _assert_same_tokenizers(keras, kwargs, fit, convert, [[0, 1, 2, 3, 99], [4, 1, 1]])


def _assert_same_tokenizers(keras, kwargs, fit, convert, index_sequences) -> None:
    """Fit rnnkit's and Keras's Tokenizer alike; every table and conversion must agree."""
    ours, theirs = Tokenizer(**kwargs), keras.Tokenizer(**kwargs)
    ours.fit_on_texts(fit)
    theirs.fit_on_texts(fit)
    assert list(ours.word_counts.items()) == list(theirs.word_counts.items())
    assert dict(ours.word_docs) == dict(theirs.word_docs)
    assert dict(ours.index_docs) == dict(theirs.index_docs)
    assert ours.word_index == theirs.word_index
    assert ours.index_word == theirs.index_word
    assert ours.document_count == theirs.document_count
    assert ours.texts_to_sequences(convert) == theirs.texts_to_sequences(convert)
    assert ours.sequences_to_texts(index_sequences) == theirs.sequences_to_texts(index_sequences)
    for mode in ("binary", "count", "tfidf", "freq"):
        expected = _outcome(lambda m=mode: theirs.texts_to_matrix(convert, mode=m))
        got = _outcome(lambda m=mode: ours.texts_to_matrix(convert, mode=m))
        if isinstance(expected, type):
            assert got is expected, mode
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=mode)
    our_config, their_config = ours.get_config(), theirs.get_config()
    assert our_config.keys() == their_config.keys()
    for key, value in their_config.items():
        if isinstance(value, str) and key not in ("filters", "split", "oov_token"):
            assert json.loads(our_config[key]) == json.loads(value), key
        else:
            assert our_config[key] == value, key


def _outcome(call):
    """The call's result, or the type of the exception it raised."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - compared against the other library's outcome
        return type(exc)


def test_word_counts_docs_and_index_docs() -> None:
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(["a a b", "a"])
    assert list(tokenizer.word_counts.items()) == [("a", 3), ("b", 1)]
    assert dict(tokenizer.word_docs) == {"a": 2, "b": 1}
    assert dict(tokenizer.index_docs) == {1: 2, 2: 1}
    tokenizer.fit_on_texts(["b b b b"])  # fitting again adds to the counts and re-ranks
    assert tokenizer.word_index == {"b": 1, "a": 2}
    assert tokenizer.document_count == 3
    assert dict(tokenizer.index_docs) == {2: 2, 1: 2}


def test_sequences_to_texts_with_and_without_oov() -> None:
    plain, oov = Tokenizer(), Tokenizer(oov_token="<OOV>")
    plain.fit_on_texts(TWO_DOCS)
    oov.fit_on_texts(TWO_DOCS)
    assert plain.sequences_to_texts([[1, 2, 99, 0]]) == ["the cat"]
    assert oov.sequences_to_texts([[2, 3, 99, 0]]) == ["the cat <OOV> <OOV>"]
    cut = Tokenizer(num_words=3)
    cut.fit_on_texts(TWO_DOCS)
    assert cut.sequences_to_texts([np.array([1, 2, 3, 4])]) == ["the cat"]


def test_texts_to_matrix_modes_by_hand() -> None:
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts(["a a b", "a c"])  # a: 1 (3 times, 2 docs), b: 2, c: 3
    texts = ["a a b", "c d"]  # d is unknown: dropped
    np.testing.assert_array_equal(
        tokenizer.texts_to_matrix(texts, "binary"), [[0, 1, 1, 0], [0, 0, 0, 1]]
    )
    np.testing.assert_array_equal(
        tokenizer.texts_to_matrix(texts, "count"), [[0, 2, 1, 0], [0, 0, 0, 1]]
    )
    np.testing.assert_allclose(
        tokenizer.texts_to_matrix(texts, "freq"), [[0, 2 / 3, 1 / 3, 0], [0, 0, 0, 1]]
    )
    idf_a, idf_bc = math.log(1 + 2 / 3), math.log(1 + 2 / 2)
    np.testing.assert_allclose(
        tokenizer.texts_to_matrix(texts, "tfidf"),
        [[0, (1 + math.log(2)) * idf_a, idf_bc, 0], [0, 0, 0, idf_bc]],
    )
    assert tokenizer.texts_to_matrix(texts).dtype == np.float64
    assert Tokenizer(num_words=2).sequences_to_matrix([[1, 1, 5]], "count").tolist() == [[0, 2]]


def test_fit_on_sequences_feeds_tfidf() -> None:
    tokenizer = Tokenizer(num_words=4)
    tokenizer.fit_on_sequences([[1, 2], [1], [1, 3, 3]])
    assert tokenizer.document_count == 3
    assert dict(tokenizer.index_docs) == {1: 3, 2: 1, 3: 1}
    row = tokenizer.sequences_to_matrix([[3, 3]], mode="tfidf")[0]
    np.testing.assert_allclose(row, [0, 0, 0, (1 + math.log(2)) * math.log(1 + 3 / 2)])


def test_fit_on_sequences_matches_keras(keras) -> None:
    sequences = [[1, 2], [1], [1, 3, 3], []]
    ours, theirs = Tokenizer(num_words=5), keras.Tokenizer(num_words=5)
    for tokenizer in (ours, theirs):
        tokenizer.fit_on_sequences(sequences)
        tokenizer.fit_on_texts(["a b b"])  # Keras then overwrites index_docs of fitted words
    assert dict(ours.index_docs) == dict(theirs.index_docs)
    np.testing.assert_allclose(
        ours.sequences_to_matrix(sequences, "tfidf"), theirs.sequences_to_matrix(sequences, "tfidf")
    )


TOKENIZER_ERRORS = [
    ("bare string to fit", lambda t: t.fit_on_texts("one text"), TypeError, "texts"),
    ("bare string to convert", lambda t: t.texts_to_sequences("abc"), TypeError, "texts"),
    ("a number as a text", lambda t: t.fit_on_texts([3]), TypeError, "text"),
    ("non-str tokens", lambda t: t.fit_on_texts([["a", 1]]), TypeError, "tokens"),
    ("unknown matrix mode", lambda t: t.texts_to_matrix(["a"], mode="tf"), ValueError, "mode"),
    ("matrix before fit", lambda t: t.sequences_to_matrix([[1]]), ValueError, "num_words"),
    (
        "tfidf before fit",
        lambda t: Tokenizer(num_words=3).sequences_to_matrix([[1]], "tfidf"),
        ValueError,
        "tfidf",
    ),
    ("float index", lambda t: t.sequences_to_texts([[1.5]]), TypeError, "ints"),
    ("negative num_words", lambda t: Tokenizer(num_words=-1), ValueError, "num_words"),
    ("empty split", lambda t: Tokenizer(split=""), ValueError, "split"),
    ("unknown keyword", lambda t: Tokenizer(nwords=3), TypeError, "nwords"),
]


@pytest.mark.parametrize(
    ("call", "error", "names"), [c[1:] for c in TOKENIZER_ERRORS], ids=_ids(TOKENIZER_ERRORS)
)
def test_tokenizer_errors_name_the_argument(call, error, names) -> None:
    with pytest.raises(error, match=names):
        call(Tokenizer())


def test_legacy_nb_words_and_document_count_keywords() -> None:
    with pytest.warns(DeprecationWarning, match="num_words"):
        tokenizer = Tokenizer(nb_words=3, document_count=5)
    assert (tokenizer.num_words, tokenizer.document_count) == (3, 5)


def test_analyzer_replaces_word_splitting_and_is_not_saved() -> None:
    tokenizer = Tokenizer(analyzer=lambda text: text.split("-"))
    tokenizer.fit_on_texts(["x-Y-x"])
    assert tokenizer.word_index == {"x": 1, "Y": 2}
    with pytest.warns(UserWarning, match="analyzer"):
        saved = tokenizer.to_json()
    assert tokenizer_from_json(saved).analyzer is None


def _fitted_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(num_words=6, oov_token="<OOV>", filters="!.", split=" ")
    tokenizer.fit_on_texts(TWO_DOCS + ["Ünïcode wörds, and the cat!"])
    tokenizer.fit_on_sequences([[1, 2, 2]])
    return tokenizer


def _assert_same_state(a: Tokenizer, b: Tokenizer) -> None:
    names = "num_words filters lower split char_level oov_token document_count word_index"
    for name in [*names.split(), "index_word"]:
        assert getattr(a, name) == getattr(b, name), name
    assert list(a.word_counts.items()) == list(b.word_counts.items())
    assert dict(a.word_docs) == dict(b.word_docs)
    assert dict(a.index_docs) == dict(b.index_docs)


def test_json_round_trip() -> None:
    tokenizer = _fitted_tokenizer()
    restored = tokenizer_from_json(tokenizer.to_json())
    _assert_same_state(tokenizer, restored)
    texts = ["the cat ate wörds", "unknown"]
    assert restored.texts_to_sequences(texts) == tokenizer.texts_to_sequences(texts)
    restored.fit_on_texts(["brand new words"])  # a restored tokenizer can keep fitting
    assert restored.word_docs["brand"] == 1


def test_dict_round_trip_through_json_text() -> None:
    tokenizer = _fitted_tokenizer()
    data = json.loads(json.dumps(tokenizer.to_dict()))
    restored = Tokenizer.from_dict(data)
    _assert_same_state(tokenizer, restored)
    assert restored.texts_to_matrix(["the cat"], "tfidf").tolist() == (
        tokenizer.texts_to_matrix(["the cat"], "tfidf").tolist()
    )


def _corrupt(change) -> dict:
    data = json.loads(json.dumps(_fitted_tokenizer().to_dict()))
    change(data)
    return data


CORRUPT_DICTS = [
    ("not a dict", lambda d: d.clear(), "not a saved Tokenizer"),
    ("newer format", lambda d: d.update(format_version=99), "format_version 99"),
    ("missing table", lambda d: d.pop("word_index"), "word_index"),
    ("bad count", lambda d: d["word_counts"].append(["x", -2]), "word_counts"),
    ("bad index", lambda d: d["word_index"].append(["x", 0]), "word_index"),
    ("shared index", lambda d: d["word_index"].append(["x", 1]), "two words"),
    ("extra config key", lambda d: d["config"].update(evil="os.system"), "keys"),
    ("bad config value", lambda d: d["config"].update(num_words="6"), "num_words"),
    ("bool as string", lambda d: d["config"].update(lower="yes"), "bools"),
]


@pytest.mark.parametrize(
    ("change", "message"), [c[1:] for c in CORRUPT_DICTS], ids=_ids(CORRUPT_DICTS)
)
def test_from_dict_refuses_corrupt_data(change, message) -> None:
    with pytest.raises(ValueError, match=message):
        Tokenizer.from_dict(_corrupt(change))


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"config": {"num_words": null}}'])
def test_tokenizer_from_json_refuses_other_json(text) -> None:
    with pytest.raises(ValueError, match="tokenizer_from_json"):
        tokenizer_from_json(text)


def test_json_interchanges_with_keras(keras) -> None:
    ours = _fitted_tokenizer()
    theirs = keras.Tokenizer(num_words=6, oov_token="<OOV>", filters="!.", split=" ")
    theirs.fit_on_texts(TWO_DOCS + ["Ünïcode wörds, and the cat!"])
    theirs.fit_on_sequences([[1, 2, 2]])
    texts = ["the cat ate wörds", "unknown and my"]
    from_ours = keras.tokenizer_from_json(ours.to_json())
    from_theirs = tokenizer_from_json(theirs.to_json())
    _assert_same_state(ours, from_theirs)
    expected = theirs.texts_to_sequences(texts)
    assert from_ours.texts_to_sequences(texts) == expected
    assert from_theirs.texts_to_sequences(texts) == expected
    np.testing.assert_allclose(
        from_theirs.texts_to_matrix(texts, "tfidf"), theirs.texts_to_matrix(texts, "tfidf")
    )


# A small alphabet makes repeated words (ties, counts) and every filter class likely.
TEXT_ALPHABET = "aAbBcé İ,.!'\t\n-"
texts_strategy = st.lists(st.text(alphabet=TEXT_ALPHABET, max_size=24), max_size=6)
config_strategy = st.fixed_dictionaries(
    {
        "num_words": st.sampled_from([None, 0, 1, 2, 3, 5, 8]),
        "oov_token": st.sampled_from([None, "<OOV>", "a", "b"]),
        "char_level": st.booleans(),
        "lower": st.booleans(),
        "filters": st.sampled_from([rk_text.DEFAULT_FILTERS, "", "a,."]),
        "split": st.sampled_from([" ", "b"]),
    }
)


@settings(max_examples=80, deadline=None)
@given(
    config=config_strategy,
    fit=texts_strategy,
    convert=texts_strategy,
    index_sequences=st.lists(st.lists(st.integers(0, 12), max_size=6), max_size=3),
)
def test_tokenizer_matches_keras_on_random_texts(
    keras, config, fit, convert, index_sequences
) -> None:
    _assert_same_tokenizers(keras, config, fit, convert, index_sequences)


@settings(max_examples=30, deadline=None)
@given(
    config=config_strategy,
    fit=st.lists(st.lists(st.sampled_from(["x", "X", "y", "z."]), max_size=5), max_size=4),
)
def test_tokenizer_matches_keras_on_token_lists(keras, config, fit) -> None:
    _assert_same_tokenizers(keras, config, fit, fit + [["Y", "w"]], [[1, 2, 0, 7]])


# (id, sequences, kwargs, expected) -- the first four are the examples of Keras's docstring.
PAD_CASES = [
    ("default pre", [[1], [2, 3], [4, 5, 6]], {}, [[0, 0, 1], [0, 2, 3], [4, 5, 6]]),
    ("value", [[1], [2, 3], [4, 5, 6]], {"value": -1}, [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
    ("post", [[1], [2, 3], [4, 5, 6]], {"padding": "post"}, [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
    ("maxlen truncates pre", [[1], [2, 3], [4, 5, 6]], {"maxlen": 2}, [[0, 1], [2, 3], [5, 6]]),
    (
        "maxlen truncates post",
        [[1], [2, 3], [4, 5, 6]],
        {"maxlen": 2, "truncating": "post"},
        [[0, 1], [2, 3], [4, 5]],
    ),
    (
        "post padding, post truncating",
        [[1], [2, 3], [4, 5, 6]],
        {"maxlen": 2, "padding": "post", "truncating": "post"},
        [[1, 0], [2, 3], [4, 5]],
    ),
    (
        "post padding, pre truncating",
        [[1], [4, 5, 6]],
        {"maxlen": 2, "padding": "post"},
        [[1, 0], [5, 6]],
    ),
    ("maxlen longer than all", [[1, 2]], {"maxlen": 4}, [[0, 0, 1, 2]]),
    ("an empty sequence", [[], [1, 2]], {}, [[0, 0], [1, 2]]),
    ("all empty", [[], []], {}, np.zeros((2, 0), dtype="int32")),
    ("ragged arrays", [np.arange(1, 4), np.array([9])], {}, [[1, 2, 3], [0, 0, 9]]),
    ("tuples", ((1, 2), (3,)), {}, [[1, 2], [0, 3]]),
    ("2-D array input", np.array([[1, 2], [3, 4]]), {"maxlen": 3}, [[0, 1, 2], [0, 3, 4]]),
    ("int dtype truncates floats", [[0.5, 1.7]], {}, [[0, 1]]),
    (
        "float dtype and value",
        [[0.5, 1.5], [2.5]],
        {"dtype": "float32", "value": -0.5},
        np.array([[0.5, 1.5], [-0.5, 2.5]], dtype="float32"),
    ),
    ("int64 dtype", [[2**40]], {"dtype": "int64", "maxlen": 2}, np.array([[0, 2**40]])),
    (
        "object dtype with string value",
        [["a", "b"], ["c"]],
        {"dtype": object, "value": "<pad>"},
        np.array([["a", "b"], ["<pad>", "c"]], dtype=object),
    ),
    (
        "string dtype with string value",
        [["ab"], []],
        {"dtype": "<U3", "value": "x", "maxlen": 2},
        np.array([["x", "ab"], ["x", "x"]]),
    ),
    (
        "vector elements",
        [np.ones((2, 3)), np.full((1, 3), 2.0)],
        {"dtype": "float32"},
        np.array([[[1] * 3, [1] * 3], [[0] * 3, [2] * 3]], dtype="float32"),
    ),
]

PAD_DTYPES = {
    "int64 dtype": "int64",
    "float dtype and value": "float32",
    "object dtype with string value": object,
    "string dtype with string value": "<U3",
    "vector elements": "float32",
}


@pytest.mark.parametrize(
    ("case_id", "sequences", "kwargs", "expected"), PAD_CASES, ids=_ids(PAD_CASES)
)
def test_pad_sequences_table(case_id, sequences, kwargs, expected) -> None:
    result = pad_sequences(sequences, **kwargs)
    assert result.dtype == np.dtype(PAD_DTYPES.get(case_id, "int32"))
    np.testing.assert_array_equal(result, np.asarray(expected, dtype=result.dtype))
    assert result.shape == np.asarray(expected).shape


@pytest.mark.parametrize(
    ("sequences", "kwargs"), [case[1:3] for case in PAD_CASES], ids=_ids(PAD_CASES)
)
def test_pad_sequences_table_matches_keras(keras, sequences, kwargs) -> None:
    expected = keras.pad_sequences(sequences, **kwargs)
    result = pad_sequences(sequences, **kwargs)
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)


BEYOND_KERAS_PAD_CASES = [
    ("no sequences", [], {}, (0, 0)),
    ("no sequences, maxlen", [], {"maxlen": 3}, (0, 3)),
    ("maxlen 0", [[1, 2], []], {"maxlen": 0}, (2, 0)),
    ("a generator", ([i] * i for i in range(1, 3)), {}, (2, 2)),
]


@pytest.mark.parametrize(
    ("sequences", "kwargs", "shape"),
    [case[1:] for case in BEYOND_KERAS_PAD_CASES],
    ids=_ids(BEYOND_KERAS_PAD_CASES),
)
def test_pad_sequences_beyond_keras(sequences, kwargs, shape) -> None:
    result = pad_sequences(sequences, **kwargs)
    assert result.shape == shape
    if shape == (2, 2):
        np.testing.assert_array_equal(result, [[0, 1], [2, 2]])


PAD_ERRORS = [
    ("padding", [[1]], {"padding": "middle"}, "padding"),
    ("truncating", [[1, 2]], {"maxlen": 1, "truncating": "both"}, "truncating"),
    ("truncating checked up front", [[1]], {"truncating": "x"}, "truncating"),
    ("non-iterable", 5, {}, "sequences"),
    ("a bare string", "abc", {}, "sequences"),
    ("non-iterable element", [[1], 2], {}, "sequences"),
    ("negative maxlen", [[1]], {"maxlen": -1}, "maxlen"),
    ("float maxlen", [[1]], {"maxlen": 2.5}, "maxlen"),
    ("string value, int dtype", [[1]], {"value": "x"}, "dtype"),
    ("element shapes differ", [np.ones((1, 3)), np.ones((1, 2))], {}, "position 1"),
]


@pytest.mark.parametrize(
    ("sequences", "kwargs", "names"), [c[1:] for c in PAD_ERRORS], ids=_ids(PAD_ERRORS)
)
def test_pad_sequences_errors_name_the_argument(sequences, kwargs, names) -> None:
    with pytest.raises(ValueError, match=names):
        pad_sequences(sequences, **kwargs)


@settings(max_examples=80, deadline=None)
@given(
    sequences=st.lists(st.lists(st.integers(-50, 50), max_size=7), min_size=1, max_size=6),
    maxlen=st.one_of(st.none(), st.integers(1, 9)),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
    value=st.integers(-3, 3),
    dtype=st.sampled_from(["int32", "int64", "float32", "float64"]),
)
def test_pad_sequences_matches_keras_on_random_input(
    keras, sequences, maxlen, padding, truncating, value, dtype
) -> None:
    kwargs = {
        "maxlen": maxlen,
        "padding": padding,
        "truncating": truncating,
        "value": value,
        "dtype": dtype,
    }
    expected = keras.pad_sequences(sequences, **kwargs)
    result = pad_sequences(sequences, **kwargs)
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)


# (id, y, kwargs, expected)
CATEGORICAL_CASES = [
    ("vector", [0, 1, 2, 3], {"num_classes": 4}, np.eye(4)),
    ("inferred classes", [2, 0], {}, [[0, 0, 1], [1, 0, 0]]),
    ("trailing 1 squeezed", [[1], [0]], {}, [[0, 1], [1, 0]]),
    (
        "matrix",
        [[0, 1], [2, 0]],
        {"num_classes": 3},
        [[[1, 0, 0], [0, 1, 0]], [[0, 0, 1], [1, 0, 0]]],
    ),
    ("scalar", 2, {"num_classes": 3}, [0, 0, 1]),
    ("whole floats", np.array([1.0, 0.0]), {}, [[0, 1], [1, 0]]),
    ("empty with num_classes", np.zeros(0, dtype=int), {"num_classes": 3}, np.zeros((0, 3))),
]


@pytest.mark.parametrize(
    ("y", "kwargs", "expected"), [c[1:] for c in CATEGORICAL_CASES], ids=_ids(CATEGORICAL_CASES)
)
def test_to_categorical_table(y, kwargs, expected) -> None:
    result = to_categorical(y, **kwargs)
    assert result.dtype == np.float32
    assert result.shape == np.asarray(expected).shape
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize(
    ("y", "kwargs"), [c[1:3] for c in CATEGORICAL_CASES], ids=_ids(CATEGORICAL_CASES)
)
def test_to_categorical_matches_keras(keras, y, kwargs) -> None:
    expected = keras.to_categorical(y, **kwargs)
    result = to_categorical(y, **kwargs)
    assert result.shape == expected.shape
    np.testing.assert_array_equal(result, expected)


def test_to_categorical_dtype() -> None:
    result = to_categorical([1, 0], dtype="int8")
    assert result.dtype == np.int8
    np.testing.assert_array_equal(result, [[0, 1], [1, 0]])


CATEGORICAL_ERRORS = [
    ("negative label", [-1, 0], {}, "y holds label -1"),
    ("label too big", [0, 3], {"num_classes": 3}, r"y holds label 3"),
    ("fractional label", [1.5], {}, "y must hold whole numbers"),
    ("nan label", [float("nan")], {}, "y must hold whole numbers"),
    ("strings", ["a"], {}, "y must hold integer labels"),
    ("empty, no num_classes", [], {}, "num_classes"),
    ("zero classes", [0], {"num_classes": 0}, "num_classes"),
]


@pytest.mark.parametrize(
    ("y", "kwargs", "message"), [c[1:] for c in CATEGORICAL_ERRORS], ids=_ids(CATEGORICAL_ERRORS)
)
def test_to_categorical_errors_name_the_argument(y, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        to_categorical(y, **kwargs)


ARTICLE_CORPUS = [
    "machine learning is powerful",
    "deep learning drives innovation",
    "recurrent neural networks learn sequences",
    "neural networks are inspired by the brain",
    "artificial intelligence is the future",
]


def _article_pipeline(tokenizer_cls: type, pad: object, categorical: object) -> ModuleType:
    """The seed article's program 2 up to the model: Tokenizer, n-grams, pad, one-hot."""
    tokenizer = tokenizer_cls()
    tokenizer.fit_on_texts(ARTICLE_CORPUS)
    total_words = len(tokenizer.word_index) + 1
    input_sequences = []
    for line in ARTICLE_CORPUS:
        token_list = tokenizer.texts_to_sequences([line])[0]
        for i in range(1, len(token_list)):
            input_sequences.append(token_list[: i + 1])
    max_sequence_len = max(len(seq) for seq in input_sequences)
    input_sequences = np.array(pad(input_sequences, maxlen=max_sequence_len, padding="pre"))
    seed = tokenizer.texts_to_sequences(["neural networks"])[0]
    return SimpleNamespace(
        word_index=tokenizer.word_index,
        X=input_sequences[:, :-1],
        y=categorical(input_sequences[:, -1], num_classes=total_words),
        seed=pad([seed], maxlen=max_sequence_len - 1, padding="pre"),
    )


def test_article_pipeline_by_hand() -> None:
    result = _article_pipeline(
        rnnkit.preprocessing.text.Tokenizer,
        rnnkit.preprocessing.sequence.pad_sequences,
        to_categorical,
    )
    # learning, is, neural, networks, the occur twice; the rest once, in order of appearance.
    assert list(result.word_index)[:6] == ["learning", "is", "neural", "networks", "the", "machine"]
    assert len(result.word_index) == 20
    assert result.X.shape == (20, 6) and result.y.shape == (20, 21)
    np.testing.assert_array_equal(result.X[0], [0, 0, 0, 0, 0, 6])  # "machine" -> learning
    assert result.y[0].argmax() == 1
    np.testing.assert_array_equal(result.seed, [[0, 0, 0, 0, 3, 4]])


def test_article_pipeline_matches_keras(keras) -> None:
    ours = _article_pipeline(Tokenizer, pad_sequences, to_categorical)
    theirs = _article_pipeline(keras.Tokenizer, keras.pad_sequences, keras.to_categorical)
    assert ours.word_index == theirs.word_index
    for name in ("X", "y", "seed"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name), err_msg=name)
    assert ours.X.dtype == theirs.X.dtype


def test_keras_paths_re_export_rnnkit_text() -> None:
    assert rnnkit.preprocessing.text.Tokenizer is Tokenizer
    assert rnnkit.preprocessing.text.tokenizer_from_json is tokenizer_from_json
    assert rnnkit.preprocessing.text.text_to_word_sequence is rk_text.text_to_word_sequence
    assert rnnkit.preprocessing.sequence.pad_sequences is pad_sequences


def test_loaders_reject_tables_that_disagree() -> None:
    """Found by fuzz/fuzz_tokenizer.py: a word_docs word absent from word_counts was accepted
    and made the next fit_on_texts raise KeyError."""
    import json

    from rnnkit.text import Tokenizer, tokenizer_from_json

    data = Tokenizer().to_dict()
    data["word_docs"] = [["ghost", 1]]
    with pytest.raises(ValueError, match="word_docs"):
        Tokenizer.from_dict(data)
    doc = json.loads(Tokenizer().to_json())
    doc["config"]["word_docs"] = json.dumps({"ghost": 1})
    with pytest.raises(ValueError, match="word_docs"):
        tokenizer_from_json(json.dumps(doc))


def test_deeply_nested_json_is_a_value_error() -> None:
    from rnnkit.text import tokenizer_from_json

    with pytest.raises(ValueError, match="json_string"):
        tokenizer_from_json("[" * 100_000)
