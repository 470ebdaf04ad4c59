"""A batch's files: ``--results`` grows one line per problem as each finishes; ``--summary-json``
is written at the end, or when the batch stops early, for what finished.

The results file is written in input order as problems finish: a problem's line goes out as soon
as every problem before it has finished (those that finished ahead wait in memory: the engine's
window, never the batch), and is flushed, so ``tail -f`` shows progress and a killed run keeps
every line it wrote (the rest are in the store: a rerun reads them back). When a batch stops
early, what finished ahead of a gap is written too, still in input order. Nothing here imports Prefect.
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

from flows.engine.tally import Tally
from flows.models import ProblemRecord, Summary

__all__ = ["KEEP_RESULTS", "ResultsSink", "write_summary", "write_atomic", "OutputError"]

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


KEEP_RESULTS = 2000
"""Results a batch keeps in memory for its report and table artifact: the first ones (all the others
are in the results file and counted in the summary)."""


class ResultsSink:
    """Collects every problem's record once, whoever computed it (this process's engine, or a
    Dask worker whose chunk came back), writes it out in input order, counts it (``tally``) and
    reports progress. Problems are announced in input order (``expect``) before they are computed."""

    def __init__(self, order: list[str] | None = None, path: str | None = None, progress: Progress | None = None,
                 private: bool = False, keep: int = KEEP_RESULTS):
        self.path = Path(path) if path else None
        self.progress = progress
        self.private = private
        self.tally = Tally(keep)
        self.total: int | None = None
        """Problems in the batch, for progress; until known, an estimate (or those announced so far)."""
        self._pending: dict[str, int] = {}  # announced, not yet written: id -> position
        self._ahead: dict[int, ProblemRecord] = {}  # finished before a problem ahead of it
        self._expected = 0
        self._next = 0
        self._lock = threading.Lock()
        self._fh = None
        if self.path is not None:
            folder = _folder(self.path, private)
            try:
                fd = _open_new(self.path.name, folder, 0o600 if private else 0o644, truncate=True, shown=self.path)
            finally:
                os.close(folder)
            self._fh = os.fdopen(fd, "w", encoding="utf-8")
        if order:
            self.expect(order)

    def expect(self, ids: list[str]) -> None:
        """These problems come next in input order (ids are unique: the loader de-duplicates them)."""
        with self._lock:
            for pid in ids:
                self._pending[pid] = self._expected
                self._expected += 1

    @property
    def written(self) -> int:
        return self._next

    @property
    def done(self) -> int:
        return self._next + len(self._ahead)

    def add(self, problem_id: str, record: ProblemRecord) -> None:
        with self._lock:
            pos = self._pending.get(problem_id)
            if pos is None or pos in self._ahead:  # written already, or not this batch's
                return
            self._ahead[pos] = record
            self._write_ready()
            done, total = self.done, self.total or self._expected
        if self.progress is not None:
            self.progress(done, max(total, done))

    def _write_ready(self, everything: bool = False) -> None:
        """Write the records whose predecessors are all written (``everything``: all that finished)."""
        lines = []
        while self._ahead:
            pos = min(self._ahead) if everything else self._next
            record = self._ahead.pop(pos, None)
            if record is None:
                break
            self._pending.pop(record.result.id, None)
            self.tally.add(record)
            self._next = pos + 1
            if self._fh is not None:
                lines.append(record.result.model_dump_json() + "\n")
        if lines:
            self._fh.write("".join(lines))
            self._fh.flush()

    def finish(self) -> None:
        """Write what finished ahead of an unfinished problem (a batch stopped early), close the file."""
        with self._lock:
            self._write_ready(everything=True)
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def write_summary(path: str | Path, summary: Summary, private: bool = False) -> None:
    write_atomic(path, json.dumps(summary.model_dump(mode="json"), indent=2) + "\n", private=private)
