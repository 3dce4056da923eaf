"""The one switch between rnnkit's C++ kernels and the NumPy reference, and the float type.

``set_backend("native")`` (the default) runs every layer on :mod:`rnnkit.ops` (C++, float32);
``set_backend("reference")`` runs them on :mod:`rnnkit.reference` (NumPy). Only the reference
backend computes in float64: ``set_floatx("float64")`` is allowed there and makes layers,
losses and optimizers hold and compute float64 (whole-model finite-difference checks use it).
Layers read the float type when they build their weights, so set it before building a model.
"""

from __future__ import annotations

from types import ModuleType

BACKENDS = ("native", "reference")
FLOATX = ("float32", "float64")

_backend = "native"
_floatx = "float32"
_epsilon = 1e-7


def set_backend(name: str) -> None:
    """Select the kernels every layer calls: ``"native"`` (C++) or ``"reference"`` (NumPy).

    Raises:
        ValueError: unknown name, or ``"native"`` while floatx is float64 (the C++ kernels are
            float32: call ``set_floatx("float32")`` first).
    """
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"set_backend: name must be one of {list(BACKENDS)}, got {name!r}")
    if name == "native" and _floatx != "float32":
        raise ValueError(
            "set_backend: the native backend computes in float32; call "
            "rnnkit.set_floatx('float32') before set_backend('native')"
        )
    _backend = name


def get_backend() -> str:
    """The active backend name: ``"native"`` or ``"reference"``."""
    return _backend


def ops() -> ModuleType:
    """The active functional module: :mod:`rnnkit.ops` or :mod:`rnnkit.reference`."""
    if _backend == "native":
        from rnnkit import ops as native

        return native
    from rnnkit import reference

    return reference


def set_floatx(dtype: str) -> None:
    """Set the float type of weights and computation: ``"float32"``, or ``"float64"`` (reference).

    Raises:
        ValueError: unknown dtype, or float64 under the native backend.
    """
    global _floatx
    name = str(getattr(dtype, "name", dtype))
    if name not in FLOATX:
        raise ValueError(f"set_floatx: dtype must be one of {list(FLOATX)}, got {dtype!r}")
    if name == "float64" and _backend != "reference":
        raise ValueError(
            "set_floatx: float64 needs the reference backend; call "
            "rnnkit.set_backend('reference') first (the C++ kernels are float32)"
        )
    _floatx = name


def floatx() -> str:
    """The float type layers hold and compute in (``"float32"`` unless set otherwise)."""
    return _floatx


def epsilon() -> float:
    """The fuzz factor losses use to keep logarithms finite (Keras's ``1e-7``)."""
    return _epsilon
