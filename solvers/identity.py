"""Which checker decides a verdict — the solver binaries and the Lean toolchain — for store keys.

A stored verdict is only as current as the checker that gave it. Keyed by our code alone, the
errors the core-less Lean kernel gave Mathlib proofs ("Unknown constant `OfNat`") were served from
the store after ``NESYFLOW_LEAN_PROJECT`` named a Mathlib project that accepts them, and so would
any z3, E or Prover9 answer after ``NESYFLOW_Z3`` and the like named another binary.
"""

from __future__ import annotations

import os
from functools import lru_cache

from .binaries import eprover_binary, prover9_binary, z3_binary

__all__ = ["binaries_identity", "lean_identity"]


def _file(find) -> str:
    try:
        path = os.path.realpath(find())
        st = os.stat(path)
    except Exception as exc:  # noqa: BLE001 - a missing back end is an identity too
        return f"unavailable ({type(exc).__name__})"
    return f"{path}:{st.st_size}:{int(st.st_mtime)}"


@lru_cache(maxsize=1)
def binaries_identity() -> tuple[str, str, str]:
    """z3, E and Prover9 as (real path, size, mtime): another binary is another checker."""
    return _file(z3_binary), _file(eprover_binary), _file(prover9_binary)


@lru_cache(maxsize=1)
def lean_identity() -> str:
    """The Lean toolchain ``solvers.lean.toolchain`` picks: binary, version, kind and search path."""
    from .lean import toolchain

    chain = toolchain()
    if chain is None:
        return "none"
    return "|".join((_file(lambda: chain.lean), chain.version, chain.kind, chain.source, chain.lean_path))
