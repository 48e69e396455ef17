"""The interpreter's recursion limit, kept where Python sets it whatever the Ethereum libraries do.

py_ecc, which eth-account and web3 import, raises the recursion limit to 100,000 when it is
imported, for elliptic-curve pairing code ringfence never runs. A recursion limit far above what
the C stack holds turns any deep recursion (the JSON reader's, on a document nested 100,000
deep; any runaway recursion) from a ``RecursionError`` into a segmentation fault that kills the
whole process, a server included. py_ecc is imported lazily wherever an Ethereum transaction or
signature is handled, so rather than guard each of those imports, one finder on the import path
wraps py_ecc's own import and puts the limit back as soon as it has run. A program that
imported py_ecc before ringfence keeps whatever limit it had.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader  # importlib.abc takes 20 ms to import: for types only

_guarded: tuple[str, ...] = ("py_ecc",)


class _LimitKeepingLoader:
    """Runs the module as its own loader would, then restores the recursion limit."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        # Everything else (get_code, is_package, resources) is the wrapped loader's.
        return getattr(self._loader, name)

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        limit = sys.getrecursionlimit()
        try:
            self._loader.exec_module(module)
        finally:
            sys.setrecursionlimit(limit)


class _LimitKeepingFinder:
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _guarded:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = cast("Loader", _LimitKeepingLoader(spec.loader))
        return spec


def keep_recursion_limit() -> None:
    """Put the finder first on the import path, once."""
    if not any(isinstance(finder, _LimitKeepingFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LimitKeepingFinder())
