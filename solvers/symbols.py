"""Map our symbol names onto a target syntax's identifiers, injectively.

Each target has its own lexical rules (TPTP quotes, LADR's u–z variable convention, SMT-LIB
quoted symbols); ``SymbolTable`` sanitises per target and, when two names sanitise to the same
identifier, numbers the later one, so distinct names (``Rina``/``rina``) never merge.
"""

from __future__ import annotations

import re
from typing import Callable

__all__ = ["SymbolTable", "ascii_ident"]

_BAD = re.compile(r"[^A-Za-z0-9_]")


def ascii_ident(name: str) -> str:
    """Letters, digits and underscores; anything else becomes ``_<hex>_``."""
    return _BAD.sub(lambda m: f"_{ord(m.group()):x}_", name)


class SymbolTable:
    def __init__(self, render: Callable[[str, str], str]):
        self._render = render
        self._map: dict[tuple[str, str], str] = {}
        self._used: set[str] = set()

    def __call__(self, kind: str, name: str) -> str:
        key = (kind, name)
        out = self._map.get(key)
        if out is None:
            base = self._render(kind, name)
            out, n = base, 1
            while out in self._used:
                n += 1
                out = self._render(kind, f"{name}_{n}")
            self._used.add(out)
            self._map[key] = out
        return out
