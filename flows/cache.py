"""Per-problem result cache inside chunked tasks: content-addressed JSON files.

Prefect caches a whole chunk task; this store caches each problem inside it, so a re-chunked
batch (another --limit or --concurrency) still recomputes nothing it has seen. Keys cover the
stage, the inputs, the code version and the solver settings; writes are atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["code_version", "stable_hash", "ProblemCache"]

_PACKAGES = ("parsers", "solvers", "flows", "prompts")


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


class ProblemCache:
    def __init__(self, root: Path | None):
        self.root = Path(root) if root else None

    def _path(self, stage: str, key: str) -> Path:
        return self.root / stage / key[:2] / f"{key}.json"  # type: ignore[operator]

    def get(self, stage: str, key: str) -> dict | None:
        if self.root is None:
            return None
        try:
            return json.loads(self._path(stage, key).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, OSError):
            return None

    def put(self, stage: str, key: str, value: dict) -> None:
        if self.root is None:
            return
        path = self._path(stage, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, ensure_ascii=False)
        os.replace(tmp, path)
