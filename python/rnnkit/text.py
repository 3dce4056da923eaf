"""Text preprocessing with Keras 2's names and behaviour: ``Tokenizer`` and ``pad_sequences``.

Keras 3 removed the Keras 2 ``Tokenizer`` (it survives only as
``keras.src.legacy.preprocessing.text``), so programs written for it stop running there. This
module reproduces it: the same vocabulary order, the same indices, the same ``num_words`` and
``oov_token`` rules, the same JSON (``to_json`` output loads in Keras's ``tokenizer_from_json``
and the other way round). ``pad_sequences`` is Keras's, ``"pre"`` padding and truncation by
default. The Keras import paths ``rnnkit.preprocessing.text`` and
``rnnkit.preprocessing.sequence`` re-export these names.

Where rnnkit is stricter than Keras (it raises where Keras silently does something surprising),
the docstring of the function says so.

Shapes use DESIGN's letters: B sequences, T timesteps, V the vocabulary size.
"""

from __future__ import annotations

import collections
import json
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Callable, Union

import numpy as np

__all__ = [
    "DEFAULT_FILTERS",
    "Tokenizer",
    "pad_sequences",
    "text_to_word_sequence",
    "tokenizer_from_json",
]

#: Keras's default ``filters``: ASCII punctuation, tab and newline (the apostrophe is kept).
DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'

#: Version of the :meth:`Tokenizer.to_dict` layout; :meth:`Tokenizer.from_dict` reads it and
#: every older one, and refuses a newer one.
TOKENIZER_DICT_VERSION = 1

_MATRIX_MODES = ("binary", "count", "tfidf", "freq")
_SETTING_NAMES = (
    "num_words",
    "filters",
    "lower",
    "split",
    "char_level",
    "oov_token",
    "document_count",
)

Text = Union[str, Sequence[str]]


def text_to_word_sequence(
    input_text: str, filters: str = DEFAULT_FILTERS, lower: bool = True, split: str = " "
) -> list[str]:
    """Split a text into words, Keras's way.

    Lower-cases (when `lower`), replaces every character of `filters` by `split`, splits on
    `split` and drops empty pieces. Only `split` separates words: with the default ``" "``, a
    carriage return or a non-breaking space stays inside a word (tab and newline are in the
    default filters, so they separate).

    Raises:
        TypeError: `input_text` is not a str.
        ValueError: `split` is empty.
    """
    if not isinstance(input_text, str):
        raise TypeError(
            f"[text_to_word_sequence] input_text must be a str, got {type(input_text).__name__}"
        )
    if not split:
        raise ValueError("[text_to_word_sequence] split must be a non-empty string")
    if lower:
        input_text = input_text.lower()
    table: dict[str, str | int | None] = {c: split for c in filters}
    input_text = input_text.translate(str.maketrans(table))
    return [word for word in input_text.split(split) if word]


class Tokenizer:
    """A word (or character) vocabulary that turns texts into index sequences (Keras 2's).

    ``fit_on_texts`` counts tokens; indices go by descending count, ties by first appearance,
    starting at 1 (0 is left for padding). With `oov_token`, that token takes index 1 and stands
    for every unknown word. `num_words` keeps the vocabulary whole but makes
    ``texts_to_sequences`` (and the matrices) use only indices ``< num_words``: the others are
    dropped, or become the OOV index when `oov_token` is set.

    Args:
        num_words: Largest index + 1 that conversions keep (``None`` or 0: all).
        filters: Characters removed (replaced by `split`) before splitting, word level only.
        lower: Lower-case texts (and tokens of pre-split texts).
        split: The word separator.
        char_level: Every character is a token (filters are not applied, as in Keras).
        oov_token: The token for out-of-vocabulary words, given index 1.
        analyzer: A callable ``str -> list[str]`` replacing filters/lower/split at word level.
            A callable cannot be saved: ``to_json``/``to_dict`` warn and leave it out.
        **kwargs: ``document_count``, the starting document count (Keras's
            ``tokenizer_from_json`` passes it).

    Texts are strings, or lists of string tokens (taken as they are, lower-cased when `lower`).
    Unlike Keras, a bare string where a list of texts is expected raises ``TypeError`` (Keras
    would take each character for a document), and tokens must be strings (so that the
    vocabulary round-trips through JSON).

    Attributes:
        word_counts: ``OrderedDict`` token -> occurrences, in order of first appearance.
        word_docs: token -> number of documents containing it.
        index_docs: index -> number of documents containing it.
        word_index: token -> index; index_word: its inverse.
        document_count: Documents seen by ``fit_on_texts`` / ``fit_on_sequences``.
    """

    def __init__(
        self,
        num_words: int | None = None,
        filters: str = DEFAULT_FILTERS,
        lower: bool = True,
        split: str = " ",
        char_level: bool = False,
        oov_token: str | None = None,
        analyzer: Callable[[str], list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        if "nb_words" in kwargs:
            warnings.warn(
                "Tokenizer: `nb_words` was renamed `num_words`", DeprecationWarning, stacklevel=2
            )
            num_words = kwargs.pop("nb_words")
        document_count = kwargs.pop("document_count", 0)
        if kwargs:
            raise TypeError(f"Tokenizer: unrecognized keyword arguments: {sorted(kwargs)}")
        _check_optional_count("num_words", num_words)
        _check_optional_count("document_count", document_count)
        if not isinstance(filters, str):
            raise TypeError(f"Tokenizer: filters must be a str, got {type(filters).__name__}")
        if not isinstance(split, str) or not split:
            raise ValueError(f"Tokenizer: split must be a non-empty str, got {split!r}")
        if oov_token is not None and not isinstance(oov_token, str):
            raise TypeError(
                f"Tokenizer: oov_token must be a str or None, got {type(oov_token).__name__}"
            )
        if analyzer is not None and not callable(analyzer):
            raise TypeError("Tokenizer: analyzer must be callable or None")
        self.num_words = num_words
        self.filters = filters
        self.lower = bool(lower)
        self.split = split
        self.char_level = bool(char_level)
        self.oov_token = oov_token
        self.analyzer = analyzer
        self.document_count = int(document_count)
        self.word_counts: collections.OrderedDict[str, int] = collections.OrderedDict()
        self.word_docs: collections.defaultdict[str, int] = collections.defaultdict(int)
        self.index_docs: collections.defaultdict[int, int] = collections.defaultdict(int)
        self.word_index: dict[str, int] = {}
        self.index_word: dict[int, str] = {}

    def _tokens(self, text: Text, method: str) -> list[str]:
        """One text as its list of tokens (Keras's rules for strings and token lists)."""
        if isinstance(text, str):
            if self.char_level:
                return list(text.lower() if self.lower else text)
            if self.analyzer is not None:
                return list(self.analyzer(text))
            return text_to_word_sequence(text, self.filters, self.lower, self.split)
        if isinstance(text, (bytes, bytearray)) or not isinstance(text, Iterable):
            raise TypeError(
                f"[Tokenizer.{method}] each text must be a str or a list of str tokens, "
                f"got {type(text).__name__}"
            )
        tokens = list(text)
        for token in tokens:
            if not isinstance(token, str):
                raise TypeError(
                    f"[Tokenizer.{method}] tokens of a pre-split text must be str, "
                    f"got {type(token).__name__} ({token!r})"
                )
        return [token.lower() for token in tokens] if self.lower else tokens

    def fit_on_texts(self, texts: Iterable[Text]) -> None:
        """Count the tokens of `texts` and rebuild ``word_index`` / ``index_word``.

        Fitting again adds to the counts (and the indices are recomputed from all of them).
        Keras quirk kept: if `oov_token` also occurs in the texts, it is ranked twice (first,
        and by its count) and the later rank wins, so index 1 is then left unused.

        Raises:
            TypeError: `texts` is a bare string, or a text is neither a str nor a token list.
        """
        for tokens in self._each_text(texts, "fit_on_texts"):
            self.document_count += 1
            for token in tokens:
                self.word_counts[token] = self.word_counts.get(token, 0) + 1
            for token in dict.fromkeys(tokens):
                self.word_docs[token] += 1
        # sorted() is stable and reverse=True keeps it so: equal counts stay in first-seen order.
        by_count = sorted(self.word_counts.items(), key=lambda item: item[1], reverse=True)
        sorted_vocab = [] if self.oov_token is None else [self.oov_token]
        sorted_vocab.extend(word for word, _ in by_count)
        self.word_index = dict(zip(sorted_vocab, range(1, len(sorted_vocab) + 1)))
        self.index_word = {index: word for word, index in self.word_index.items()}
        for word, docs in self.word_docs.items():
            self.index_docs[self.word_index[word]] = docs

    def fit_on_sequences(self, sequences: Sequence[Sequence[int]]) -> None:
        """Count documents per index from index sequences (needed for ``tfidf`` matrices)."""
        sequences = list(_check_not_bare_string("fit_on_sequences", "sequences", sequences))
        self.document_count += len(sequences)
        for seq in sequences:
            for index in set(_int_list("fit_on_sequences", seq)):
                self.index_docs[index] += 1

    def texts_to_sequences(self, texts: Iterable[Text]) -> list[list[int]]:
        """Each text as a list of indices (unknown tokens dropped, or the OOV index)."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts: Iterable[Text]) -> Iterator[list[int]]:
        """Like :meth:`texts_to_sequences`, one text at a time."""
        num_words = self.num_words
        oov_index = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for tokens in self._each_text(texts, "texts_to_sequences"):
            vect = []
            for token in tokens:
                index = self.word_index.get(token)
                if index is not None and not (num_words and index >= num_words):
                    vect.append(index)
                elif oov_index is not None:
                    vect.append(oov_index)
            yield vect

    def sequences_to_texts(self, sequences: Iterable[Sequence[int]]) -> list[str]:
        """Each index sequence as its tokens joined by a space (the inverse, up to filtering)."""
        return list(self.sequences_to_texts_generator(sequences))

    def sequences_to_texts_generator(self, sequences: Iterable[Sequence[int]]) -> Iterator[str]:
        """Like :meth:`sequences_to_texts`, one sequence at a time.

        Index 0, unknown indices and indices ``>= num_words`` are dropped, or read as the OOV
        token when `oov_token` is set.
        """
        num_words = self.num_words
        oov_word = None
        if self.oov_token is not None and self.oov_token in self.word_index:
            oov_word = self.index_word[self.word_index[self.oov_token]]
        for seq in _check_not_bare_string("sequences_to_texts", "sequences", sequences):
            words = []
            for index in _int_list("sequences_to_texts", seq):
                word = self.index_word.get(index)
                if word is not None and not (num_words and index >= num_words):
                    words.append(word)
                elif oov_word is not None:
                    words.append(oov_word)
            yield " ".join(words)

    def texts_to_matrix(self, texts: Iterable[Text], mode: str = "binary") -> np.ndarray:
        """Bag-of-words matrix (B, V) of `texts`; see :meth:`sequences_to_matrix`."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(
        self, sequences: Sequence[Sequence[int]], mode: str = "binary"
    ) -> np.ndarray:
        """Bag-of-words matrix x (B, V), float64, of index sequences.

        V is `num_words`, else ``len(word_index) + 1``; indices ``>= V`` are ignored. `mode`:
        ``"binary"`` (1 where present), ``"count"``, ``"freq"`` (count / sequence length) or
        ``"tfidf"`` (``(1 + log count) * log(1 + documents / (1 + documents with index))``).

        Raises:
            ValueError: unknown `mode` (checked up front; Keras checks only on a non-empty
                sequence), no `num_words` and nothing fitted, or ``tfidf`` before any fit.
        """
        if mode not in _MATRIX_MODES:
            raise ValueError(
                f"[Tokenizer.sequences_to_matrix] mode must be one of {_MATRIX_MODES}, got {mode!r}"
            )
        if self.num_words:
            width = self.num_words
        elif self.word_index:
            width = len(self.word_index) + 1
        else:
            raise ValueError(
                "[Tokenizer.sequences_to_matrix] specify num_words, or fit on some texts first"
            )
        if mode == "tfidf" and not self.document_count:
            raise ValueError("[Tokenizer.sequences_to_matrix] fit before using mode='tfidf'")
        sequences = list(_check_not_bare_string("sequences_to_matrix", "sequences", sequences))
        x = np.zeros((len(sequences), width))
        for row, seq in enumerate(sequences):
            seq = _int_list("sequences_to_matrix", seq)
            counts = collections.Counter(index for index in seq if 0 <= index < width)
            for index, count in counts.items():
                if mode == "count":
                    x[row, index] = count
                elif mode == "freq":
                    x[row, index] = count / len(seq)
                elif mode == "binary":
                    x[row, index] = 1
                else:
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(index, 0)))
                    x[row, index] = (1 + np.log(count)) * idf
        return x

    def get_config(self) -> dict[str, Any]:
        """Keras's config: the settings, and the tables as JSON strings (as Keras writes them)."""
        return {
            **self._settings(),
            "word_counts": json.dumps(self.word_counts),
            "word_docs": json.dumps(self.word_docs),
            "index_docs": json.dumps(self.index_docs),
            "index_word": json.dumps(self.index_word),
            "word_index": json.dumps(self.word_index),
        }

    def to_json(self, **kwargs: Any) -> str:
        """The tokenizer as Keras's JSON (``{"class_name": "Tokenizer", "config": ...}``).

        `kwargs` go to :func:`json.dumps`. Read it back with :func:`tokenizer_from_json` (here
        or in Keras). An `analyzer` is not saved (a warning says so), as in Keras.
        """
        self._warn_if_analyzer("to_json")
        return json.dumps(
            {"class_name": type(self).__name__, "config": self.get_config()}, **kwargs
        )

    def to_dict(self) -> dict[str, Any]:
        """The tokenizer as a plain JSON-able dict, for saving inside a model file.

        Tables are lists of pairs in their order (so order survives any JSON reader); the dict
        states its ``format_version``. :meth:`from_dict` reads it back.
        """
        self._warn_if_analyzer("to_dict")
        return {
            "class_name": "Tokenizer",
            "format_version": TOKENIZER_DICT_VERSION,
            "config": self._settings(),
            "word_counts": [[word, count] for word, count in self.word_counts.items()],
            "word_docs": [[word, count] for word, count in self.word_docs.items()],
            "index_docs": [[index, count] for index, count in self.index_docs.items()],
            "word_index": [[word, index] for word, index in self.word_index.items()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        """Rebuild a tokenizer from :meth:`to_dict`'s dict, checking every field.

        Raises:
            ValueError: `data` is not such a dict, is from a newer rnnkit, or a field has the
                wrong type (a corrupted or hostile file gives this, never anything else).
        """
        where = "[Tokenizer.from_dict]"
        if not isinstance(data, dict) or data.get("class_name") != "Tokenizer":
            raise ValueError(f"{where} data is not a saved Tokenizer")
        version: Any = data.get("format_version")
        if not _is_int(version) or version < 1:
            raise ValueError(f"{where} format_version must be a positive int, got {version!r}")
        if version > TOKENIZER_DICT_VERSION:
            raise ValueError(
                f"{where} the tokenizer has format_version {version}; this rnnkit reads up to "
                f"{TOKENIZER_DICT_VERSION}: upgrade rnnkit"
            )
        config = data.get("config")
        if not isinstance(config, dict):
            raise ValueError(f"{where} config must be a dict")  # noqa: TRY004 - a bad file
        if set(config) != set(_SETTING_NAMES):
            raise ValueError(f"{where} config must have exactly the keys {_SETTING_NAMES}")
        if not isinstance(config["lower"], bool) or not isinstance(config["char_level"], bool):
            raise ValueError(f"{where} config lower and char_level must be bools")  # noqa: TRY004
        try:
            tokenizer = cls(**config)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where} bad config: {exc}") from None
        tokenizer.word_counts = collections.OrderedDict(
            _pairs(where, data, "word_counts", str, _is_count)
        )
        tokenizer.word_docs.update(_pairs(where, data, "word_docs", str, _is_count))
        tokenizer.index_docs.update(_pairs(where, data, "index_docs", _is_int, _is_count))
        tokenizer.word_index = dict(_pairs(where, data, "word_index", str, _is_index))
        tokenizer.index_word = {index: word for word, index in tokenizer.word_index.items()}
        if len(tokenizer.index_word) != len(tokenizer.word_index):
            raise ValueError(f"{where} word_index gives one index to two words")
        _check_tables(where, tokenizer)
        return tokenizer

    def _settings(self) -> dict[str, Any]:
        """The constructor settings (and document count), as saved in either format."""
        return {name: getattr(self, name) for name in _SETTING_NAMES}

    def _each_text(self, texts: Iterable[Text], method: str) -> Iterator[list[str]]:
        """The token lists of `texts`, refusing a bare string (Keras would iterate its chars)."""
        for text in _check_not_bare_string(method, "texts", texts):
            yield self._tokens(text, method)

    def _warn_if_analyzer(self, method: str) -> None:
        if self.analyzer is not None:
            warnings.warn(
                f"Tokenizer.{method}: the analyzer callable is not saved; set it again after "
                "loading",
                stacklevel=3,
            )


def tokenizer_from_json(json_string: str) -> Tokenizer:
    """A :class:`Tokenizer` from :meth:`Tokenizer.to_json`'s (or Keras's) JSON.

    Plain JSON only: loading runs no code. Unlike Keras's loader, the restored ``word_docs``
    and ``index_docs`` still count new documents if you fit again.

    Raises:
        ValueError: the string is not a Tokenizer's JSON.
    """
    where = "[tokenizer_from_json]"
    try:
        data = json.loads(json_string)
        config = dict(data["config"])
        tables = {
            name: json.loads(config.pop(name))
            for name in ("word_counts", "word_docs", "index_docs", "index_word", "word_index")
        }
    except (TypeError, ValueError, KeyError, RecursionError) as exc:
        raise ValueError(f"{where} json_string is not a Tokenizer's JSON: {exc}") from None
    try:
        tokenizer = Tokenizer(**config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} bad config: {exc}") from None
    if not all(isinstance(table, dict) for table in tables.values()):
        raise ValueError(f"{where} the tokenizer tables must be JSON objects")
    try:
        tokenizer.word_counts = collections.OrderedDict(
            (str(word), int(count)) for word, count in tables["word_counts"].items()
        )
        tokenizer.word_docs.update((str(w), int(c)) for w, c in tables["word_docs"].items())
        # JSON object keys are strings: the integer indices come back as ints, as in Keras.
        tokenizer.index_docs.update((int(i), int(c)) for i, c in tables["index_docs"].items())
        tokenizer.index_word = {int(i): str(w) for i, w in tables["index_word"].items()}
        tokenizer.word_index = {str(w): int(i) for w, i in tables["word_index"].items()}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} bad tokenizer table: {exc}") from None
    _check_tables(where, tokenizer)
    return tokenizer


def _check_tables(where: str, tokenizer: Tokenizer) -> None:
    """The loaded tables must agree the way fitting keeps them: every word counted in
    ``word_docs`` is in ``word_counts`` (fitting again indexes ``word_docs`` by the new
    ``word_index``, built from ``word_counts``)."""
    stray = [word for word in tokenizer.word_docs if word not in tokenizer.word_counts]
    if stray:
        raise ValueError(
            f"{where} word_docs has words missing from word_counts, e.g. {stray[0]!r}"
        )


def pad_sequences(
    sequences: Sequence[Sequence[Any]],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pad (or truncate) sequences to one length: x (B, T) or (B, T, ...) (Keras's).

    T is `maxlen`, else the longest length. Shorter sequences get `value` before
    (``padding="pre"``, the default) or after (``"post"``); longer ones lose their first
    (``truncating="pre"``, the default) or last (``"post"``) elements. Elements may be scalars
    or equally shaped arrays (the trailing shape comes from the first non-empty sequence). A
    string `value` needs ``dtype=object`` or a string dtype, as in Keras.

    Beyond Keras: an empty `sequences` gives shape (0, maxlen or 0), ``maxlen=0`` gives (B, 0),
    and any iterable of sequences is accepted (Keras needs ``len``).

    Raises:
        ValueError: `sequences` is not an iterable of sequences, `maxlen` is negative or not
            an int, `padding` / `truncating` is not "pre" or "post", a string `value` with a
            non-string `dtype`, or a sequence whose elements' shape differs from the first's.
    """
    if padding not in ("pre", "post"):
        raise ValueError(f'[pad_sequences] padding must be "pre" or "post", got {padding!r}')
    if truncating not in ("pre", "post"):
        raise ValueError(f'[pad_sequences] truncating must be "pre" or "post", got {truncating!r}')
    if maxlen is not None and (not _is_int(maxlen) or maxlen < 0):
        raise ValueError(f"[pad_sequences] maxlen must be None or an int >= 0, got {maxlen!r}")
    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Iterable):
        raise ValueError(  # noqa: TRY004 - Keras raises ValueError here; ported code catches it
            "[pad_sequences] sequences must be an iterable of sequences, "
            f"got {type(sequences).__name__}"
        )
    sequences = sequences if isinstance(sequences, Sequence) else list(sequences)
    sample_shape: tuple[int, ...] | None = None
    lengths = []
    for position, seq in enumerate(sequences):
        try:
            if isinstance(seq, (str, bytes)):
                raise TypeError
            lengths.append(len(seq))
        except TypeError:
            raise ValueError(
                "[pad_sequences] sequences must be a list of sequences; "
                f"found {type(seq).__name__} {seq!r} at position {position}"
            ) from None
        if sample_shape is None and len(seq):
            # The first non-empty sequence fixes the trailing shape, as in Keras.
            sample_shape = np.asarray(seq).shape[1:]
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = max(lengths, default=0)
    maxlen = int(maxlen)
    is_dtype_str = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_dtype_str:
        raise ValueError(
            f"[pad_sequences] dtype {dtype!r} cannot hold the string value {value!r}: "
            "use dtype=object for variable-length strings"
        )
    x = np.full((len(sequences), maxlen) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return x
    for position, seq in enumerate(sequences):
        if not len(seq):
            continue
        kept = np.asarray(seq[-maxlen:] if truncating == "pre" else seq[:maxlen], dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(
                f"[pad_sequences] sequence at position {position} has elements of shape "
                f"{kept.shape[1:]}, expected {sample_shape} (the first non-empty sequence's)"
            )
        if padding == "post":
            x[position, : len(kept)] = kept
        else:
            x[position, -len(kept) :] = kept
    return x


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_count(value: Any) -> bool:
    return _is_int(value) and value >= 0


def _is_index(value: Any) -> bool:
    return _is_int(value) and value >= 1


def _check_optional_count(name: str, value: Any) -> None:
    if value is not None and not _is_count(value):
        raise ValueError(f"Tokenizer: {name} must be None or an int >= 0, got {value!r}")


def _check_not_bare_string(method: str, name: str, items: Any) -> Any:
    """`items` as they are (an iterable); a bare str/bytes or a non-iterable is refused."""
    if isinstance(items, (str, bytes, bytearray)):
        raise TypeError(
            f"[Tokenizer.{method}] {name} must be a list, got a single "
            f"{type(items).__name__}: wrap it in a list"
        )
    if not isinstance(items, Iterable):
        raise TypeError(f"[Tokenizer.{method}] {name} must be iterable, got {type(items).__name__}")
    return items


def _int_list(method: str, seq: Any) -> list[int]:
    """An index sequence as a list of Python ints, naming the method when it is not one."""
    if isinstance(seq, (str, bytes)) or not isinstance(seq, Iterable):
        raise TypeError(
            f"[Tokenizer.{method}] each sequence must be a list of ints, got {type(seq).__name__}"
        )
    indices = list(seq)
    if not all(_is_int(index) for index in indices):
        raise TypeError(f"[Tokenizer.{method}] each sequence must hold ints, got {indices!r}")
    return [int(index) for index in indices]


def _pairs(
    where: str,
    data: dict[str, Any],
    name: str,
    key_ok: Callable[[Any], bool] | type,
    value_ok: Callable[[Any], bool],
) -> list[tuple[Any, int]]:
    """The ``[[key, value], ...]`` table `name` of a saved tokenizer, type-checked."""
    table = data.get(name)
    if not isinstance(table, list):
        raise ValueError(f"{where} {name} must be a list of pairs")  # noqa: TRY004 - a bad file
    check_key: Callable[[Any], bool] = (
        (lambda k: isinstance(k, key_ok)) if isinstance(key_ok, type) else key_ok
    )
    pairs = []
    for pair in table:
        if not (
            isinstance(pair, list) and len(pair) == 2 and check_key(pair[0]) and value_ok(pair[1])
        ):
            raise ValueError(f"{where} bad entry in {name}: {pair!r}")
        pairs.append((pair[0], int(pair[1])))
    return pairs
