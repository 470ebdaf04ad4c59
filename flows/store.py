"""The project's own result store: content-addressed JSON records, never pickles.

Everything a rerun reuses lives here — a problem's final result, each LLM completion, each
solver verdict — as JSON validated by its pydantic model when read back. A file that is
missing, truncated, tampered with or of another shape is a cache miss (counted in
``rejected``), never code: nothing is unpickled and nothing is imported by name. Prefect's own
result persistence (cloudpickle by default, and a record that names its serializer) is not
used at all (DESIGN.md §9; issue 10).

Directories are created 0700 and files 0600; writes are atomic (temp file + rename), so a
killed process leaves either the old record or the new one. Keys cover the stage, the inputs,
the code version and the settings that change an answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

__all__ = ["code_version", "stable_hash", "Store", "private_dir"]

_PACKAGES = ("parsers", "solvers", "flows", "prompts")
M = TypeVar("M", bound=BaseModel)


@lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the project's own source (and grammar/prompt files): changes invalidate caches."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for pkg in _PACKAGES:
        for path in sorted((root / pkg).rglob("*")):
            if path.suffix in (".py", ".lark", ".jinja", ".jsonl") and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:16]


def stable_hash(*parts: Any) -> str:
    def default(o):
        if hasattr(o, "model_dump"):
            return o.model_dump(mode="json")
        if isinstance(o, (set, frozenset)):
            return sorted(o)
        return str(o)

    blob = json.dumps(parts, sort_keys=True, default=default, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only, and tighten it if it exists with wider modes."""
    path = Path(path)
    missing = []
    for d in (path, *path.parents):
        if d.exists():
            break
        missing.append(d)
    for d in reversed(missing):  # mkdir(parents=True) would give the parents default modes
        d.mkdir(mode=0o700, exist_ok=True)
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError:
        pass
    return path


class Store:
    """``get``/``put`` pydantic records by (kind, key). ``root=None`` stores nothing (a no-op store)."""

    def __init__(self, root: Path | str | None):
        self.root = Path(root) if root else None
        self.rejected = 0
        """Records that existed but did not validate (tampered, truncated, from another version)."""
        self._made: set[Path] = set()
        self._lock = threading.Lock()
        if self.root is not None:
            private_dir(self.root)

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.json"  # type: ignore[operator]

    def get(self, kind: str, key: str, model: type[M]) -> M | None:
        if self.root is None:
            return None
        try:
            data = self._path(kind, key).read_bytes()
        except OSError:
            return None
        try:
            return model.model_validate_json(data)
        except (ValidationError, ValueError):
            with self._lock:
                self.rejected += 1
            return None

    def put(self, kind: str, key: str, value: BaseModel) -> None:
        if self.root is None:
            return
        path = self._path(kind, key)
        if path.parent not in self._made:
            private_dir(path.parent)
            self._made.add(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")  # mkstemp files are 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(value.model_dump_json())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
