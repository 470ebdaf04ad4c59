"""The Prefect task of a batch: one task run per chunk of problems, named by its first and last
problem, whose log shows every problem and its stages.

The engine (``flows.engine.core``) does the work; a chunk's task run waits for its problems (computing
them itself where no engine runs yet — a Dask worker, a deployment's first chunk) and records
them. A task run per LLM call cost ~16 ms of orchestration and turned a 1,820-call replay into
1,966 unreadable slivers; per chunk it is a few dozen runs whatever the number of calls.

No Prefect result persistence and no Prefect cache (``NO_CACHE``, ``persist_result=False``):
results are kept by our own store as validated JSON (``flows.store``), never as pickles. A chunk
whose problems were all read back from the store ends in a ``Cached`` state.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed

from flows.engine.runs import engine_for
from flows.models import Problem, ProblemRecord, RunConfig

__all__ = ["problems_task", "chunk_label", "describe"]


def chunk_label(ids: list[str]) -> str:
    """Task-run label of a chunk: its first and last problem ids."""
    return ids[0] if len(ids) == 1 else f"{ids[0]}..{ids[-1]}"


def describe(record: ProblemRecord) -> str:
    """One problem's lines in its chunk's log: the answer, then each stage."""
    r = record.result
    head = f"{r.id} → {r.predicted or r.status}" + (f" (label {r.gold})" if r.gold is not None else "")
    if record.cached:
        head += " [from the store]"
    lines = [head] + [f"  {stage}: {text}" for stage, text in r.stages.items()]
    u = record.usage
    if u.calls or u.cached or u.failed:
        lines.append(f"  llm: {u.calls} calls, {u.cached} cached, {u.failed} failed, "
                     f"{u.prompt_tokens}+{u.completion_tokens} tokens, ${u.cost_usd:.4f}")
    if r.error and r.status == "error":
        lines.append("  error: " + r.error.replace("\n", "\n  "))
    return "\n".join(lines)


LOG_PROBLEMS = 50
"""Problems per log entry of a chunk (a chunk the store answers whole holds up to 500)."""


@task(name="problems", task_run_name="problems[{label}]", cache_policy=NO_CACHE, persist_result=False, retries=0)
def problems_task(problems: list[Problem], cfg: RunConfig, label: str = ""):
    engine = engine_for(cfg, problems=problems)
    engine.submit(problems)
    records = engine.records([p.id for p in problems])
    engine.release([p.id for p in problems])  # taken: the engine holds its window, not the batch
    logger = get_run_logger()
    for i in range(0, len(records), LOG_PROBLEMS):  # a log over Prefect's size limit (1 MB) would be dropped
        part = records[i:i + LOG_PROBLEMS]
        head = f"{len(records)} problems" if len(records) <= LOG_PROBLEMS else f"problems {i + 1}-{i + len(part)} of {len(records)}"
        logger.info("%s\n%s", head, "\n".join(describe(r) for r in part))
    if records and all(r.cached for r in records):
        return Completed(data=records, name="Cached", message=f"all {len(records)} problems read back from the store")
    return records
