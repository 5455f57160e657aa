"""Objects named by a dotted path, found among the modules already loaded: never imported.

A name that comes from data (a GlobalID in a message) or from a setting resolves only to
something the program itself has imported, so no name can make the worker import new code.

Example:
    >>> loaded_object("collections.OrderedDict")
    <class 'collections.OrderedDict'>
"""

from __future__ import annotations

import sys
from typing import Any


def loaded_object(path: str) -> Any:
    """The object at ``path`` (``pkg.module.Name``, ``pkg.module:Name`` or ``Outer.Inner``).

    The longest prefix that is a loaded module is the module; the rest are attributes.

    Raises:
        LookupError: no loaded module starts the path, or an attribute is missing.

    Example:
        >>> import os.path
        >>> loaded_object("os.path:join") is os.path.join
        True
    """
    module_part, _, attributes = path.partition(":")
    parts = module_part.split(".") + (attributes.split(".") if attributes else [])
    first_attribute = len(module_part.split("."))
    cuts = [first_attribute] if attributes else range(len(parts) - 1, 0, -1)
    for cut in cuts:
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        target: Any = module
        for name in parts[cut:]:
            if name.startswith("__"):
                raise LookupError(f"{path!r}: {name!r} is not a public name")
            target = getattr(target, name, None)
            if target is None:
                raise LookupError(f"{path!r}: module {module.__name__!r} has no {name!r}")
        return target
    raise LookupError(
        f"{path!r} names no loaded module: import it before it is looked up (nothing is "
        "imported by name)"
    )
