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
from parsers.llm_output import extract
from solvers import Limits

from .llm import LLMRequest
from .models import Checked, Formalization, Problem, ProblemResult, Verdict
from .pipeline import DECIDED, vote
from .tasks import check_task, llm_task, solve_task

__all__ = ["run_llm_problems", "initial_messages", "repair_messages", "Usage"]

REPAIRABLE_STAGES = {"parse", "signature", "solve"}


def initial_messages(problem: Problem, prompt: str) -> list[dict[str, str]]:
    premises = list(problem.premises) or split_sentences(problem.context or "")
    return [{"role": "user", "content": prompts.render(prompt, premises=premises, conclusion=problem.conclusion or "")}]


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


def _problem_error(problem: Problem, parser: str) -> str | None:
    if problem.load_error:
        return problem.load_error
    if problem.kind != "entailment":
        return f"the {parser} parser decides entailment problems, not {problem.kind!r} ones"
    if not problem.conclusion or not (problem.premises or problem.context):
        return "the problem has no premises or no conclusion"
    if parser == "replay" and not problem.recorded:
        return "no recorded completion for this problem"
    return None


def run_llm_problems(
    problems: list[Problem], *, parser: str, model: str, api_base: str | None, prompt: str, style: str, samples: int,
    repair_rounds: int, temperature: float, solver: str, limits: Limits, concurrency: int, cache_dir: str | None,
    fallback: str, llm_timeout_s: float, progress=None,
) -> tuple[list[ProblemResult], Usage]:
    logger = get_run_logger()
    usage = Usage()
    results: dict[str, ProblemResult] = {}
    states: list[SampleState] = []
    for p in problems:
        why = _problem_error(p, parser)
        if why:
            err = locate("formalize", why, where="input record")
            results[p.id] = ProblemResult(id=p.id, gold=p.answer, predicted=None, status="error", solver=solver,
                                          samples=0, error=err.render())
            continue
        k = min(samples, len(p.recorded)) if parser == "replay" else samples
        states += [SampleState(p, s, initial_messages(p, prompt)) for s in range(k)]

    version = prompts.version(prompt)
    pending = list(states)
    planned, done = len(pending), 0
    for rnd in range(repair_rounds + 1):
        if not pending:
            break
        futures = {}
        for st in pending:
            req = LLMRequest(problem_id=st.problem.id, model=model, api_base=api_base, messages=st.messages,
                             temperature=temperature, seed=st.sample if samples > 1 else None, sample=st.sample,
                             round=rnd, prompt_version=version, timeout_s=llm_timeout_s)
            futures[llm_task.submit(req)] = st
        forms: dict[str, Formalization] = {}
        outputs: dict[str, str] = {}
        for fut in as_completed(list(futures)):
            st = futures[fut]
            sid = f"{st.key}::r{rnd}"
            try:
                resp = fut.result()
            except Exception as exc:  # retries exhausted or not retryable: this sample fails, the batch goes on
                msg = f"LLM call failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                forms[st.key] = Formalization(problem_id=sid, source=parser, errors=[locate("formalize", msg)])
                outputs[st.key] = ""
            else:
                if fut.state.name == "Cached":
                    usage.llm_cached += 1
                else:
                    usage.llm_calls += 1
                    usage.prompt_tokens += resp.prompt_tokens
                    usage.completion_tokens += resp.completion_tokens
                    usage.cost_usd += resp.cost_usd
                ex = extract(resp.text, style)
                forms[st.key] = Formalization(problem_id=sid, source=parser, premises=ex.premises, conclusion=ex.conclusion,
                                              errors=ex.errors)
                outputs[st.key] = resp.text
            done += 1
            if progress:
                progress(done, planned)
        verdicts = _check_and_solve([forms[st.key] for st in pending], solver, limits, concurrency, cache_dir,
                                    close_free=rnd == repair_rounds)
        nxt = []
        for st in pending:
            checked, verdict = verdicts[f"{st.key}::r{rnd}"]
            st.attempts.append(Attempt(rnd, outputs[st.key], checked, verdict))
            errors = verdict.errors or checked.errors
            repairable = verdict.status == "error" and errors and all(e.stage in REPAIRABLE_STAGES for e in errors)
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


def _check_and_solve(forms: list[Formalization], solver: str, limits: Limits, concurrency: int, cache_dir: str | None,
                     close_free: bool) -> dict[str, tuple[Checked, Verdict]]:
    size = max(1, min(50, math.ceil(len(forms) / (2 * concurrency))))
    chunks = [forms[i : i + size] for i in range(0, len(forms), size)]
    labels = [f"{c[0].problem_id}..{c[-1].problem_id}" if len(c) > 1 else c[0].problem_id for c in chunks]
    checks = [check_task.submit(c, label=lb, close_free=close_free) for c, lb in zip(chunks, labels)]
    solves = [solve_task.submit(c, solver, limits, cache_dir, label=lb) for c, lb in zip(checks, labels)]
    out = {}
    for c_fut, s_fut in zip(checks, solves):
        for checked, verdict in zip(c_fut.result(), s_fut.result()):
            out[checked.problem_id] = (checked, verdict)
    return out


def _result(states: list[SampleState], solver: str, fallback: str) -> ProblemResult:
    problem = states[0].problem
    best = [s.best() for s in states]
    verdicts = [a.verdict for a in best if a is not None]
    status, chosen = vote(verdicts)
    predicted = status if status in DECIDED else None
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
    notes = next((a.checked.notes for a in best if a is not None and a.verdict is chosen), [])
    correct = predicted is not None and predicted == problem.answer
    decided_votes = [v.status for v in verdicts if v.status in DECIDED]
    return ProblemResult(
        id=problem.id, gold=problem.answer, predicted=predicted, status=status,
        solver=chosen.solver, samples=len(states), repair_rounds=max((len(s.attempts) - 1 for s in states), default=0),
        error=errors[-1].render() if errors else None, correct=correct, reason=reason, notes=list(notes),
        disagreement=chosen.disagreement, used_premises=chosen.used_premises, explanation=chosen.explanation,
        per_backend=chosen.per_backend, round_errors=round_errors,
        votes=dict(sorted({s: decided_votes.count(s) for s in set(decided_votes)}.items())),
        mismatch="" if correct or problem.answer is None else
        f"predicted {predicted or status} (votes {decided_votes or 'none'}), label {problem.answer}: {reason}",
    )
