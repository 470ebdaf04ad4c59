"""One batch outside Prefect: its parameters, problems, settings, engine and output files.

``prepare`` turns the batch flow's parameters into a running ``BatchRun``: problems loaded, the
answer-deciding settings fixed (``RunConfig``), the engine started, the results file open. The
CLI calls it before importing Prefect, so problems are being solved while Prefect starts; the
flow then finds that run (``take``) instead of starting another. A flow run started by a
deployment calls ``prepare`` itself. Nothing here imports Prefect.
"""

from __future__ import annotations

import collections
import itertools
import math
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from pydantic import BaseModel, ConfigDict

from solvers import Limits

from flows.datasets import DatasetError, stream_problems
from flows.engine import LLM_PARSERS, default_processes
from flows.engine.contract import (BatchParser, ChunkSize, Contradictory, Concurrency, Fallback, FormatName, LanguageName, Limit,
                                   ModelName, Name, PathText, PromptName, RepairRounds, Samples, Seconds,
                                   SolverName, Temperature, MaxTokens, Url, dataset_error, dataset_path, pick_model, run_folder,
                                   serve_policy)
from flows.engine.core import Engine, result_key
from flows.engine.languages import language_plans, plan_for
from flows.engine.outputs import ResultsSink
from flows.engine.pipeline import DEFAULT_SOLVER
from flows.llm.factory import make_client
from flows.models import Problem, RunConfig
from flows.settings import get_settings
from flows.store import Store

__all__ = ["BatchParams", "BatchRun", "Feed", "prepare", "prepare_served", "take", "engine_for", "limits_for",
           "reason_config"]


class BatchParams(BaseModel):
    """A batch's parameters: the batch flow's (a deployment's schema is the flow signature; this
    mirrors it, with the same types) and, for the CLI only, where its files go."""

    model_config = ConfigDict(frozen=True)

    path: PathText
    format: FormatName = "auto"
    parser: BatchParser = "gold"
    solver: SolverName | None = None
    samples: Samples = 1
    repair_rounds: RepairRounds = 0
    limit: Limit | None = None
    timeout_s: Seconds | None = None
    problem_timeout_s: Seconds | None = None
    dataset_name: Name = ""
    concurrency: Concurrency | None = None
    chunk_size: ChunkSize | None = None
    model: ModelName | None = None
    api_base: Url | None = None
    prompt: PromptName | None = None
    temperature: Temperature | None = None
    fallback: Fallback = "none"
    llm_timeout_s: Seconds = 120.0
    language: LanguageName = "auto"
    max_tokens: MaxTokens | None = None
    results_path: str | None = None
    """CLI only (``--results``): a flow run started by a deployment writes to its run folder."""
    summary_path: str | None = None
    contradictory: Contradictory = "auto"
    private_outputs: bool = False
    """Served runs: the files are owner-only and the folder must exist (``contract.run_folder``)."""

    def flow_kwargs(self) -> dict:
        """The batch flow's arguments: everything but where the files go."""
        return self.model_dump(exclude=_OUTPUTS)

    def flow_key(self) -> "BatchParams":
        return self.model_copy(update=dict.fromkeys(_OUTPUTS))


_OUTPUTS = {"results_path", "summary_path", "private_outputs"}


def limits_for(timeout_s: float | None) -> Limits:
    """Per prover run: ``timeout_s`` bounds wall clock and CPU alike; otherwise the settings."""
    s = get_settings()
    return Limits(timeout_s=timeout_s or s.timeout_s, cpu_s=max(1, math.ceil(timeout_s or s.cpu_s)), memory_mb=s.memory_mb)


def _config(p: BatchParams, problems: list[Problem], complete: bool = True) -> RunConfig:
    """``problems``: the batch's (``complete``), or its first ones: then a plan is made for every
    kind that can have one under ``--language``, since a later problem may be of another kind."""
    limits = limits_for(p.timeout_s)
    solver = p.solver or DEFAULT_SOLVER[p.parser]
    budget = p.problem_timeout_s or get_settings().problem_timeout_s or 3 * limits.timeout_s
    base = dict(parser=p.parser, solver=solver, limits=limits, problem_timeout_s=budget)
    if p.parser not in LLM_PARSERS:
        return RunConfig(**base)
    model, api_base, rounds = p.model or "", p.api_base, p.repair_rounds
    if p.parser == "replay":
        from flows.llm.replay import recording_name, recording_url

        model, api_base, rounds = f"replay/{recording_name(Path(p.path).stem, problems)}", recording_url(p.path, p.format), 0
    elif not model:
        raise ValueError("--parser llm needs --model (a litellm model string, e.g. openai/gpt-4o)")
    plans = language_plans(p.language, {q.kind for q in problems}, Path(p.path).name, p.format, p.prompt)
    for kind in () if complete else ("entailment", "choice", "math", "theorem"):
        if kind not in plans:
            try:
                plans[kind] = plan_for(p.language, kind, Path(p.path).name, p.format, p.prompt)
            except ValueError:  # e.g. --language lean: only theorems; another kind later is that problem's error
                pass
    if p.parser == "replay" and p.language == "auto":
        # A recording is read by its own markers; without any, by the format its prompt asked for
        # (Logic-LM's, named by the dataset in the file name, else what auto picks).
        asked = language_plans("logic-lm", {q.kind for q in problems}, Path(p.path).name, p.format, p.prompt)
        for kind in set(plans) - set(asked):  # a kind the first window of a stream did not hold
            try:
                asked[kind] = plan_for("logic-lm", kind, Path(p.path).name, p.format, p.prompt)
            except ValueError:
                pass
        plans = {k: plan.model_copy(update={"style": "auto", "expected": asked[k].expected or asked[k].style}) if k in asked else plan
                 for k, plan in plans.items()}
    temperature = p.temperature if p.temperature is not None else (0.0 if p.samples == 1 else 0.8)
    return RunConfig(**base, model=model, api_base=api_base, plans=plans, samples=p.samples, repair_rounds=rounds,
                     temperature=temperature, fallback=p.fallback, llm_timeout_s=p.llm_timeout_s,
                     max_tokens=p.max_tokens or get_settings().max_tokens,
                     contradictory=p.contradictory)


def reason_config(parser: str, problem: Problem, **params) -> RunConfig:
    """The settings of the ``reason`` flow's one problem, as a batch of it would have them."""
    return _config(BatchParams(path="reason", parser=parser, **params), [problem])


CACHED_CHUNK = 500
"""The most problems in a chunk the store answers whole (one task run: its log lists each)."""


class Feed:
    """A batch's problems in chunks, read from its file as they are taken: the first chunks when
    the batch starts (the CLI computes them while Prefect starts), the next as chunks finish
    (``flows.orchestration.batch`` keeps ``max_chunks`` in flight). Each chunk taken is announced to
    the results sink (its input order) and, once computing has started (``engine``), submitted.

    Chunk size: ``chunk_size``, or automatic — at most 50 problems, at least two per worker, sized
    by the batch when it ends within the first ``100 × concurrency`` problems (read ahead to know).
    Automatic chunks grow to ``CACHED_CHUNK`` over a run of problems the store already answers
    (``cached``, set once the run's settings are known): such a problem costs ~0.03 ms to read back
    and a task run ~16-30 ms of orchestration, so a rerun in 50s spent most of its time on Prefect."""

    def __init__(self, problems: Iterator[Problem], sink: ResultsSink, concurrency: int, chunk_size: int | None = None):
        self._source = problems
        self.sink = sink
        self.engine: Engine | None = None
        self.read = 0
        self.exhausted = False
        self._look: collections.deque[Problem] = collections.deque()
        self._ready: collections.deque[list[Problem]] = collections.deque()
        self._lock = threading.Lock()
        self.cached: Callable[[list[Problem]], set[str]] | None = None
        """The ids of these problems whose results the store holds (a hint: chunk sizes only)."""
        self._fixed = bool(chunk_size)
        self._pull(100 * max(1, concurrency) + 1)
        n = len(self._look)
        if chunk_size:
            self.size = chunk_size
        elif self.exhausted:
            self.size = max(1, min(50, math.ceil(n / (2 * max(1, concurrency)))))
        else:
            self.size = 50
        self.max_chunks = min(12, max(4, math.ceil(3 * concurrency / self.size) + 2))
        if self.exhausted:
            sink.total = n

    def first(self) -> list[Problem]:
        """The problems read ahead (the batch's first ones; all of them when ``exhausted``)."""
        return list(self._look)

    def _pull(self, n: int) -> None:
        while len(self._look) < n and not self.exhausted:
            try:
                self._look.append(next(self._source))
                self.read += 1
            except StopIteration:
                self.exhausted = True
                self.sink.total = self.read

    def _make(self) -> list[Problem] | None:
        self._pull(self.size)
        n = min(self.size, len(self._look))
        if self.cached is not None and not self._fixed and n:
            n = self._cached_run(n)
        chunk = [self._look.popleft() for _ in range(n)]
        if not chunk:
            return None
        self.sink.expect([p.id for p in chunk])
        if self.engine is not None:
            self.engine.submit(chunk)
        return chunk

    def _cached_run(self, n: int) -> int:
        """``n``, or up to ``CACHED_CHUNK`` when the first ``n`` and the ones after are all in the store."""
        head = list(itertools.islice(self._look, 0, n))
        if len(self.cached(head)) < len(head):
            return n
        while n < CACHED_CHUNK:
            self._pull(min(CACHED_CHUNK, n + self.size))
            more = list(itertools.islice(self._look, n, min(CACHED_CHUNK, n + self.size)))
            if not more:
                break
            held = self.cached(more)
            for p in more:
                if p.id not in held:
                    return n
                n += 1
        return n

    def start(self, engine: Engine) -> None:
        """Compute from now on: the first ``max_chunks`` chunks are submitted at once."""
        with self._lock:
            self.engine = engine
            for chunk in self._ready:
                engine.submit(chunk)
            while len(self._ready) < self.max_chunks:
                chunk = self._make()
                if chunk is None:
                    break
                self._ready.append(chunk)

    def next_chunk(self) -> list[Problem] | None:
        """The next chunk in input order, or None at the end of the file."""
        with self._lock:
            return self._ready.popleft() if self._ready else self._make()

    def ready_ids(self) -> list[str]:
        """The ids of the chunks read and not yet taken (a test's way to wait for them)."""
        with self._lock:
            return [p.id for c in self._ready for p in c]

    @property
    def empty(self) -> bool:
        return self.exhausted and self.read == 0


class BatchRun:
    def __init__(self, params: BatchParams, feed: Feed, cfg: RunConfig, engine: Engine, sink: ResultsSink,
                 concurrency: int):
        self.params, self.feed, self.cfg, self.engine, self.sink = params, feed, cfg, engine, sink
        self.concurrency = concurrency
        self.t0 = time.perf_counter()
        self.finished = threading.Event()
        self.stopped = threading.Event()
        """Set when the CLI stops the batch early (server lost, Ctrl-C): the flow records nothing more."""


def _count_lines(path: str) -> int | None:
    """Lines of a file, counted in 1 MB blocks (~0.2 s a GB from the page cache): a progress total."""
    try:
        with open(path, "rb") as fh:
            return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return None


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()
_PREPARED: dict[BatchParams, BatchRun] = {}


def engine_for(cfg: RunConfig, concurrency: int | None = None, problems: list[Problem] | None = None) -> Engine:
    """This process's engine for ``cfg``: the one a prepared run started, or a new one (a
    deployment's flow run, a Dask worker)."""
    from flows.store import stable_hash

    key = stable_hash(cfg.key(), cfg.llm_timeout_s)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None or engine.closed:
            concurrency = concurrency or get_settings().concurrency
            engine = Engine(cfg, Store(get_settings().cache_dir), concurrency=concurrency,
                            client=make_client(cfg, concurrency, problems))
            _ENGINES[key] = engine
        return engine


def _held_by(store: Store, cfg: RunConfig) -> Callable[[list[Problem]], set[str]]:
    def held(problems: list[Problem]) -> set[str]:
        keys = {result_key(p, cfg): p.id for p in problems}
        return {keys[k] for k in store.has_many("result", list(keys))}

    return held


def prepare(params: BatchParams, progress: Callable[[int, int], None] | None = None, start: bool = True,
            log: Callable[[str], None] | None = None, verbose: bool = False, processes: int | None = 0) -> BatchRun:
    """Load the problems, fix the settings, start computing (``start``), open the results file.
    ``processes``: engine worker processes (``flows.engine.pool``); 0 computes in this process, None picks."""
    settings = get_settings()
    stream = stream_problems(params.path, params.format, params.limit)
    concurrency = params.concurrency or settings.concurrency
    sink = ResultsSink(None, params.results_path, progress, private=params.private_outputs)
    # Replay serves each problem's recorded completions, named by a hash of them all: its files
    # (recordings, JSON arrays read whole anyway) are loaded whole. Every other batch streams.
    everything = list(stream) if params.parser == "replay" else None
    # an LLM problem holds K of the --concurrency call slots: problems in flight, not calls, size the chunks
    in_flight = math.ceil(concurrency / max(1, params.samples)) if params.parser in ("llm", "replay") else concurrency
    feed = Feed(iter(everything) if everything is not None else stream, sink, in_flight, params.chunk_size)
    if not feed.exhausted:
        sink.total = params.limit or _count_lines(params.path)
    cfg = _config(params, everything if everything is not None else feed.first(), complete=feed.exhausted)
    if processes is None:
        processes = default_processes(cfg.parser)
    if processes:
        from flows.engine.pool import EnginePool

        engine = EnginePool(cfg, str(settings.cache_dir), concurrency=concurrency, processes=processes,
                            on_record=sink.add, log=log, verbose=verbose)
    else:
        engine = Engine(cfg, Store(settings.cache_dir), concurrency=concurrency,
                        client=make_client(cfg, concurrency, everything, verbose), on_record=sink.add, log=log)
    from flows.store import stable_hash

    with _ENGINES_LOCK:
        _ENGINES[stable_hash(cfg.key(), cfg.llm_timeout_s)] = engine
    feed.cached = _held_by(Store(settings.cache_dir), cfg)
    run = BatchRun(params, feed, cfg, engine, sink, concurrency)
    if start:
        feed.start(engine)
    _PREPARED[params.flow_key()] = run
    return run


def take(params: BatchParams) -> BatchRun | None:
    """The run ``prepare`` started for exactly these flow parameters in this process, if any."""
    return _PREPARED.pop(params.flow_key(), None)


def prepare_served(params: BatchParams, flow_run_id: str | None, log: Callable[[str], None] | None = None) -> BatchRun:
    """``prepare`` for a flow run a deployment started: its parameters held to what the operator
    allows (``flows.engine.contract``), its files in its own run folder. ``Refused`` otherwise."""
    policy = serve_policy()
    path = dataset_path(params.path, policy)
    model, api_base = pick_model(params.model, params.api_base, policy) if params.parser == "llm" else (None, None)
    folder = run_folder(policy, flow_run_id)
    served = params.model_copy(update={"path": str(path), "model": model, "api_base": api_base, "private_outputs": True,
                                       "results_path": str(folder / "results.jsonl"),
                                       "summary_path": str(folder / "summary.json")})
    try:
        run = prepare(served, log=log)
    except DatasetError as exc:
        raise dataset_error(exc, path) from None
    take(served)  # the flow run holds it: nothing else in its process may take it
    return run
