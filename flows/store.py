"""The project's own result store: JSON records in one SQLite file, never pickles.

Everything a rerun reuses lives here — a problem's final result, each LLM completion, each
solver verdict — as JSON text validated by its pydantic model when read back. A record that is
missing, truncated, tampered with or of another shape is a cache miss (counted in ``rejected``),
never code: nothing is unpickled and nothing is imported by name. Prefect's own result
persistence (cloudpickle by default, with a record that names its serializer) is not used at all
(DESIGN.md §9; issue 10). A database file that is not a database (overwritten, truncated) is
moved aside and a new one started: at worst everything is recomputed.

One file (``<root>/store.sqlite``, WAL mode) instead of a file per record: a batch writes a
record per problem as it finishes, and creating thousands of small files cost ~1.7 ms each here
where an SQLite commit costs tens of microseconds; the engine's worker processes write to it
concurrently. The directory is 0700 and the file 0600. Keys cover the stage, the inputs, the
code version and the settings that change an answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from flows import ROOT, SOURCE_PACKAGES

__all__ = ["code_version", "stable_hash", "Store", "private_dir"]

M = TypeVar("M", bound=BaseModel)
DB_NAME = "store.sqlite"
_MANY = 500
"""Keys per query of ``get_many`` (SQLite allows 32,766 parameters; a query this size takes ~2 ms)."""


@lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the project's own source (and grammar/prompt files): changes invalidate caches."""
    h = hashlib.sha256()
    for pkg in SOURCE_PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*")):
            if path.suffix in (".py", ".lark", ".jinja", ".jsonl") and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(ROOT)).encode())
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
    """``get``/``put`` pydantic records by (kind, key). ``root=None`` stores nothing (a no-op store).
    Thread-safe (a connection per thread); several processes may share one root."""

    def __init__(self, root: Path | str | None):
        self.root = Path(root) if root else None
        self.rejected = 0
        """Records that existed but did not validate (tampered, truncated, from another version)."""
        self._local = threading.local()
        self._lock = threading.Lock()
        if self.root is not None:
            private_dir(self.root)

    @property
    def path(self) -> Path | None:
        return self.root / DB_NAME if self.root is not None else None

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        path = self.path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # created owner-only before SQLite opens it
        os.close(fd)
        try:
            conn = self._open(path)
        except sqlite3.DatabaseError:  # not a database (overwritten, say): keep it aside, start anew
            with self._lock:
                stamp = int(time.time())
                for suffix in ("", "-wal", "-shm"):
                    try:
                        os.replace(f"{path}{suffix}", f"{path}.corrupt-{stamp}{suffix}")
                    except OSError:
                        pass
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            conn = self._open(path)
        self._local.conn = conn
        return conn

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # a killed process loses nothing committed; power loss may lose the last
        conn.execute("CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
                     "PRIMARY KEY (kind, key)) WITHOUT ROWID")
        return conn

    def get(self, kind: str, key: str, model: type[M]) -> M | None:
        if self.root is None:
            return None
        try:
            row = self._connect().execute("SELECT value FROM records WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        except sqlite3.DatabaseError:
            self._reset()
            return None
        return None if row is None else self._validated(row[0], model)

    def get_many(self, kind: str, keys: list[str], model: type[M]) -> dict[str, M]:
        """The records of ``keys`` that exist and validate, by key, in one query per ``_MANY`` keys.

        Why: a rerun's triage read its 1,000 results one query each, and in a process whose other
        threads are busy (a flow's event loops, Prefect's task runner) that took 0.3-0.4 s where
        the same reads alone take 30 ms."""
        found: dict[str, M] = {}
        for key, value in self._select("key, value", kind, keys):
            record = self._validated(value, model)
            if record is not None:
                found[key] = record
        return found

    def has_many(self, kind: str, keys: list[str]) -> set[str]:
        """Which of ``keys`` have a record (not read, not validated: a hint, e.g. for sizing work)."""
        return {key for (key,) in self._select("key", kind, keys)}

    def _select(self, columns: str, kind: str, keys: list[str]):
        """The rows of ``kind`` among ``keys``, ``_MANY`` keys a query (bound parameters); a bad
        database ends them early (what was read stands)."""
        if self.root is None:
            return
        for i in range(0, len(keys), _MANY):
            part = keys[i:i + _MANY]
            try:
                rows = self._connect().execute(f"SELECT {columns} FROM records WHERE kind = ? AND key IN "
                                               f"({','.join('?' * len(part))})", (kind, *part)).fetchall()
            except sqlite3.DatabaseError:
                self._reset()
                return
            yield from rows

    def _validated(self, value: str, model: type[M]) -> M | None:
        try:
            return model.model_validate_json(value)
        except (ValidationError, ValueError, TypeError):
            with self._lock:
                self.rejected += 1
            return None

    def put(self, kind: str, key: str, value: BaseModel) -> None:
        if self.root is None:
            return
        try:
            self._connect().execute("INSERT OR REPLACE INTO records (kind, key, value) VALUES (?, ?, ?)",
                                    (kind, key, value.model_dump_json()))
        except sqlite3.DatabaseError:
            self._reset()

    def _reset(self) -> None:
        """The database went bad under us (tampered, disk full): drop this thread's connection."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass
