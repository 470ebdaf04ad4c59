"""The batch engine: every problem through its stages, concurrently, without Prefect.

Prefect records a batch (``flows.orchestration.batch``: a flow run, a task run per chunk of problems, logs and
artifacts); this module computes it, so that the cost of a problem is the work it needs:

* one asyncio loop in a background thread admits problems in input order into a bounded window
  and keeps LLM calls in flight (the client bounds them by ``--concurrency``);
* formalizing, checking and solving run in a thread pool (the provers are subprocesses and warm
  workers, one per thread), with a per-process memo of identical formalizations;
* each finished problem is written to the store (``flows.store``) at once and handed to
  ``on_record`` (the results file, the progress line), so a killed run loses only the problems
  in flight and a rerun reads the rest back without asking or solving again.

The CLI starts the engine before it imports Prefect, so solving overlaps Prefect's start-up;
a flow run started by a deployment starts its own. Problems can be submitted in pieces (a Dask
worker submits its chunk); a problem submitted twice is computed once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import math
import os
import threading
import time
import traceback
from collections import OrderedDict
from typing import Callable

from parsers.errors import locate

from flows.engine import LLM_PARSERS, pipeline
from flows.engine.checks import review
from flows.engine.dialogue import converse
from flows.llm.clients import LLMClient
from flows.models import Checked, Formalization, Problem, ProblemRecord, ProblemResult, RunConfig, Verdict
from flows.store import Store, code_version, stable_hash

__all__ = ["Engine", "result_key", "deterministic_record"]

OnRecord = Callable[[str, ProblemRecord], None]


def result_key(problem: Problem, cfg: RunConfig) -> str:
    """A problem's final result depends on the problem (recorded completions included), the
    run's answer-deciding settings and our code — nothing else."""
    lean = problem.kind == "theorem" or (problem.formal is not None and problem.formal.language == "lean")
    return stable_hash("result", code_version(), pipeline.checker_identity(lean), _config_digest(cfg),
                       problem.model_dump(mode="json"))


_DIGESTS: dict[int, tuple[RunConfig, str]] = {}


def _config_digest(cfg: RunConfig) -> str:
    """``stable_hash(cfg.key())``, once per config object: its dump was most of a key's cost, and a
    rerun's triage makes one key per problem. A run's config is never changed once made (every
    change is a ``model_copy``, a new object)."""
    hit = _DIGESTS.get(id(cfg))
    if hit is not None and hit[0] is cfg:
        return hit[1]
    digest = stable_hash(cfg.key())
    if len(_DIGESTS) > 64:
        _DIGESTS.clear()
    _DIGESTS[id(cfg)] = (cfg, digest)
    return digest


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def deterministic_record(problem: Problem, cfg: RunConfig, store: Store) -> ProblemRecord:
    """Gold and english parsers: formalize → check → solve → result, in the calling thread."""
    t0 = time.perf_counter()
    deadline = time.monotonic() + cfg.problem_timeout_s
    form = pipeline.formalize(problem, cfg.parser)
    checked = pipeline.check(form)
    verdict = pipeline.solve(checked, cfg.solver, cfg.limits, store, deadline)
    result = pipeline.to_result(problem, checked, [verdict])
    first = lambda errs: errs[0].render().splitlines()[0][:160] if errs else ""  # noqa: E731
    what = f"{len(form.premises)} premises" if form.language == "fol" and not form.errors else form.language
    stages = {
        "formalize": f"{cfg.parser}: {what}" if not form.errors else f"error: {first(form.errors)}",
        "check": ("ok" + (f" ({len(checked.notes)} edits noted)" if checked.notes else "")) if checked.ok
        else f"error: {first(checked.errors)}",
        "solve": f"{verdict.solver} → {verdict.answer or verdict.status} in {_ms(verdict.wall_s)}" if checked.ok else "—",
        "vote": result.predicted or result.status,
    }
    result = result.model_copy(update={"stages": stages})
    return ProblemRecord(result=result, seconds=round(time.perf_counter() - t0, 4), final=pipeline.settled(verdict))


def _internal_error(problem: Problem, cfg: RunConfig, exc: BaseException) -> ProblemRecord:
    msg = f"internal error: {type(exc).__name__}: {exc}"
    err = locate("solve", msg[:280])
    result = ProblemResult(id=problem.id, gold=problem.answer, predicted=None, status="error", solver=cfg.solver,
                           error=err.render(), reason=msg[:280], stages={"solve": msg[:160]})
    return ProblemRecord(result=result, final=False)


def _unplanned(problem: Problem, cfg: RunConfig) -> ProblemRecord:
    """A streamed LLM batch fixes its formal languages by kind before reading the whole file; a
    later problem of a kind none of them translates (``--language lean`` and an entailment) is its
    own located error, the batch goes on."""
    msg = (f"no formal language for a {problem.kind!r} problem in this run (it translates "
           f"{', '.join(sorted(cfg.plans))} problems); batch it with --language auto, or apart")
    err = locate("formalize", msg)
    result = ProblemResult(id=problem.id, gold=problem.answer, predicted=None, status="error", solver=cfg.solver,
                           error=err.render(), reason=msg, stages={"formalize": msg[:160]})
    return ProblemRecord(result=result, final=False)


class RecordFutures:
    """What a batch reads from an engine, in- or out-of-process: one future per submitted problem
    (``_futures``, guarded by ``_lock``, both set by the subclass)."""

    _futures: dict[str, cf.Future]
    _lock: threading.Lock

    def future(self, problem_id: str) -> cf.Future:
        return self._futures[problem_id]

    def records(self, ids: list[str], timeout: float | None = None) -> list[ProblemRecord]:
        return [self._futures[i].result(timeout) for i in ids]

    def done(self) -> bool:
        with self._lock:
            return all(f.done() for f in self._futures.values())

    def release(self, ids: list[str]) -> None:
        """Forget these problems (their records were taken): a streamed batch's engine then holds
        its window, not every problem it ever computed. One submitted again is computed anew
        (read back from the store)."""
        with self._lock:
            for pid in ids:
                fut = self._futures.get(pid)
                if fut is not None and fut.done():
                    del self._futures[pid]
                    self._forget(pid)

    def _forget(self, problem_id: str) -> None:
        pass

    def finished(self) -> dict[str, ProblemRecord]:
        with self._lock:
            items = list(self._futures.items())
        return {pid: f.result() for pid, f in items if f.done() and not f.cancelled() and f.exception() is None}


class Engine(RecordFutures):
    """Computes ``ProblemRecord`` values for submitted problems; thread-safe."""

    def __init__(self, cfg: RunConfig, store: Store, *, concurrency: int, workers: int | None = None,
                 client: LLMClient | None = None, on_record: OnRecord | None = None, log: Callable[[str], None] | None = None):
        self.cfg = cfg
        self.store = store
        self.llm = cfg.parser in LLM_PARSERS
        self.workers = workers or (min(concurrency, os.cpu_count() or 2) + 1 if self.llm else concurrency)
        self.concurrency = concurrency
        self.client = client
        self.on_record = on_record
        self.log = log
        k = max(1, cfg.samples)
        self.window = max(2 * self.workers, math.ceil(2 * concurrency / k) + 2) if self.llm else 2 * self.workers
        self._futures: dict[str, cf.Future] = {}
        self._submitted: dict[str, Problem] = {}
        self._lock = threading.Lock()
        self._pool = cf.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="nesyflow-solve")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._thread: threading.Thread | None = None
        self._cancelled = False
        self.closed = False
        self._memo: OrderedDict[str, tuple[Checked, Verdict]] = OrderedDict()
        self._inflight: dict[str, asyncio.Future] = {}
        self.stats = {"computed": 0, "cached": 0}

    def _forget(self, problem_id: str) -> None:
        self._submitted.pop(problem_id, None)

    # -- public ------------------------------------------------------------------------------
    def submit(self, problems: list[Problem]) -> None:
        """Compute these problems. One already submitted is computed once (a Dask worker's chunk, a
        deployment's first chunk); a finished one submitted again with other content (the same id,
        another question: one process's successive ``reason`` runs) is computed anew."""
        new = []
        with self._lock:
            for p in problems:
                old = self._futures.get(p.id)
                if old is not None and (not old.done() or self._submitted.get(p.id) == p):
                    continue
                self._futures[p.id] = cf.Future()
                self._submitted[p.id] = p
                new.append(p)
        if not new:
            return
        self._ensure_loop()
        self._loop.call_soon_threadsafe(lambda: [self._queue.put_nowait(p) for p in new])

    def cancel(self) -> None:
        """Stop admitting problems; those not finished are cancelled (the work in flight is abandoned)."""
        self._cancelled = True
        with self._lock:
            for f in self._futures.values():
                f.cancel()

    def close(self, wait: bool = True) -> None:
        self.closed = True
        self.cancel()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the loop ------------------------------------------------------------------------------
    def _ensure_loop(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            ready = threading.Event()

            def run() -> None:
                loop = asyncio.new_event_loop()
                asyncio.set_event_loop(loop)
                self._loop, self._queue = loop, asyncio.Queue()
                loop.set_default_executor(self._pool)
                loop.create_task(self._admit())
                ready.set()
                try:
                    loop.run_forever()
                finally:  # closed: cancel what is left, let it unwind, then close the loop
                    tasks = asyncio.all_tasks(loop)
                    for t in tasks:
                        t.cancel()
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                    if self.client is not None:  # its pooled connections belong to this loop
                        try:
                            loop.run_until_complete(self.client.aclose())
                        except Exception:  # noqa: BLE001 - closing sockets of a batch that is over
                            pass
                    loop.close()

            self._thread = threading.Thread(target=run, name="nesyflow-engine", daemon=True)
            self._thread.start()
            ready.wait()

    async def _admit(self) -> None:
        slots = asyncio.Semaphore(self.window)
        while True:
            problem = await self._queue.get()
            if self._cancelled:
                continue
            await slots.acquire()
            task = asyncio.get_running_loop().create_task(self._run(problem))
            task.add_done_callback(lambda _t: slots.release())

    async def _run(self, problem: Problem) -> None:
        fut = self._futures[problem.id]
        if fut.done():
            return
        loop = asyncio.get_running_loop()
        key = result_key(problem, self.cfg)
        try:
            hit = self.store.get("result", key, ProblemRecord)
            if hit is not None and hit.result.id == problem.id:
                record = hit.model_copy(update={"cached": True, "usage": hit.usage.as_cached()})
                self.stats["cached"] += 1
            else:
                t0 = time.perf_counter()
                if self.llm and problem.load_error is None and problem.kind not in self.cfg.plans:
                    record = _unplanned(problem, self.cfg)
                elif self.llm:
                    record = await converse(problem, self.cfg, self.client, self.store, self._check_and_solve,
                                            self._confirm if self._decide_only else None)
                    record = record.model_copy(update={"seconds": round(time.perf_counter() - t0, 4)})
                else:
                    record = await loop.run_in_executor(self._pool, deterministic_record, problem, self.cfg, self.store)
                if record.final:
                    await loop.run_in_executor(self._pool, self.store.put, "result", key, record)
                self.stats["computed"] += 1
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug must not lose the batch: this problem reports it
            if self.log:
                self.log(f"{problem.id}: internal error\n{traceback.format_exc(limit=4)}")
            record = _internal_error(problem, self.cfg, exc)
        if self._cancelled or fut.done():
            return
        fut.set_result(record)
        if self.on_record is not None:
            try:
                self.on_record(problem.id, record)
            except Exception:  # a sink's failure is the sink's (e.g. a full disk): the batch goes on
                if self.log:
                    self.log(f"writing the result of {problem.id} failed\n{traceback.format_exc(limit=2)}")

    @property
    def _decide_only(self) -> bool:
        """With K samples, each is decided by the portfolio's first prover and only the vote's
        winner is cross-checked (``_confirm``): one confirmation per problem, not one per sample."""
        return self.cfg.samples > 1 and self.cfg.solver == "portfolio"

    async def _confirm(self, form: Formalization, checked: Checked, verdict: Verdict) -> Verdict:
        deadline = time.monotonic() + self.cfg.problem_timeout_s

        def work() -> Verdict:
            return review(form, checked, pipeline.confirm(checked, verdict, self.cfg.limits, self.store, deadline),
                          self.cfg.contradictory)

        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    async def _check_and_solve(self, form: Formalization, close_free: bool,
                               deadline: float | None = None) -> tuple[Checked, Verdict]:
        """Check and solve one sample's formalization in the pool. Identical ones are done once,
        including those in flight at the same time (a problem's samples often agree word for word).
        ``deadline``: the attempt's, set before its output was read (default: the budget from now)."""
        memo_key = stable_hash(form.model_dump(mode="json", exclude={"problem_id"}), close_free)
        hit = self._memo.get(memo_key)
        if hit is None:
            running = self._inflight.get(memo_key)
            if running is not None:
                hit = await asyncio.shield(running)
        if hit is not None:
            self._memo.move_to_end(memo_key) if memo_key in self._memo else None
            checked, verdict = hit
            return (checked.model_copy(update={"problem_id": form.problem_id}),
                    verdict.model_copy(update={"problem_id": form.problem_id}))
        if deadline is None:
            deadline = time.monotonic() + self.cfg.problem_timeout_s

        def work() -> tuple[Checked, Verdict]:
            checked = pipeline.check(form, close_free=close_free)
            verdict = pipeline.solve(checked, self.cfg.solver, self.cfg.limits, self.store, deadline, self._decide_only)
            return checked, review(form, checked, verdict, self.cfg.contradictory)

        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, work)
        self._inflight[memo_key] = future
        try:
            checked, verdict = await future
        finally:
            self._inflight.pop(memo_key, None)
        if pipeline.settled(verdict):
            self._memo[memo_key] = (checked, verdict)
            if len(self._memo) > 4096:  # identical samples are found within a problem and its neighbours
                self._memo.popitem(last=False)
        return checked, verdict
