"""The flows: ``batch`` decides a dataset, ``reason`` one problem. A batch records its problems as
task runs (a chunk each, ``flows.orchestration.tasks``), publishes a summary, a per-problem table with every
stage, and a chart as artifacts, and writes ``--results`` / ``--summary-json``.

The work itself is the engine's (``flows.engine.core``): the CLI starts it before Prefect is
imported; a flow run started by a deployment starts it here. A batch's results are its files and
the store (``persist_result=False``); a ``reason`` run's result, its one verdict, is persisted as
JSON for Prefect's clients (a REST caller reads the ``reason-result`` artifact). Never pickles.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import functools
import os
import time
from contextlib import contextmanager
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.context import get_run_context
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows.engine.contract import (BatchParser, ChunkSize, Concurrency, Contradictory, Fallback, FormatName,
                                   LanguageName, Limit, MaxTokens, ModelName, Name, PathText, Premises, PromptName,
                                   ReasonParams, ReasonParser, Refused, RepairRounds, Samples, Seconds, SolverName,
                                   Temperature, Text, Url, pick_model, serve_policy, validated)
from flows.engine.outputs import KEEP_RESULTS, write_summary
from flows.engine.runs import BatchParams, BatchRun, prepare, prepare_served, take
from flows.models import BatchReport, Formal, Problem, ProblemRecord, ProblemResult, Summary
from flows.orchestration.charts import chart_series, data_url, svg_bar_chart
from flows.orchestration.recovery import running
from flows.orchestration.report import results_table, summary_markdown, verdict_markdown
from flows.orchestration.tasks import chunk_label, describe, problems_task
from flows.text import one_line

__all__ = ["batch", "reason", "reason_here", "run_batch", "run_reason", "summary_of", "publish_files",
           "batch_flow", "drain", "quiet_heartbeat"]


def summary_of(run: BatchRun, flow_run_id: str | None = None, ui: str | None = None, interrupted: str = "") -> Summary:
    """The summary of what the sink has written (all of the batch, or what finished before a stop)."""
    tally = run.sink.tally
    usage = tally.usage
    p = run.params
    summary = tally.summary(time.perf_counter() - run.t0, dataset=p.dataset_name or Path(p.path).name, parser=p.parser,
                            solver=run.cfg.solver, flow_run_id=flow_run_id, model=run.cfg.model, ui_url=ui)
    update = {"cached_problems": tally.cached, "interrupted": interrupted}
    if run.cfg.parser in ("llm", "replay"):
        update.update({"llm_calls": usage.calls, "llm_cached": usage.cached, "llm_failed": usage.failed,
                       "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                       "cost_usd": round(usage.cost_usd, 6), "samples_total": tally.samples_total,
                       "samples_failed": tally.samples_failed})
    return summary.model_copy(update=update)


def publish_files(run: BatchRun, summary: Summary) -> None:
    """``--results`` (written in input order as problems finished) closed, and ``--summary-json``."""
    run.sink.finish()
    if run.params.summary_path:
        write_summary(run.params.summary_path, summary, private=run.params.private_outputs)


TABLE_ROWS = KEEP_RESULTS
"""Rows of the per-problem table artifact: the first problems (every one is in the results file)."""


def _publish_artifacts(summary: Summary, results: list[ProblemResult], tally=None) -> None:
    """The three artifacts at once (three round trips to the server, each in the run's context):
    they are the last thing a batch waits for. The table holds the first ``TABLE_ROWS`` problems."""
    title, groups = tally.chart() if tally is not None else chart_series(results)
    rows = results[:TABLE_ROWS]
    more = f" (the first {len(rows)} of {summary.n}; all are in the results file)" if summary.n > len(rows) else ""
    calls = [
        lambda: create_markdown_artifact(key="batch-summary", markdown=summary_markdown(summary),
                                         description="accuracy, execution rate, cost"),
        lambda: create_table_artifact(key="batch-results", table=results_table(rows),
                                      description="one row per problem: the answer and what each stage did" + more),
        lambda: create_image_artifact(image_url=data_url(svg_bar_chart(title, groups)), key="batch-chart",
                                      description=title),
    ]
    with cf.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        for fut in [pool.submit(contextvars.copy_context().run, call) for call in calls]:
            fut.result()


def _unlink(result, task_run_id=None) -> None:
    """Drop what Prefect keeps of a finished chunk for the flow's lifetime: the links from its
    result to its task run's state (``FlowRunContext.run_results``, for dependency tracking, one
    State per record — ~3 KB a problem, 3 GB over a million), its task run's (empty) asset set
    (``task_run_assets``), and the thread pool's cancel event for it (``ThreadPoolTaskRunner.
    _cancel_events``): 1.6 KB a chunk (tracemalloc), 32 MB over a million problems in 50s. The batch never passes a
    chunk's result on, tracks assets, nor cancels a finished chunk."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None:
        return
    ctx.run_results.pop(id(result), None)
    for item in result if isinstance(result, list) else ():
        ctx.run_results.pop(id(item), None)
    if task_run_id is None:
        return
    ctx.task_run_assets.pop(task_run_id, None)
    events = getattr(ctx.task_runner, "_cancel_events", None)
    if isinstance(events, dict):
        events.pop(task_run_id, None)


def _ui_link(run_id: str | None) -> str | None:
    from prefect.settings import PREFECT_API_URL

    from flows.orchestration.server import ui_url

    api = PREFECT_API_URL.value()
    return ui_url(api, run_id) if api and run_id else None


def _started_by_deployment() -> bool:
    """A REST call, the UI, a schedule or a worker started this run (not the CLI or Python)."""
    run = getattr(get_run_context(), "flow_run", None)
    return getattr(run, "deployment_id", None) is not None


def _flow_run_id() -> str | None:
    ctx = get_run_context()
    run = getattr(ctx, "flow_run", None)
    return str(run.id) if run else None


# Runs started by a deployment use this bounded pool (the CLI passes its own).
_DEFAULT_RUNNER = ThreadPoolTaskRunner(max_workers=max(4, (os.cpu_count() or 2) + 2))


def _as_inputs(*values):
    """A chunk's inputs, ``quote``d for a thread pool: Prefect then passes them as they are instead
    of walking every problem for futures (three walks per task run, ~60 ms of a 200-problem batch).
    Not for Dask: quoted values do not survive pickling (a value comes back as a 1-tuple)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is not None and isinstance(ctx.task_runner, ThreadPoolTaskRunner):
        return tuple(quote(v) for v in values)
    return values


def _batch_run_name() -> str:
    from prefect.runtime import flow_run

    p = flow_run.parameters
    return f"batch {p.get('dataset_name') or Path(str(p.get('path', ''))).name} [{p.get('parser', 'gold')}]"


@flow(name="batch", flow_run_name=_batch_run_name, validate_parameters=False, task_runner=_DEFAULT_RUNNER,
      persist_result=False)
def batch(
    path: PathText,
    format: FormatName = "auto",
    parser: BatchParser = "gold",
    solver: SolverName | None = None,
    samples: Samples = 1,
    repair_rounds: RepairRounds = 0,
    limit: Limit | None = None,
    timeout_s: Seconds | None = None,
    problem_timeout_s: Seconds | None = None,
    dataset_name: Name = "",
    concurrency: Concurrency | None = None,
    chunk_size: ChunkSize | None = None,
    model: ModelName | None = None,
    api_base: Url | None = None,
    prompt: PromptName | None = None,
    temperature: Temperature | None = None,
    fallback: Fallback = "none",
    llm_timeout_s: Seconds = 120.0,
    language: LanguageName = "auto",
    max_tokens: MaxTokens | None = None,
    contradictory: Contradictory = "auto",
    results_path: None = None,
    summary_path: None = None,
) -> BatchReport:
    """Decide every problem of a dataset; results per problem and a summary as artifacts and files.
    Started by the CLI, it records the run the CLI prepared (whose files are the CLI's); started by
    a deployment, its parameters are held to what the operator allows and its files go to its run
    folder (``flows.engine.contract``), whatever else this process holds."""
    # results_path/summary_path are here only to be refused by name: a caller who skips the schema
    # (whose deployments leave them out) would otherwise crash the run's process with no reason.
    if results_path is not None or summary_path is not None:
        raise Refused("results_path/summary_path: a flow run started by a deployment writes its results to its run "
                      "folder (<home>/runs/<flow-run-id>/), never to a path the caller names")
    params = validated(BatchParams, {k: v for k, v in locals().items() if k in BatchParams.model_fields and k not in
                                     ("results_path", "summary_path")})
    logger = get_run_logger()
    run_id = _flow_run_id()
    if _started_by_deployment():
        run = prepare_served(params, run_id, log=logger.error)
        logger.info("results: %s; summary: %s", run.params.results_path, run.params.summary_path)
    else:
        run = take(params) or prepare(params, log=logger.error)
    with running(run_id):
        feed = run.feed
        logger.info("%s problems from %s (parser %s, solver %s%s)", feed.read if feed.exhausted else f"{feed.read}+", path,
                    parser, run.cfg.solver, f", model {run.cfg.model}" if run.cfg.model else "")
        # Chunks are read from the file as they are needed: ``max_chunks`` in flight, the next
        # submitted as one finishes, so memory is the window, not the file; the sink writes the
        # results in input order whichever chunk finishes first.
        inflight: dict = {}

        def submit_next() -> bool:
            chunk = feed.next_chunk()
            if chunk is None:
                return False
            inflight[problems_task.submit(*_as_inputs(chunk, run.cfg), label=chunk_label([p.id for p in chunk]))] = chunk
            return True

        while len(inflight) < feed.max_chunks and submit_next():
            pass
        while inflight:
            fut = next(iter(as_completed(list(inflight))))
            chunk = inflight.pop(fut)
            try:
                records = fut.result()
            except Exception as exc:  # one broken chunk is reported, the rest go on
                if run.stopped.is_set():  # the CLI stopped the batch: its chunks fail on cancelled work
                    break
                logger.error("chunk %s failed: %r", chunk_label([p.id for p in chunk]), exc)
                records = [ProblemRecord(result=ProblemResult(id=p.id, gold=p.answer, predicted=None, status="error",
                                                              solver=run.cfg.solver, error=f"internal error in chunk: {exc!r}"),
                                         final=False) for p in chunk]
            for p, r in zip(chunk, records):
                run.sink.add(p.id, r)
            _unlink(records, getattr(fut, "task_run_id", None))
            del fut, records
            if not run.stopped.is_set():
                submit_next()
        if run.stopped.is_set():  # the CLI writes what finished; the run's note stays, so it is marked Crashed
            raise RuntimeError("the batch was stopped before it finished")
        run.sink.finish()
        summary = summary_of(run, run_id, _ui_link(run_id))
        results = run.sink.tally.head
        _publish_artifacts(summary, results, run.sink.tally)
        publish_files(run, summary)
    run.finished.set()
    return BatchReport(summary=summary, results=results, results_omitted=summary.n - len(results))


def _reason_run_name() -> str:
    """``reason <problem_id>``, or ``reason: <the conclusion>`` when the caller gave no id."""
    from prefect.runtime import flow_run

    p = flow_run.parameters
    pid = str(p.get("problem_id") or "")
    return f"reason {one_line(pid, 60)}" if pid else f"reason: {one_line(str(p.get('conclusion', '')), 60)}"


@flow(name="reason", flow_run_name=_reason_run_name, validate_parameters=False, task_runner=_DEFAULT_RUNNER,
      persist_result=True, result_serializer="json")
def reason(premises: Premises, conclusion: Text, parser: ReasonParser = "gold", solver: SolverName | None = None,
           timeout_s: Seconds | None = None, problem_id: Name = "", model: ModelName | None = None,
           api_base: Url | None = None, llm_timeout_s: Seconds = 120.0,
           contradictory: Contradictory = "auto") -> ProblemResult:
    """Decide one problem: premises and conclusion as formulas (parser gold, read as typed: a slip
    is a located error) or sentences (english, or llm with ``model``). The verdict is the flow's
    result (JSON), the ``reason-result`` artifact (JSON) and ``reason-verdict`` (markdown). Started
    by a deployment, ``model``/``api_base`` are held to what the operator offers."""
    from flows.engine.runs import reason_config

    p = validated(ReasonParams, dict(premises=premises, conclusion=conclusion, parser=parser, solver=solver,
                                     timeout_s=timeout_s, problem_id=problem_id, model=model, api_base=api_base,
                                     llm_timeout_s=llm_timeout_s, contradictory=contradictory))
    parser = "gold" if p.parser == "fol" else p.parser  # fol: the name solve's --parser had for gold
    model, api_base = p.model, p.api_base
    if _started_by_deployment() and (parser == "llm" or model or api_base):
        model, api_base = pick_model(model, api_base, serve_policy())
    pid = p.problem_id or "problem"
    formal = Formal(premises=p.premises, conclusion=p.conclusion, lenient=False) if parser == "gold" else None
    problem = Problem(id=pid, premises=p.premises, conclusion=p.conclusion, formal=formal)
    cfg = reason_config(parser, problem, solver=p.solver, timeout_s=p.timeout_s, model=model, api_base=api_base,
                        llm_timeout_s=p.llm_timeout_s, contradictory=p.contradictory)
    with running(_flow_run_id()):
        # the state, not the value: a chunk read back from the store returns a ``Cached`` state,
        # which a direct call would hand back as it is
        (record,) = problems_task([problem], cfg, label=one_line(pid, 80), return_state=True).result()
    result = record.result
    _publish_verdict(result)
    get_run_logger().info("%s", describe(record))
    return result


def _publish_verdict(result: ProblemResult) -> None:
    row = result.model_dump(mode="json", include=set(VERDICT_FIELDS))
    calls = [
        lambda: create_markdown_artifact(key="reason-verdict",
                                         markdown=verdict_markdown(result)),
        lambda: create_table_artifact(key="reason-result", table=[row],
                                      description="the verdict as JSON: one row with " + ", ".join(VERDICT_FIELDS)),
    ]
    with cf.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        for fut in [pool.submit(contextvars.copy_context().run, call) for call in calls]:
            fut.result()


VERDICT_FIELDS = ("id", "status", "predicted", "solver", "reason", "error", "used_premises", "disagreement", "notes")


@functools.cache
def reason_here():
    """``reason`` for the CLI: its result is printed, so it is not also written to result storage."""
    return reason.with_options(persist_result=False)


@contextmanager
def quiet_heartbeat():
    """Sync flows pay ~1 s for the heartbeat thread (DESIGN.md §9); a CLI run doesn't need it.
    Only Python can switch it off; a copy of the current settings with it off costs microseconds
    where ``temporary_settings`` re-reads every settings source (~20 ms)."""
    from prefect.context import SettingsContext, get_settings_context

    ctx = get_settings_context()
    s = ctx.settings
    quiet = s.model_copy(update={"flows": s.flows.model_copy(update={"heartbeat_frequency": None})})
    with SettingsContext(profile=ctx.profile, settings=quiet):
        yield


@functools.cache
def _threaded_batch():
    """The batch flow on a thread pool. Its chunk task runs wait on the engine, which bounds the
    work; threads start as chunks are submitted, so one pool size fits every run and the flow
    (whose parameter schema costs ~10 ms to build) is built once per process."""
    return batch.with_options(task_runner=ThreadPoolTaskRunner(max_workers=16))


def batch_flow(kind: str, concurrency: int, dask_address: str | None = None):
    """The batch flow on the task runner named. ``threads`` (default): task runs in this process,
    waiting on its engine. ``dask``: prefect-dask's runner on the cluster at ``dask_address``, or a
    LocalCluster of worker processes (one per core), each computing the chunks it is given."""
    if kind == "threads":
        return _threaded_batch()
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return batch.with_options(task_runner=DaskTaskRunner(address=dask_address))
        workers = max(1, min(concurrency, os.cpu_count() or 2))
        return batch.with_options(task_runner=DaskTaskRunner(cluster_kwargs={
            "n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None}))
    raise ValueError(f"unknown task runner {kind!r}; choose threads or dask")


def run_batch(concurrency: int | None = None, progress=None, task_runner: str = "threads", dask_address: str | None = None,
              processes: int = 0, **params) -> BatchReport:
    """The batch flow in this process, its engine started first (``processes`` > 0: in worker
    processes). What the CLI does, without its supervision and exit codes."""
    bp = BatchParams(concurrency=concurrency, **params)
    run = prepare(bp, progress=progress, start=task_runner == "threads", processes=0 if task_runner == "dask" else processes)
    flow_fn = batch_flow(task_runner, run.concurrency, dask_address)
    try:
        with quiet_heartbeat():
            return flow_fn(**bp.flow_kwargs())
    finally:
        run.engine.close()


def run_reason(**params) -> ProblemResult:
    with quiet_heartbeat():
        return reason(**params)


def drain(timeout: float = 30) -> None:
    """Ship queued events and logs now, so the server has the whole run when the CLI exits
    (otherwise Prefect drains at interpreter exit and warns about pending items)."""
    import logging

    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):  # "Still processing items: N remaining": that is the point
        logging.getLogger(worker.__name__).setLevel(logging.ERROR)
    APILogWorker.drain_all(timeout=timeout)
    EventsWorker.drain_all(timeout=timeout)
