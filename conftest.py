"""Shared test configuration.

Tests (tests/) and benchmarks (bench/) that need an optional extra (torch, keras, ...) call ``require(name)``: it returns the
module, or skips with a reason where the extra is absent. CI sets ``RNNKIT_REQUIRE_EXTRAS=1``,
which turns such a skip into a failure, so a green CI run cannot be a run of skips.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def require(module_name: str) -> ModuleType:
    """Import an optional dependency or skip (fail under RNNKIT_REQUIRE_EXTRAS=1)."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        if os.environ.get("RNNKIT_REQUIRE_EXTRAS") == "1":
            pytest.fail(f"{module_name} is required in CI (RNNKIT_REQUIRE_EXTRAS=1): {exc}")
        pytest.skip(f"{module_name} is not installed: {exc}")
        raise  # unreachable: pytest.skip raises


def require_keras_on_torch() -> ModuleType:
    """Keras 3 running on its torch backend (what the comparisons need), or skip; under
    RNNKIT_REQUIRE_EXTRAS=1 another backend is a failure, like a missing extra."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = require("keras")
    if keras.backend.backend() != "torch":
        reason = f"Keras runs on {keras.backend.backend()!r}, these tests need KERAS_BACKEND=torch"
        if os.environ.get("RNNKIT_REQUIRE_EXTRAS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return keras


def available_isas() -> list[str]:
    """The SIMD paths this machine can run ("avx512", "avx2", "scalar")."""
    from rnnkit import _core

    return list(_core.available_isas())


@pytest.fixture(params=["scalar", "avx2", "avx512"])
def isa(request: pytest.FixtureRequest):
    """Run a test on one ISA path; paths this CPU lacks are skipped (not an extra)."""
    from rnnkit import _core

    name = request.param
    if name not in _core.available_isas():
        pytest.skip(f"this CPU has no {name} path")
    previous = _core.get_isa()
    _core._set_isa(name)
    yield name
    _core._set_isa(previous)
