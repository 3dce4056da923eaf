"""Triage mode shared by the harnesses: with ``RNNKIT_FUZZ_KEEP_GOING=DIR`` an unexpected
exception does not stop the fuzzer; the first input of each distinct finding (exception type
and the innermost rnnkit frame) is written to DIR with its traceback, and the run goes on.
Without it (CI, fuzz/run.sh) the exception propagates and atheris reports a crash."""

from __future__ import annotations

import hashlib
import os
import traceback
from contextlib import contextmanager

KEEP_GOING = os.environ.get("RNNKIT_FUZZ_KEEP_GOING")
_seen: set[str] = set()


def _signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "rnnkit" in f.filename] or frames
    last = ours[-1] if ours else None
    where = f"{os.path.basename(last.filename)}:{last.lineno}" if last else "?"
    return f"{type(exc).__name__} at {where}"


@contextmanager
def findings(data: bytes, expected: tuple[type[BaseException], ...]):
    """Swallow ``expected``; in triage mode record anything else instead of raising it."""
    try:
        yield
    except expected:
        pass
    except Exception as exc:
        if not KEEP_GOING:
            raise
        signature = _signature(exc)
        if signature in _seen:
            return
        _seen.add(signature)
        os.makedirs(KEEP_GOING, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()[:12]
        with open(os.path.join(KEEP_GOING, f"finding-{name}"), "wb") as f:
            f.write(data)
        with open(os.path.join(KEEP_GOING, f"finding-{name}.txt"), "w") as f:
            f.write(signature + "\n\n" + "".join(traceback.format_exception(exc)))
        print(f"FINDING {signature} -> {KEEP_GOING}/finding-{name}", flush=True)
