"""Generation engines: interchangeable parts behind one interface (``cogumi.engines.base.Engine``),
chosen by ``generate.engine`` and ``benchmark.engine``. The registry maps each name to where its
class lives, so that the config layer can check a name without importing torch or vLLM; adding an
engine is one module plus one ``register`` call (or one entry below).
"""

from __future__ import annotations

import importlib

_REGISTRY: dict[str, str | type] = {
    "hf": "cogumi.engines.hf:HfEngine",  # transformers' generate in this process
    "vllm": "cogumi.engines.vllm:VllmEngine",  # vLLM in its own process
}


def register(name: str, engine: str | type) -> None:
    """Make ``engine`` (a ``cogumi.engines.base.Engine`` subclass, or ``"package.module:Class"``)
    available as ``generate.engine`` / ``benchmark.engine`` ``name``."""
    _REGISTRY[name] = engine


def names() -> list[str]:
    """Every registered engine name."""
    return list(_REGISTRY)


def engine_class(name: str) -> type:
    """The engine class registered as ``name``, imported on first use."""
    if name not in _REGISTRY:
        raise ValueError(f"no engine {name!r}; registered: {', '.join(_REGISTRY)}")
    found = _REGISTRY[name]
    if isinstance(found, str):
        module, _, attribute = found.partition(":")
        found = _REGISTRY[name] = getattr(importlib.import_module(module), attribute)
    return found
