"""atheris harness for the text tools: ``tokenizer_from_json``, ``Tokenizer.from_dict``, and
``fit_on_texts`` / ``texts_to_sequences`` / ``sequences_to_texts`` on what they return.

Each input is decoded as UTF-8 (invalid bytes replaced) and used three ways: as a Keras
tokenizer JSON string, as the JSON of a ``Tokenizer.to_dict`` dict (when it parses), and as a
text to fit and convert -- with a fresh tokenizer and with every tokenizer that loaded. The
contract: bad input raises ``ValueError`` or ``TypeError``, nothing else; anything else, or a
crash, is a finding.

    python fuzz/fuzz_tokenizer.py -max_total_time=60 CORPUS_COPY_DIR   # see fuzz/run.sh
    RNNKIT_FUZZ_KEEP_GOING=DIR python fuzz/fuzz_tokenizer.py ...       # triage: record, go on
"""

from __future__ import annotations

import json
import sys
import warnings

import atheris
from _findings import findings

with atheris.instrument_imports(include=["rnnkit"]):
    from rnnkit.text import Tokenizer, tokenizer_from_json

EXPECTED = (ValueError, TypeError)


def exercise(tokenizer: Tokenizer, text: str, data: bytes) -> None:
    """Use a tokenizer on ``text``: convert, fit, convert again, and back to texts."""
    texts = [text, text.split(), text[::-1]]
    for call in (
        lambda: tokenizer.texts_to_sequences(texts),
        lambda: tokenizer.fit_on_texts(texts),
        lambda: tokenizer.texts_to_sequences(texts),
        lambda: tokenizer.sequences_to_texts(tokenizer.texts_to_sequences(texts)),
    ):
        with findings(data, EXPECTED):
            call()


def TestOneInput(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = []
        with findings(data, EXPECTED):
            loaded.append(tokenizer_from_json(text))
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            document = None
        if document is not None:
            with findings(data, EXPECTED):
                loaded.append(Tokenizer.from_dict(document))
        exercise(Tokenizer(), text, data)
        exercise(Tokenizer(char_level=True, num_words=4, oov_token="?"), text, data)
        for tokenizer in loaded:
            exercise(tokenizer, text, data)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
