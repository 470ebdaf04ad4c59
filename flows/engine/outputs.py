"""A batch's files: ``--results`` grows one line per problem as each finishes; ``--summary-json``
is written at the end, or when the batch stops early, for what finished.

The results file is appended to and flushed as problems finish (in the order they finish), so
``tail -f`` shows progress and a killed run keeps every line it wrote; at the end it is rewritten
atomically in input order. Nothing here imports Prefect.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Callable

from parsers.errors import NesyflowError

from flows.models import ProblemRecord, Summary

__all__ = ["ResultsSink", "write_summary", "write_atomic", "OutputError"]

Progress = Callable[[int, int], None]


class OutputError(NesyflowError):
    """A results or summary file that cannot be written where it was asked for (one line)."""


def _folder(path: Path, private: bool) -> int:
    """An fd of the file's folder: created if missing (the CLI's paths), or, ``private``, one that
    must exist and is not a link (a served run's folder). Files are then opened relative to it,
    so the folder cannot be swapped for a link between the check and the write."""
    if not private:
        path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (os.O_NOFOLLOW if private else 0)
    try:
        return os.open(path.parent, flags)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot write there ({exc.strerror})") from None


def _open_new(name: str, folder: int, mode: int, truncate: bool, shown: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_TRUNC if truncate else os.O_EXCL)
    try:
        fd = os.open(name, flags, mode, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutputError(f"{shown}: a symbolic link; results are never written through one") from None
        raise OutputError(f"{shown}: cannot write ({exc.strerror})") from None
    os.fchmod(fd, mode)
    return fd


def write_atomic(path: str | Path, text: str, private: bool = False) -> None:
    """Write ``text`` to ``path`` at once (a temporary file renamed over it; a link at ``path``
    is replaced, never followed). Mode 0644, or 0600 when ``private``."""
    path = Path(path)
    folder = _folder(path, private)
    tmp = f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = _open_new(tmp, folder, 0o600 if private else 0o644, truncate=False, shown=path.parent / tmp)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=folder)
            except OSError:
                pass
            raise
    finally:
        os.close(folder)


class ResultsSink:
    """Collects every problem's record once, whoever computed it (this process's engine, or a
    Dask worker whose chunk came back), writes it out at once and reports progress."""

    def __init__(self, order: list[str], path: str | None = None, progress: Progress | None = None, private: bool = False):
        self.order = order
        self.path = Path(path) if path else None
        self.progress = progress
        self.private = private
        self._records: dict[str, ProblemRecord] = {}
        self._lock = threading.Lock()
        self._fh = None
        if self.path is not None:
            folder = _folder(self.path, private)
            try:
                fd = _open_new(self.path.name, folder, 0o600 if private else 0o644, truncate=True, shown=self.path)
            finally:
                os.close(folder)
            self._fh = os.fdopen(fd, "w", encoding="utf-8")

    def add(self, problem_id: str, record: ProblemRecord) -> None:
        with self._lock:
            if problem_id in self._records:
                return
            self._records[problem_id] = record
            if self._fh is not None:
                self._fh.write(record.result.model_dump_json() + "\n")
                self._fh.flush()
            done = len(self._records)
        if self.progress is not None:
            self.progress(done, len(self.order))

    def records(self) -> dict[str, ProblemRecord]:
        with self._lock:
            return dict(self._records)

    def ordered(self) -> list[ProblemRecord]:
        recs = self.records()
        return [recs[i] for i in self.order if i in recs]

    def finish(self) -> None:
        """Close the file and rewrite it in input order (what was written so far, if not all)."""
        with self._lock:
            if self._fh is None:
                return
            self._fh.close()
            self._fh = None
            recs = dict(self._records)
        if self.path is not None:
            write_atomic(self.path, "".join(recs[i].result.model_dump_json() + "\n" for i in self.order if i in recs),
                         private=self.private)


def write_summary(path: str | Path, summary: Summary, private: bool = False) -> None:
    write_atomic(path, json.dumps(summary.model_dump(mode="json"), indent=2) + "\n", private=private)
