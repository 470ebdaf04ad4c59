"""The engine in worker processes: this process orchestrates and records, the workers compute.

One Python process cannot use two cores: Prefect's start-up (~1 s of imports), litellm's
per-call overhead (~3 ms) and our parsing all queue for one interpreter lock. ``EnginePool``
runs ``flows.engine.core.Engine`` in ``processes`` worker processes (``python -m flows.engine.worker``),
deals the problems out in turn, and hands every record back through the same interface as an
in-process engine (``submit``, ``records``, ``done``, ``finished``, ``cancel``) — so the CLI
solves while Prefect imports, and LLM batches spread their calls over the cores.

Problems whose result is already in the store are read back here, without a worker (a rerun
of a finished batch starts none, and imports no litellm); the rest go to the workers, which start
with the first problem that needs computing. Requests and records cross the pipe as JSON
validated by their models. A worker that dies is reported on each of its unfinished problems (an
error result), and the batch goes on.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import json
import math
import queue
import subprocess
import threading
from typing import Callable

from flows.engine.core import RecordFutures, result_key
from flows.engine.prespawn import adopt, spawn
from flows.models import Problem, ProblemRecord, ProblemResult, RunConfig
from flows.store import Store

__all__ = ["EnginePool"]

OnRecord = Callable[[str, ProblemRecord], None]


class _Worker:
    def __init__(self, index: int, header: dict, verbose: bool):
        self.index = index
        self.proc = adopt(verbose) or spawn(verbose)
        self.lock = threading.Lock()
        self.pending: set[str] = set()
        self.gone = False
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


class EnginePool(RecordFutures):
    def __init__(self, cfg: RunConfig, store_root: str, *, concurrency: int, processes: int, on_record: OnRecord | None = None,
                 log: Callable[[str], None] | None = None, verbose: bool = False):
        self.cfg = cfg
        self.on_record = on_record
        self.log = log
        self.processes = max(1, processes)
        llm = cfg.parser in ("llm", "replay")
        per = max(1, math.ceil(concurrency / self.processes)) if llm else concurrency
        # LLM batches scale by processes, one solving thread each: threads in one interpreter contend
        # for its lock (measured: 2 processes × 1 thread beat 2 × 2 by 13 % on a ProofWriter replay).
        self._header = {"config": json.loads(cfg.model_dump_json()), "store": store_root, "concurrency": per,
                        "threads": 1 if llm else None, "verbose": verbose}
        self._verbose = verbose
        self._workers: list[_Worker] = []
        self._futures: dict[str, cf.Future] = {}
        self._gold: dict[str, str | None] = {}
        self._lock = threading.Lock()
        # Problems wait here and go to the least busy worker as it finishes others: dealt out up
        # front, a worker whose share happened to be slower kept the batch waiting while the
        # other idled. ``_cap`` in flight per worker keeps its own concurrency fed.
        self._backlog: collections.deque[Problem] = collections.deque()
        self._cap = max(4, 2 * per)
        self._closing = False
        self.closed = False
        self.stats = {"computed": 0, "cached": 0}
        self._store = Store(store_root)
        self._triage_lock = threading.Lock()
        self._inbox: queue.Queue[list[Problem]] = queue.Queue()
        self._triager: threading.Thread | None = None

    def _start(self) -> None:
        for i in range(self.processes):
            w = _Worker(i, self._header, self._verbose)
            self._workers.append(w)
            threading.Thread(target=self._read, args=(w,), name=f"nesyflow-pool-{i}", daemon=True).start()
            if w.proc.stderr is not None:
                threading.Thread(target=self._drain_stderr, args=(w,), daemon=True).start()

    def submit(self, problems: list[Problem]) -> None:
        with self._lock:
            new = [p for p in problems if p.id not in self._futures]
            for p in new:
                self._futures[p.id] = cf.Future()
                self._gold[p.id] = p.answer
        if new:
            with self._lock:
                if self._triager is None:
                    # One long-lived thread starts the workers: a child's PR_SET_PDEATHSIG fires when
                    # the thread that forked it exits, not only the process.
                    self._triager = threading.Thread(target=self._triage_forever, name="nesyflow-triage", daemon=True)
                    self._triager.start()
            self._inbox.put(new)

    def _forget(self, problem_id: str) -> None:
        self._gold.pop(problem_id, None)

    def _triage_forever(self) -> None:
        while True:
            self._triage(self._inbox.get())

    def _triage(self, problems: list[Problem]) -> None:
        """Read back what the store has; send the rest to the workers in small batches, in order."""
        with self._triage_lock:
            misses: list[Problem] = []
            keys = [result_key(p, self.cfg) for p in problems]
            hits = self._store.get_many("result", keys, ProblemRecord)
            for p, key in zip(problems, keys):
                if self._closing:
                    return
                hit = hits.get(key)
                if hit is not None and hit.result.id == p.id:
                    self._deliver(None, p.id, hit.model_copy(update={"cached": True, "usage": hit.usage.as_cached()}))
                    continue
                misses.append(p)
                if len(misses) >= 16 or len(misses) == 1:  # the first miss starts the workers at once
                    self._dispatch(misses)
                    misses = []
            if misses:
                self._dispatch(misses)

    def _dispatch(self, problems: list[Problem]) -> None:
        with self._lock:
            if not self._workers:
                self._start()
            self._backlog.extend(problems)
        self._fill()

    def _fill(self, everything: bool = False) -> None:
        """Top every live worker up to ``_cap`` problems in flight (``everything``: send all)."""
        batches: dict[int, list[Problem]] = collections.defaultdict(list)
        with self._lock:
            live = [w for w in self._workers if not w.gone]
            while self._backlog and live:
                w = min(live, key=lambda x: len(x.pending))
                if len(w.pending) >= self._cap and not everything:
                    break
                p = self._backlog.popleft()
                w.pending.add(p.id)
                batches[w.index].append(p)
            stranded = list(self._backlog) if not live else []
            if stranded:
                self._backlog.clear()
        for index, ps in batches.items():
            w = self._workers[index]
            if not w.send({"problems": [json.loads(p.model_dump_json()) for p in ps]}):
                self._fail(w, "the engine process is gone")
        for p in stranded:  # every engine process has died: these are reported, not lost
            self._error(p.id, "internal error: every engine process ended")

    def cancel(self) -> None:
        self._closing = True
        for w in self._workers:
            if w.proc.poll() is None:
                w.proc.kill()
        with self._lock:
            for f in self._futures.values():
                f.cancel()

    def close(self, wait: bool = True) -> None:
        """End the workers' input; they finish what they were sent (the backlog included) and leave.
        ``wait=False`` does not wait for them to exit (every record is already here)."""
        self._fill(everything=True)
        self._closing = True
        self.closed = True
        for w in self._workers:
            try:
                w.proc.stdin.close()
            except OSError:
                pass
        for w in self._workers if wait else ():
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

    def _deliver(self, w: _Worker | None, pid: str, record: ProblemRecord) -> None:
        fut = self._futures.get(pid)
        if fut is None or fut.done():
            return
        if w is not None:
            w.pending.discard(pid)
            if self._backlog and not self._closing:
                self._fill()
        self.stats["cached" if record.cached else "computed"] += 1
        fut.set_result(record)
        if self.on_record is not None:
            try:
                self.on_record(pid, record)
            except Exception as exc:  # the sink's failure (a full disk) must not stop the reader
                if self.log:
                    self.log(f"writing the result of {pid} failed: {exc!r}")

    def _fail(self, w: _Worker, why: str) -> None:
        w.gone = True
        for pid in list(w.pending):
            self._error(pid, f"internal error: {why}", w)
        if self._backlog and not self._closing:
            self._fill()  # the others take the rest

    def _error(self, pid: str, msg: str, w: _Worker | None = None) -> None:
        result = ProblemResult(id=pid, gold=self._gold.get(pid), predicted=None, status="error", solver=self.cfg.solver,
                               error=msg, reason=msg, stages={"solve": msg[:160]})
        self._deliver(w, pid, ProblemRecord(result=result, final=False))
