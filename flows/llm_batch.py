"""LLM semantic parsing over a dataset: K samples per problem, bounded repair, majority vote.

Round-synchronous: every pending (problem, sample) gets its LLM call (one task run each, bounded
by the task runner's workers), then the round's formalizations are checked and solved in chunk
tasks, then the samples whose formalization failed get a repair prompt carrying the located
errors, up to ``repair_rounds``. A sample keeps its best attempt: a repair is only ever asked
for a failed attempt, so a decided answer is never replaced by an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prefect import get_run_logger
from prefect.futures import as_completed

import prompts
from parsers.english import split_sentences
from parsers.errors import LocatedError, locate
from solvers import Limits

from .languages import Plan
from .llm import LLMRequest, LLMResponse
from .models import Checked, Formalization, Problem, ProblemResult, Verdict
from .pipeline import (DECIDED, answers_match, ballot, chunk_label, closed_world, formalize_output, predicted_of, unusable,
                       vote)
from .tasks import check_task, llm_cache_key, llm_task, solve_task

__all__ = ["run_llm_problems", "initial_messages", "repair_messages", "Usage"]

REPAIRABLE_STAGES = {"parse", "signature", "solve"}


def initial_messages(problem: Problem, prompt: str) -> list[dict[str, str]]:
    premises = list(problem.premises) or split_sentences(problem.context or "")
    content = prompts.render(prompt, premises=premises, conclusion=problem.conclusion or "", context=problem.context or
                             " ".join(problem.premises), question=problem.question or "", options=list(problem.options or []))
    return [{"role": "user", "content": content}]


def repair_messages(messages: list[dict[str, str]], last_output: str, errors: list[LocatedError]) -> list[dict[str, str]]:
    """The conversation so far, the model's last answer, then the located errors (a new list)."""
    note = prompts.render("repair", errors=[e.render() for e in errors[:5]])
    return [*messages, {"role": "assistant", "content": last_output}, {"role": "user", "content": note}]


@dataclass
class Attempt:
    round: int
    output: str
    checked: Checked
    verdict: Verdict


@dataclass
class SampleState:
    problem: Problem
    sample: int
    messages: list[dict[str, str]]
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.problem.id}::s{self.sample}"

    def best(self) -> Attempt | None:
        for wanted in (DECIDED, {"undetermined"}):
            for a in self.attempts:
                if a.verdict.status in wanted:
                    return a
        return self.attempts[-1] if self.attempts else None


@dataclass
class Usage:
    llm_calls: int = 0
    llm_cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


def run_llm_problems(
    problems: list[Problem], *, parser: str, model: str, api_base: str | None, plans: dict[str, Plan], samples: int,
    repair_rounds: int, temperature: float, solver: str, limits: Limits, concurrency: int, cache_dir: str | None,
    fallback: str, llm_timeout_s: float, progress=None,
) -> tuple[list[ProblemResult], Usage]:
    """``plans``: per problem kind, the prompt to ask with and the output format to read."""
    logger = get_run_logger()
    usage = Usage()
    results: dict[str, ProblemResult] = {}
    states: list[SampleState] = []
    for p in problems:
        err = unusable(p, parser)
        if err is not None:
            results[p.id] = ProblemResult(id=p.id, gold=p.answer, predicted=None, status="error", solver=solver,
                                          samples=0, error=err.render())
            continue
        k = min(samples, len(p.recorded)) if parser == "replay" else samples
        first = initial_messages(p, plans[p.kind].prompt)  # one rendering per problem; samples differ by seed
        states += [SampleState(p, s, list(first)) for s in range(k)]

    pending = list(states)
    planned, done = len(pending), 0
    chunk = max(1, min(25, math.ceil(len(states) / (4 * concurrency)))) if states else 1
    for rnd in range(repair_rounds + 1):
        if not pending:
            break
        requests = [(st, LLMRequest(problem_id=st.problem.id, model=model, api_base=api_base, messages=st.messages,
                                    temperature=temperature, seed=st.sample if samples > 1 else None, sample=st.sample,
                                    round=rnd, prompt_version=prompts.version(plans[st.problem.kind].prompt),
                                    timeout_s=llm_timeout_s)) for st in pending]
        outputs: dict[str, str] = {}
        solving: list = []  # (check future, solve future) per chunk, submitted while calls are in flight
        close_free = rnd == repair_rounds
        # Chunks are fixed by request order, not by the order calls finish, so a rerun forms the same
        # chunks and its check/solve task runs are Cached; a chunk is submitted once all its calls are in.
        position = {id(st): i for i, (st, _) in enumerate(requests)}
        slots: dict[int, dict[int, Formalization]] = {}

        def add(st: SampleState, form: Formalization) -> None:
            i = position[id(st)]
            c = i // chunk
            slot = slots.setdefault(c, {})
            slot[i] = form
            if len(slot) == min(chunk, len(requests) - c * chunk):
                solving.append(_submit_chunk([slot[k] for k in sorted(slot)], solver, limits, cache_dir, close_free))

        for st, fut, cached in _windowed(requests, concurrency):
            sid = f"{st.key}::r{rnd}"
            try:
                resp = cached or fut.result()
            except Exception as exc:  # retries exhausted or not retryable: this sample fails, the batch goes on
                msg = f"LLM call failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                add(st, Formalization(problem_id=sid, source=parser, errors=[locate("formalize", msg)]))
                outputs[st.key] = ""
            else:
                if cached is not None or fut.state.name == "Cached":
                    usage.llm_cached += 1
                else:
                    usage.llm_calls += 1
                    usage.prompt_tokens += resp.prompt_tokens
                    usage.completion_tokens += resp.completion_tokens
                    usage.cost_usd += resp.cost_usd
                add(st, formalize_output(st.problem, resp.text, plans[st.problem.kind].style, sid, parser))
                outputs[st.key] = resp.text
            done += 1
            if progress:
                progress(done, planned)
        verdicts = {}
        for c_fut, s_fut in solving:
            for checked, verdict in zip(c_fut.result(), s_fut.result()):
                verdicts[checked.problem_id] = (checked, verdict)
        nxt = []
        for st in pending:
            checked, verdict = verdicts[f"{st.key}::r{rnd}"]
            st.attempts.append(Attempt(rnd, outputs[st.key], checked, verdict))
            errors = verdict.errors or checked.errors
            # a puzzle's constraints are consistent, so contradictory ones are a mistranslation
            retry = {"error", "contradictory"} if st.problem.kind == "choice" else {"error"}
            repairable = verdict.status in retry and errors and all(e.stage in REPAIRABLE_STAGES for e in errors)
            if repairable and rnd < repair_rounds:
                st.messages = repair_messages(st.messages, outputs[st.key], errors)
                nxt.append(st)
        if nxt:
            logger.info("round %d: %d of %d samples failed and get a repair prompt", rnd, len(nxt), len(pending))
        planned += len(nxt)
        pending = nxt

    by_problem: dict[str, list[SampleState]] = {}
    for st in states:
        by_problem.setdefault(st.problem.id, []).append(st)
    for pid, sts in by_problem.items():
        results[pid] = _result(sts, solver, fallback)
    return [results[p.id] for p in problems], usage


def _windowed(requests, window: int):
    """Yield (state, finished future, None) — or (state, None, cached response) — keeping at most
    ``window`` LLM calls in flight, so check/solve chunks submitted meanwhile run beside the calls.

    A call already made is read from Prefect's result store under the key the ``llm`` task writes,
    without a task run: the server records ~15 task runs a second (DESIGN.md §9), so a rerun of
    500 cached calls as task runs would take it half a minute to record."""
    store = _llm_result_store()
    todo = list(requests)
    inflight: dict[int, tuple] = {}
    while todo or inflight:
        while todo and len(inflight) < window:
            st, req = todo.pop(0)
            cached = _cached_response(store, req)
            if cached is not None:
                yield st, None, cached
                continue
            fut = llm_task.submit(req)
            inflight[id(fut)] = (st, fut)
        if not inflight:
            continue
        # the first call to finish, whatever the task runner (threads or Dask)
        first = next(as_completed([fut for _, fut in inflight.values()]))
        st, fut = inflight.pop(id(first))
        yield st, fut, None


def _llm_result_store():
    from prefect.results import get_result_store

    try:
        return get_result_store().update_for_task(llm_task)
    except Exception:  # no usable store: every call goes through the task (which caches itself)
        return None


def _cached_response(store, req: LLMRequest) -> LLMResponse | None:
    if store is None:
        return None
    key = llm_cache_key(req)
    try:
        if not store.exists(key):
            return None
        value = store.read(key).result
    except Exception:
        return None
    return value if isinstance(value, LLMResponse) else None


def _submit_chunk(forms: list[Formalization], solver: str, limits: Limits, cache_dir: str | None, close_free: bool):
    label = chunk_label([f.problem_id for f in forms])
    c = check_task.submit(forms, label=label, close_free=close_free)
    return c, solve_task.submit(c, solver, limits, cache_dir, label=label)


def _result(states: list[SampleState], solver: str, fallback: str) -> ProblemResult:
    problem = states[0].problem
    best = [s.best() for s in states]
    verdicts = [a.verdict for a in best if a is not None]
    status, chosen = vote(verdicts)
    predicted, cw_notes = closed_world(problem, predicted_of(status, chosen, problem.kind))
    reason = chosen.reason
    if predicted is None and fallback == "unknown":
        predicted, reason = "Unknown", f"every sample failed; reported Unknown (--fallback unknown). Last: {chosen.reason}"
    errors = [e for a in best if a is not None for e in (a.verdict.errors or a.checked.errors)]
    round_errors = []
    for s in states:
        for a in s.attempts:
            errs = a.verdict.errors or a.checked.errors
            if a.verdict.status == "error" and errs:
                round_errors.append(f"sample {s.sample} round {a.round}: {errs[0].render().splitlines()[0]}")
    notes = next((a.checked.notes for a in best if a is not None and a.verdict is chosen), []) + cw_notes
    correct = answers_match(problem, predicted)
    decided_votes = [ballot(v) for v in verdicts if v.status in DECIDED]
    return ProblemResult(
        id=problem.id, gold=problem.answer, predicted=predicted, status=status,
        solver=chosen.solver, samples=len(states), repair_rounds=max((len(s.attempts) - 1 for s in states), default=0),
        error=errors[-1].render() if errors else None, correct=correct, reason=reason, notes=list(notes),
        disagreement=chosen.disagreement, used_premises=chosen.used_premises, explanation=chosen.explanation,
        per_backend=chosen.per_backend, per_option=chosen.per_option, round_errors=round_errors,
        language=next((a.checked.language for a in best if a is not None), "fol"),
        votes=dict(sorted({s: decided_votes.count(s) for s in set(decided_votes)}.items())),
        mismatch="" if correct or problem.answer is None else
        f"predicted {predicted or status} (votes {decided_votes or 'none'}), label {problem.answer}: {reason}",
    )
