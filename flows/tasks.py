"""Prefect tasks over chunks of problems. Cheap deterministic stages run a chunk per task run
(the server records ~15 task runs a second; solving a FOLIO problem takes ~25 ms), with the
per-problem cache inside. Cache keys: the task, its inputs, the code version."""

from __future__ import annotations

import traceback
from prefect import get_run_logger, task

from parsers.errors import locate
from solvers import Limits, Status

from . import pipeline
from .cache import ProblemCache, code_version, stable_hash
from .llm import LLMRequest, LLMResponse, call_llm
from .models import Checked, Formalization, Problem, ProblemResult, Verdict

__all__ = ["formalize_task", "check_task", "solve_task", "vote_task", "llm_task", "llm_cache_key"]


def _cache_key(context, parameters: dict) -> str:
    inputs = {k: v for k, v in parameters.items() if k != "label"}
    return stable_hash(context.task.name, code_version(), inputs)


_TASK_DEFAULTS = dict(cache_key_fn=_cache_key, persist_result=True, retries=0)


@task(name="formalize", task_run_name="formalize[{label}]", **_TASK_DEFAULTS)
def formalize_task(problems: list[Problem], parser: str, label: str = "") -> list[Formalization]:
    return [pipeline.formalize(p, parser) for p in problems]


@task(name="check", task_run_name="check[{label}]", **_TASK_DEFAULTS)
def check_task(forms: list[Formalization], label: str = "", close_free: bool = False) -> list[Checked]:
    out = []
    for f in forms:
        try:
            out.append(pipeline.check(f, close_free=close_free))
        except Exception as exc:  # a bug must not lose the batch: report it on this problem
            out.append(Checked(problem_id=f.problem_id, ok=False, errors=[locate("parse", f"internal error: {exc!r}")]))
    return out


@task(name="solve", task_run_name="solve[{label}]", **_TASK_DEFAULTS)
def solve_task(checked: list[Checked], solver: str, limits: Limits, cache_dir: str | None = None, label: str = "") -> list[Verdict]:
    logger = get_run_logger()
    cache = ProblemCache(cache_dir) if cache_dir else None
    out, lines = [], []
    for c in checked:
        try:
            v = pipeline.solve(c, solver, limits, cache)
        except Exception as exc:
            logger.error("%s: internal error\n%s", c.problem_id, traceback.format_exc(limit=3))
            v = Verdict(problem_id=c.problem_id, status=Status.UNDETERMINED.value, solver=solver, reason=f"internal error: {exc!r}")
        out.append(v)
        if c.ok and c.language == "fol":
            lines.append(f"{c.problem_id} → {v.status} ({v.solver})\n  premises: {' ; '.join(c.premises)}\n"
                         f"  conclusion: {c.conclusion}\n  {v.reason}")
        elif c.ok:
            answer = f"{v.answer} " if v.answer else ""
            lines.append(f"{c.problem_id} → {answer}{v.status} ({c.language} → {v.solver})\n  {v.reason}")
        else:
            lines.append(f"{c.problem_id} → error: {v.reason}")
    # One record per chunk: the formal text and verdict of every problem, without a log call each.
    logger.info("solved %d problems\n%s", len(out), "\n".join(lines))
    return out


@task(name="vote", task_run_name="vote[{label}]", **_TASK_DEFAULTS)
def vote_task(problems: list[Problem], checked: list[Checked], verdicts: list[Verdict], label: str = "") -> list[ProblemResult]:
    return [pipeline.to_result(p, c, [v]) for p, c, v in zip(problems, checked, verdicts)]


def llm_cache_key(req: LLMRequest) -> str:
    """Model, API base, prompt version, messages, temperature, seed, sample and round — not the
    code version (a completion does not depend on our code), not the timeout, never a key."""
    return stable_hash("llm", req.model_dump(exclude={"timeout_s"}))


def _llm_key(context, parameters: dict) -> str:
    return llm_cache_key(parameters["request"])


def _retry_transient(task, task_run, state) -> bool:
    from .llm import is_transient

    try:
        exc = state.result(raise_on_failure=False)
    except Exception as err:  # the state could not give its exception back: judge what it raised
        exc = err
    return isinstance(exc, BaseException) and is_transient(exc)


@task(name="llm", task_run_name="llm[{request.problem_id} s{request.sample} r{request.round}]",
      cache_key_fn=_llm_key, persist_result=True, retries=3, retry_delay_seconds=[1, 4, 10],
      retry_condition_fn=_retry_transient)
def llm_task(request: LLMRequest) -> LLMResponse:
    """One completion: its own task run, cached with persisted results; transient failures retried."""
    return call_llm(request)
