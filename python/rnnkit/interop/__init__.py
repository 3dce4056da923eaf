"""Weights that cross frameworks: PyTorch, Keras 3 and ONNX (docs/interop.md).

``from_torch(module)`` / ``to_torch(layer_or_model)``, ``from_keras(layer_or_model)`` /
``to_keras(layer_or_model)`` and ``export_onnx(model, path, opset=None)``. Each submodule needs
its framework (the extras ``rnnkit[torch]``, ``rnnkit[keras]``, ``rnnkit[onnx]``); importing
``rnnkit.interop`` imports none of them, the first use of a function imports its framework.
"""

from __future__ import annotations

import importlib
from typing import Any

_PROVIDERS = {
    "from_torch": ("torch", "torch"),
    "to_torch": ("torch", "torch"),
    "from_keras": ("keras", "keras"),
    "to_keras": ("keras", "keras"),
    "export_onnx": ("onnx", "onnx"),
}

__all__ = ["export_onnx", "from_keras", "from_torch", "to_keras", "to_torch"]


def __getattr__(name: str) -> Any:
    if name not in _PROVIDERS:
        raise AttributeError(f"module 'rnnkit.interop' has no attribute {name!r}")
    submodule, extra = _PROVIDERS[name]
    try:
        module = importlib.import_module(f"rnnkit.interop.{submodule}")
    except ImportError as exc:
        raise ImportError(
            f"rnnkit.interop.{name} needs the {extra!r} extra: pip install 'rnnkit[{extra}]' "
            f"({exc})"
        ) from exc
    return getattr(module, name)


def __dir__() -> list[str]:
    return __all__
