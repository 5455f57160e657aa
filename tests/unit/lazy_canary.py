"""A module with a PEP 562 ``__getattr__``: decoding a payload must never trigger it.

Modules such as ``dateutil`` import submodules from ``__getattr__``; a payload that made the
decoder look an attribute up there would import a module named by a message.
"""

from __future__ import annotations

lookups: list[str] = []


def __getattr__(name: str) -> object:
    lookups.append(name)
    raise AttributeError(name)
