"""Lazy package exports (PEP 562), so importing one side of a package loads only that side.

``from culture.boundary.release import Release`` must not load the suppression engine,
and a notebook that imports ``culture.report.views`` must not start papermill: a
package's ``__init__`` names its public API in ``__all__`` and imports a name's
module only when the name is first used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` (``exports``: name -> submodule)."""

    def __getattr__(name: str) -> object:
        if name in exports:
            return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
