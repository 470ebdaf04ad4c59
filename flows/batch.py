"""The flows: ``reason`` decides one problem, ``batch`` a dataset. A batch writes its results as
Prefect artifacts (a markdown summary, a per-problem table, a chart) and, when asked, as files."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Callable

from prefect import flow, get_run_logger
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.context import get_run_context
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from solvers import Limits

from .charts import chart_series, data_url, svg_bar_chart
from .datasets import load_problems
from .models import BatchReport, Problem, ProblemResult
from .pipeline import DEFAULT_SOLVER, chunk_label
from .report import results_table, summarize, summary_markdown
from .settings import get_settings
from .tasks import check_task, formalize_task, solve_task, vote_task

__all__ = ["batch", "reason", "run_batch", "run_reason", "chunked", "set_progress_hook", "drain", "task_runner_for"]

ProgressFn = Callable[[int, int], None]
_progress_hook: ProgressFn | None = None


def set_progress_hook(fn: ProgressFn | None) -> None:
    """In-process progress reporting (the CLI's bar): called with (done, total) as chunks finish.
    A hook, not a flow parameter: parameters must be serialisable for deployments."""
    global _progress_hook
    _progress_hook = fn


def chunked(problems: list[Problem], concurrency: int, chunk_size: int = 0) -> list[list[Problem]]:
    """Chunks for cheap stages: two per worker (each task run costs ~25 ms of engine overhead, so
    fewer is faster; two leave room to balance a slow chunk), at most 50 problems each."""
    if not problems:
        return []
    size = chunk_size or max(1, min(50, math.ceil(len(problems) / (2 * concurrency))))
    return [problems[i : i + size] for i in range(0, len(problems), size)]


def _limits(settings, timeout_s: float | None) -> Limits:
    """Per prover run: ``timeout_s`` bounds wall clock and CPU alike; otherwise the settings."""
    return Limits(timeout_s=timeout_s or settings.timeout_s, cpu_s=max(1, math.ceil(timeout_s or settings.cpu_s)),
                  memory_mb=settings.memory_mb)


def _run_chunks(problems, parser, solver, limits, concurrency, chunk_size, cache_dir, progress: ProgressFn | None):
    # Submitted stage by stage, not chunk by chunk: a task waiting on an upstream future holds a
    # worker thread, so chunk-major order would run the chunks one after another.
    chunks = chunked(problems, concurrency, chunk_size)
    labels = [chunk_label([p.id for p in chunk]) for chunk in chunks]
    forms = [formalize_task.submit(chunk, parser, label=lb) for chunk, lb in zip(chunks, labels)]
    checks = [check_task.submit(f, label=lb) for f, lb in zip(forms, labels)]
    solves = [solve_task.submit(c, solver, limits, cache_dir, label=lb) for c, lb in zip(checks, labels)]
    votes = [vote_task.submit(chunk, c, s, label=lb) for chunk, c, s, lb in zip(chunks, checks, solves, labels)]
    futures = dict(zip(votes, chunks))
    by_id: dict[str, ProblemResult] = {}
    done = 0
    for fut in as_completed(list(futures)):
        chunk = futures[fut]
        try:
            for r in fut.result():
                by_id[r.id] = r
        except Exception as exc:  # one broken chunk is reported, the rest go on
            get_run_logger().error("chunk %s failed: %r", chunk_label([p.id for p in chunk]), exc)
            for p in chunk:
                by_id[p.id] = ProblemResult(id=p.id, gold=p.answer, predicted=None, status="error", solver=solver,
                                            error=f"internal error in chunk: {exc!r}")
        done += len(chunk)
        if progress:
            progress(done, len(problems))
    return [by_id[p.id] for p in problems]


def _run_llm(problems, path, format, parser, model, api_base, prompt, samples, repair_rounds, temperature, solver,
             limits, concurrency, cache_dir, fallback, llm_timeout_s, language="auto"):
    from .languages import language_plans
    from .llm_batch import run_llm_problems

    if parser == "replay":
        from .replay import recording_name, recording_url

        if repair_rounds:
            get_run_logger().warning("repair rounds are unavailable in replay (no model to ask); running without")
        name = recording_name(Path(path).stem, problems)
        model, api_base, repair_rounds = f"replay/{name}", recording_url(path, format), 0
    elif not model:
        raise ValueError("--parser llm needs --model (a litellm model string, e.g. openai/gpt-4o)")
    plans = language_plans(language, {p.kind for p in problems}, Path(path).name, format, prompt)
    if parser == "replay" and language == "auto":  # a recording is read by its own markers
        plans = {k: dataclasses.replace(plan, style="auto") for k, plan in plans.items()}
    get_run_logger().info("formal language per problem kind: %s",
                          ", ".join(f"{k}: {p.style} (prompt {p.prompt})" for k, p in sorted(plans.items())))
    if temperature is None:
        temperature = 0.0 if samples == 1 else 0.8
    results, usage = run_llm_problems(
        problems, parser=parser, model=model, api_base=api_base, plans=plans, samples=samples,
        repair_rounds=repair_rounds, temperature=temperature, solver=solver, limits=limits, concurrency=concurrency,
        cache_dir=cache_dir, fallback=fallback, llm_timeout_s=llm_timeout_s, progress=_progress_hook)
    return results, usage, model


def _publish(summary: Summary, results: list[ProblemResult], results_path: str | None, summary_path: str | None) -> None:
    create_markdown_artifact(key="batch-summary", markdown=summary_markdown(summary), description="accuracy, execution rate, cost")
    create_table_artifact(key="batch-results", table=results_table(results), description="one row per problem")
    title, groups = chart_series(results)
    create_image_artifact(image_url=data_url(svg_bar_chart(title, groups)), key="batch-chart", description=title)
    if results_path:
        path = Path(results_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as fh:
            for r in results:
                fh.write(r.model_dump_json() + "\n")
    if summary_path:
        path = Path(summary_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")


def _ui_link(run_id: str | None) -> str | None:
    from prefect.settings import PREFECT_API_URL

    from .server import ui_url

    api = PREFECT_API_URL.value()
    return ui_url(api, run_id) if api and run_id else None


def _flow_run_id() -> str | None:
    ctx = get_run_context()
    run = getattr(ctx, "flow_run", None)
    return str(run.id) if run else None


# Runs started by a deployment use this bounded pool (the CLI passes its own --concurrency).
_DEFAULT_RUNNER = ThreadPoolTaskRunner(max_workers=max(8, (os.cpu_count() or 2) + 2))


def _batch_run_name() -> str:
    from prefect.runtime import flow_run

    p = flow_run.parameters
    return f"batch {p.get('dataset_name') or Path(str(p.get('path', ''))).name} [{p.get('parser', 'gold')}]"


@flow(name="batch", flow_run_name=_batch_run_name, validate_parameters=True, task_runner=_DEFAULT_RUNNER)
def batch(
    path: str,
    format: str = "auto",
    parser: str = "gold",
    solver: str | None = None,
    samples: int = 1,
    repair_rounds: int = 0,
    limit: int | None = None,
    timeout_s: float | None = None,
    results_path: str | None = None,
    summary_path: str | None = None,
    dataset_name: str = "",
    concurrency: int | None = None,
    chunk_size: int | None = None,
    model: str | None = None,
    api_base: str | None = None,
    prompt: str | None = None,
    temperature: float | None = None,
    fallback: str = "none",
    llm_timeout_s: float = 120.0,
    language: str = "auto",
) -> BatchReport:
    """Decide every problem of a dataset; results per problem and a summary as artifacts and files."""
    settings = get_settings()
    t0 = time.perf_counter()
    solver = solver or DEFAULT_SOLVER[parser]
    limits = _limits(settings, timeout_s)
    problems = load_problems(path, format, limit)
    get_run_logger().info("%d problems from %s (parser %s, solver %s)", len(problems), path, parser, solver)
    concurrency = concurrency or settings.concurrency
    usage = None
    if parser in ("llm", "replay"):
        results, usage, model = _run_llm(problems, path, format, parser, model, api_base, prompt, samples, repair_rounds,
                                         temperature, solver, limits, concurrency, str(settings.cache_dir), fallback,
                                         llm_timeout_s, language)
    else:
        results = _run_chunks(problems, parser, solver, limits, concurrency,
                              chunk_size if chunk_size is not None else settings.chunk_size, str(settings.cache_dir), _progress_hook)
    run_id = _flow_run_id()
    summary = summarize(results, time.perf_counter() - t0, dataset=dataset_name or Path(path).name, parser=parser,
                        solver=solver, flow_run_id=run_id, model=model or "", ui_url=_ui_link(run_id))
    if usage is not None:
        summary = summary.model_copy(update={
            "llm_calls": usage.llm_calls, "llm_cached": usage.llm_cached, "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens, "cost_usd": round(usage.cost_usd, 6),
            "samples_total": sum(r.samples for r in results),
            "samples_failed": sum(r.samples - sum(r.votes.values()) for r in results),
        })
    _publish(summary, results, results_path, summary_path)
    return BatchReport(summary=summary, results=results)


@flow(name="reason", flow_run_name="reason {problem_id}", validate_parameters=True, task_runner=_DEFAULT_RUNNER)
def reason(premises: list[str], conclusion: str, parser: str = "gold", solver: str | None = None,
           timeout_s: float | None = None, problem_id: str = "cli") -> ProblemResult:
    """Decide one problem: premises and conclusion as formulas (parser gold) or sentences (english)."""
    from .models import Formal

    settings = get_settings()
    solver = solver or DEFAULT_SOLVER[parser]
    limits = _limits(settings, timeout_s)
    formal = Formal(premises=premises, conclusion=conclusion) if parser == "gold" else None
    problem = Problem(id=problem_id, premises=premises, conclusion=conclusion, formal=formal)
    f = formalize_task.submit([problem], parser, label=problem_id)
    c = check_task.submit(f, label=problem_id)
    s = solve_task.submit(c, solver, limits, str(settings.cache_dir), label=problem_id)
    (result,) = vote_task.submit([problem], c, s, label=problem_id).result()
    create_markdown_artifact(key="reason-verdict", markdown=f"**{result.status}** ({result.solver})\n\n{result.reason}\n")
    return result


def _quiet_heartbeat():
    """Sync flows pay ~1 s for the heartbeat thread (DESIGN.md §9); a CLI run doesn't need it."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


def task_runner_for(kind: str, concurrency: int, extra: int = 0, dask_address: str | None = None):
    """``threads`` (default): a bounded pool in this process. ``dask``: prefect-dask's runner on the
    cluster at ``dask_address``, or a LocalCluster of worker processes (one per core)."""
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=concurrency + extra)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        workers = max(1, min(concurrency, os.cpu_count() or 2))
        threads = max(1, -(-(concurrency + extra) // workers))
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": threads, "processes": True,
                                              "dashboard_address": None})
    raise ValueError(f"unknown task runner {kind!r}; choose threads or dask")


def run_batch(concurrency: int | None = None, progress: ProgressFn | None = None, task_runner: str = "threads",
              dask_address: str | None = None, **params) -> BatchReport:
    """Run the batch flow in this process. LLM parsers keep ``concurrency`` calls in flight
    themselves and get two more workers for check/solve chunks."""
    concurrency = concurrency or get_settings().concurrency
    set_progress_hook(progress)
    extra = 2 if params.get("parser") in ("llm", "replay") else 0
    if extra:  # litellm's import (~3 s) overlaps the API calls that create the flow run
        import threading

        threading.Thread(target=lambda: __import__("litellm"), daemon=True).start()
    try:
        with _quiet_heartbeat():
            runner = task_runner_for(task_runner, concurrency, extra, dask_address)
            return batch.with_options(task_runner=runner)(concurrency=concurrency, **params)
    finally:
        set_progress_hook(None)


def run_reason(**params) -> ProblemResult:
    with _quiet_heartbeat():
        return reason(**params)


def drain(timeout: float = 30) -> None:
    """Ship queued events and logs now, so the server has the whole run when the CLI exits
    (otherwise Prefect drains at interpreter exit and warns about pending items)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout)
    EventsWorker.drain_all(timeout=timeout)
