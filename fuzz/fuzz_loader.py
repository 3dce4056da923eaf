"""atheris harness for the model-file loader (``rnnkit.load_model``).

Each input is the bytes of a file. It is loaded twice:

1. as it is: written to a temporary file and passed to ``rnnkit.load_model``;
2. *resealed*: when the bytes are a well-formed safetensors container whose rnnkit metadata is
   a JSON object, the checksums and tensor manifest are recomputed and the file re-encoded, so
   that mutations of the architecture, compile settings, tokenizer and training state reach the
   model builder instead of stopping at the checksum check.

The loader's contract (its docstring, DESIGN §9): a bad file raises ``ValueError`` (``OSError``
when it cannot be read) and nothing else. Any other exception, or a crash, is a finding.

    python fuzz/fuzz_loader.py -max_total_time=60 CORPUS_COPY_DIR   # see fuzz/run.sh
    python fuzz/fuzz_loader.py crash-FILE                           # replay one input
    RNNKIT_FUZZ_KEEP_GOING=DIR python fuzz/fuzz_loader.py ...       # triage: record, go on
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings

import atheris
from _findings import findings

with atheris.instrument_imports(include=["rnnkit"]):
    import rnnkit
    from rnnkit import io as rio
    from rnnkit.io import _container

EXPECTED = (ValueError, OSError)
_DIR = tempfile.mkdtemp(prefix="rnnkit-fuzz-loader-")
_PATH = os.path.join(_DIR, "input.rnnkit")
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)


def reseal(data: bytes) -> bytes | None:
    """``data`` with valid checksums and manifest, or None when it is not a container whose
    rnnkit metadata is a JSON object (the raw load already covers those)."""
    try:
        container = _container.parse(data, "[fuzz]")
        document = json.loads(container.metadata.get(rio.METADATA_KEY, ""))
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    tensors = {name: container.array(name) for name in container.entries}
    document["tensors_sha256"] = container.sha256()
    document["tensors"] = {
        name: [_container.DTYPE_NAMES[e.dtype], list(e.shape)]
        for name, e in container.entries.items()
    }
    try:
        text = json.dumps(document, sort_keys=True)
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    except (ValueError, TypeError, RecursionError):
        return None
    metadata = dict(container.metadata)
    metadata[rio.METADATA_KEY] = text
    metadata[rio.METADATA_SHA256_KEY] = digest
    return _container.encode(tensors, metadata)


def load(data: bytes) -> None:
    with open(_PATH, "wb") as f:
        f.write(data)
    with findings(data, EXPECTED):
        rnnkit.load_model(_PATH)


def TestOneInput(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load(data)
        sealed = reseal(data)
        if sealed is not None:
            load(sealed)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
