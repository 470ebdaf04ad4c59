"""The engine in worker processes: this process orchestrates and records, the workers compute.

One Python process cannot use two cores: Prefect's start-up (~1 s of imports), litellm's
per-call overhead (~3 ms) and our parsing all queue for one interpreter lock. ``EnginePool``
runs ``flows.engine.Engine`` in ``processes`` worker processes (``python -m flows.worker``),
deals the problems out in turn, and hands every record back through the same interface as an
in-process engine (``submit``, ``records``, ``done``, ``finished``, ``cancel``) — so the CLI
solves while Prefect imports, and LLM batches spread their calls over the cores.

Requests and records cross the pipe as JSON validated by their models. A worker that dies is
reported on each of its unfinished problems (an error result), and the batch goes on.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import json
import math
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from .models import Problem, ProblemRecord, ProblemResult, RunConfig

__all__ = ["EnginePool"]

OnRecord = Callable[[str, ProblemRecord], None]


class _Worker:
    def __init__(self, index: int, header: dict, verbose: bool):
        self.index = index
        self.proc = subprocess.Popen([sys.executable, "-m", "flows.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=None if verbose else subprocess.PIPE, text=True, encoding="utf-8",
                                     bufsize=1, cwd=str(Path(__file__).resolve().parent.parent))
        self.lock = threading.Lock()
        self.pending: set[str] = set()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.send(header)

    def send(self, obj: dict) -> bool:
        with self.lock:
            try:
                self.proc.stdin.write(json.dumps(obj, ensure_ascii=False) + "\n")
                self.proc.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                return False


class EnginePool:
    def __init__(self, cfg: RunConfig, store_root: str, *, concurrency: int, processes: int, on_record: OnRecord | None = None,
                 log: Callable[[str], None] | None = None, verbose: bool = False):
        self.cfg = cfg
        self.on_record = on_record
        self.log = log
        self.processes = max(1, processes)
        per = max(1, math.ceil(concurrency / self.processes)) if cfg.parser in ("llm", "replay") else concurrency
        self._header = {"config": json.loads(cfg.model_dump_json()), "store": store_root, "concurrency": per,
                        "verbose": verbose}
        self._verbose = verbose
        self._workers: list[_Worker] = []
        self._futures: dict[str, cf.Future] = {}
        self._owner: dict[str, _Worker] = {}
        self._gold: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._closing = False
        self.closed = False
        self.stats = {"computed": 0, "cached": 0}

    def _start(self) -> None:
        for i in range(self.processes):
            w = _Worker(i, self._header, self._verbose)
            self._workers.append(w)
            threading.Thread(target=self._read, args=(w,), name=f"nesyflow-pool-{i}", daemon=True).start()
            if w.proc.stderr is not None:
                threading.Thread(target=self._drain_stderr, args=(w,), daemon=True).start()

    def submit(self, problems: list[Problem]) -> None:
        batches: dict[int, list[Problem]] = collections.defaultdict(list)
        with self._lock:
            if not self._workers:
                self._start()
            for p in problems:
                if p.id in self._futures:
                    continue
                self._futures[p.id] = cf.Future()
                w = self._workers[self._next % len(self._workers)]
                self._next += 1
                self._owner[p.id] = w
                self._gold[p.id] = p.answer
                w.pending.add(p.id)
                batches[w.index].append(p)
        for index, ps in batches.items():
            w = self._workers[index]
            if not w.send({"problems": [json.loads(p.model_dump_json()) for p in ps]}):
                self._fail(w, "the engine process is gone")

    def future(self, problem_id: str) -> cf.Future:
        return self._futures[problem_id]

    def records(self, ids: list[str], timeout: float | None = None) -> list[ProblemRecord]:
        return [self._futures[i].result(timeout) for i in ids]

    def done(self) -> bool:
        with self._lock:
            return all(f.done() for f in self._futures.values())

    def finished(self) -> dict[str, ProblemRecord]:
        with self._lock:
            items = list(self._futures.items())
        return {pid: f.result() for pid, f in items if f.done() and not f.cancelled() and f.exception() is None}

    def cancel(self) -> None:
        self._closing = True
        for w in self._workers:
            if w.proc.poll() is None:
                w.proc.kill()
        with self._lock:
            for f in self._futures.values():
                f.cancel()

    def close(self) -> None:
        self._closing = True
        self.closed = True
        for w in self._workers:
            try:
                w.proc.stdin.close()
            except OSError:
                pass
        for w in self._workers:
            try:
                w.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.proc.kill()

    # -- reading -------------------------------------------------------------------------------
    def _drain_stderr(self, w: _Worker) -> None:
        for line in w.proc.stderr:
            w.stderr_tail.append(line.rstrip())

    def _read(self, w: _Worker) -> None:
        for line in w.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue  # not ours (a library printing to stdout)
            if "log" in msg and self.log:
                self.log(str(msg["log"]))
            if "record" not in msg:
                continue
            try:
                pid = str(msg["id"])
                record = ProblemRecord.model_validate(msg["record"])
            except (KeyError, ValueError):
                continue
            self._deliver(w, pid, record)
        w.proc.wait()
        if not self._closing:
            tail = " | ".join(list(w.stderr_tail)[-3:])
            self._fail(w, f"the engine process {w.index} ended (exit {w.proc.returncode})" + (f": {tail}" if tail else ""))

    def _deliver(self, w: _Worker, pid: str, record: ProblemRecord) -> None:
        fut = self._futures.get(pid)
        if fut is None or fut.done():
            return
        w.pending.discard(pid)
        self.stats["cached" if record.cached else "computed"] += 1
        fut.set_result(record)
        if self.on_record is not None:
            try:
                self.on_record(pid, record)
            except Exception as exc:  # the sink's failure (a full disk) must not stop the reader
                if self.log:
                    self.log(f"writing the result of {pid} failed: {exc!r}")

    def _fail(self, w: _Worker, why: str) -> None:
        for pid in list(w.pending):
            msg = f"internal error: {why}"
            result = ProblemResult(id=pid, gold=self._gold.get(pid), predicted=None, status="error", solver=self.cfg.solver, error=msg,
                                   reason=msg, stages={"solve": msg[:160]})
            self._deliver(w, pid, ProblemRecord(result=result, final=False))
