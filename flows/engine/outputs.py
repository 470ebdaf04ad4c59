"""A batch's files: ``--results`` grows one line per problem as each finishes; ``--summary-json``
is written at the end, or when the batch stops early, for what finished.

The results file is appended to and flushed as problems finish (in the order they finish), so
``tail -f`` shows progress and a killed run keeps every line it wrote; at the end it is rewritten
atomically in input order. Nothing here imports Prefect.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Callable

from flows.models import ProblemRecord, Summary

__all__ = ["ResultsSink", "write_summary", "write_atomic"]

Progress = Callable[[int, int], None]


def write_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class ResultsSink:
    """Collects every problem's record once, whoever computed it (this process's engine, or a
    Dask worker whose chunk came back), writes it out at once and reports progress."""

    def __init__(self, order: list[str], path: str | None = None, progress: Progress | None = None):
        self.order = order
        self.path = Path(path) if path else None
        self.progress = progress
        self._records: dict[str, ProblemRecord] = {}
        self._lock = threading.Lock()
        self._fh = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8")

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
            write_atomic(self.path, "".join(recs[i].result.model_dump_json() + "\n" for i in self.order if i in recs))


def write_summary(path: str | Path, summary: Summary) -> None:
    write_atomic(path, json.dumps(summary.model_dump(mode="json"), indent=2) + "\n")
