"""One problem through an LLM: K samples, each formalized, checked and solved, repaired on a
located error, then a majority vote.

Plain asyncio, no Prefect: ``flows.engine.core`` runs many of these at once on one event loop, the
LLM calls bounded by the client, checking and solving in the engine's thread pool. A sample
keeps its best attempt: a repair is only ever asked for a failed attempt, so a decided answer
is never replaced by an error. Each completion is stored under its own key (model, API base,
prompt version, messages, temperature, seed, sample, round), so a rerun asks for nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import prompts
from parsers.english import split_sentences
from parsers.errors import LocatedError, locate
from parsers.llm_output import too_long

from flows.engine.pipeline import (DECIDED, answers_match, ballot, closed_world, formalize_output, predicted_of, settled,
                                   unusable, vote)
from flows.llm.clients import LLMCallError, LLMClient, LLMRequest, LLMResponse
from flows.models import Checked, Formalization, Plan, Problem, ProblemRecord, ProblemResult, RunConfig, Usage, Verdict
from flows.store import Store, stable_hash

__all__ = ["converse", "initial_messages", "repair_messages", "llm_cache_key", "REPAIRABLE_STAGES"]

REPAIRABLE_STAGES = {"parse", "signature", "solve", "check"}
CheckAndSolve = Callable[[Formalization, bool, float], Awaitable[tuple[Checked, Verdict]]]
"""(formalization, close free variables, the attempt's deadline on ``time.monotonic()``) → checked, verdict."""
Confirm = Callable[[Formalization, Checked, Verdict], Awaitable[Verdict]]


def initial_messages(problem: Problem, prompt: str) -> list[dict[str, str]]:
    premises = list(problem.premises) or split_sentences(problem.context or "")
    formal = problem.formal
    lean = formal is not None and formal.language == "lean"
    core_less = False
    if lean:  # the prompt says what the Lean that will check the proof can do
        from solvers.lean import toolchain

        chain = toolchain()
        core_less = chain is not None and chain.core_less
    content = prompts.render(prompt, premises=premises, conclusion=problem.conclusion or "", context=problem.context or
                             " ".join(problem.premises), question=problem.question or "", options=list(problem.options or []),
                             statement=formal.conclusion if lean else "", header=formal.header if lean else "",
                             core_less=core_less)
    return [{"role": "user", "content": content}]


def repair_messages(messages: list[dict[str, str]], last_output: str, errors: list[LocatedError]) -> list[dict[str, str]]:
    """The conversation so far, the model's last answer, then the located errors (a new list)."""
    note = prompts.render("repair", errors=[e.render() for e in errors[:5]])
    return [*messages, {"role": "assistant", "content": last_output}, {"role": "user", "content": note}]


def llm_cache_key(req: LLMRequest) -> str:
    """Model, API base, prompt version, messages, temperature, seed, sample and round — not the
    code version (a completion does not depend on our code), not the timeout, never a key."""
    return stable_hash("llm", req.model_dump(exclude={"timeout_s"}))


@dataclass
class Attempt:
    round: int
    output: str
    checked: Checked
    verdict: Verdict
    form: Formalization | None = None


@dataclass
class Sample:
    problem: Problem
    index: int
    messages: list[dict[str, str]]
    attempts: list[Attempt] = field(default_factory=list)
    call_failed: bool = False
    """An LLM call failed: the record is never final (below)."""

    def best(self) -> Attempt | None:
        for wanted in (DECIDED, {"undetermined"}, {"rejected"}):
            for a in self.attempts:
                if a.verdict.status in wanted:
                    return a
        return self.attempts[-1] if self.attempts else None


async def _complete(req: LLMRequest, client: LLMClient, store: Store, usage: Usage) -> LLMResponse:
    key = llm_cache_key(req) if client.cacheable else None
    if key is not None:
        hit = store.get("llm", key, LLMResponse)
        if hit is not None:
            usage.cached += 1
            return hit
    resp = await client.complete(req)
    usage.calls += 1
    usage.prompt_tokens += resp.prompt_tokens
    usage.completion_tokens += resp.completion_tokens
    usage.cost_usd += resp.cost_usd
    if key is not None:
        store.put("llm", key, resp)
    return resp


class Budget:
    """A problem's ``--problem-timeout``: seconds its attempts may spend reading and solving, in all
    (time waiting for the model is not counted: it is the endpoint's, bounded by ``--llm-timeout``)."""

    def __init__(self, seconds: float):
        self.seconds, self.spent = seconds, 0.0

    def left(self) -> float:
        return self.seconds - self.spent

    def spend(self, seconds: float) -> None:
        self.spent += seconds


def _out_of_budget(sid: str, cfg: RunConfig, rnd: int) -> Attempt:
    why = (f"the problem's --problem-timeout ({cfg.problem_timeout_s:g} s) was spent by its earlier samples and "
           "rounds; this attempt was not read or solved")
    err = locate("solve", why, hint="raise --problem-timeout, or use fewer samples or repair rounds")
    checked = Checked(problem_id=sid, ok=False, errors=[err])
    return Attempt(rnd, "", checked, Verdict(problem_id=sid, status="undetermined", solver=cfg.solver, errors=[err],
                                           reason=why))


async def _run_sample(st: Sample, cfg: RunConfig, client: LLMClient, store: Store, usage: Usage,
                      check_and_solve: CheckAndSolve, budget: Budget) -> None:
    plan = cfg.plans[st.problem.kind]
    for rnd in range(cfg.repair_rounds + 1):
        sid = f"{st.problem.id}::s{st.index}::r{rnd}"
        req = LLMRequest(problem_id=st.problem.id, model=cfg.model, api_base=cfg.api_base, messages=st.messages,
                         temperature=cfg.temperature, seed=st.index if cfg.samples > 1 else None, sample=st.index,
                         round=rnd, prompt_version=prompts.version(plan.prompt), timeout_s=cfg.llm_timeout_s,
                         max_tokens=cfg.max_tokens)
        try:
            resp = await _complete(req, client, store, usage)
        except LLMCallError as exc:  # retries exhausted or not retryable: this sample fails, the batch goes on
            usage.failed += 1
            # Never a final answer, transient or not: what failed it (the endpoint down, the network, a key,
            # a rate limit, the model missing on a local server) is in no key, and a rerun after the fix
            # must ask again instead of reading this failure back from the store.
            st.call_failed = True
            err = locate("formalize", f"LLM call failed: {exc.message}")
            form = Formalization(problem_id=sid, source=cfg.parser, errors=[err])
            checked = Checked(problem_id=sid, ok=False, errors=[err])
            st.attempts.append(Attempt(rnd, "", checked, Verdict(problem_id=sid, status="error", solver=cfg.solver,
                                                                 errors=[err], reason=err.message)))
            return
        # The attempt's budget starts before reading: reading is work on the problem as solving is
        # (the readers are linear and refuse outputs over MAX_OUTPUT_CHARS; they run in the pool,
        # never on the event loop that keeps every other problem's calls going). It is what the
        # problem's earlier attempts left of --problem-timeout: the bound is the problem's, across
        # samples and rounds, not each attempt's (10 samples x 3 rounds would be 40 budgets).
        left = budget.left()
        if left <= 0:
            st.attempts.append(_out_of_budget(sid, cfg, rnd))
            return
        started = time.monotonic()
        try:
            form = await _read(st.problem, resp, plan, sid, cfg)
            checked, verdict = await check_and_solve(form, rnd == cfg.repair_rounds, started + left)
        finally:
            budget.spend(time.monotonic() - started)
        st.attempts.append(Attempt(rnd, resp.text, checked, verdict, form))
        errors = verdict.errors or checked.errors
        # a failed check (flows.engine.checks: contradictory premises, no single option, …) is a mistranslation
        retry = {"error", "rejected", "contradictory"} if st.problem.kind == "choice" else {"error", "rejected"}
        repairable = verdict.status in retry and errors and all(e.stage in REPAIRABLE_STAGES for e in errors)
        if not repairable or rnd == cfg.repair_rounds:
            return
        st.messages = repair_messages(st.messages, resp.text, errors)


async def _read(problem: Problem, resp: LLMResponse, plan: Plan, sid: str, cfg: RunConfig) -> Formalization:
    if resp.chars:  # cut by the client: refused whole, as the reader refuses a recording this long
        return Formalization(problem_id=sid, source=cfg.parser, errors=[too_long(resp.chars)])
    form = await asyncio.get_running_loop().run_in_executor(
        None, formalize_output, problem, resp.text, plan.style, sid, cfg.parser, plan.expected or None)
    if resp.finish_reason == "length" and cfg.max_tokens:
        form = form.model_copy(update={"notes": [f"the completion stopped at the token limit ({cfg.max_tokens}; "
                                                 "--max-tokens)", *form.notes]})
    return form


async def converse(problem: Problem, cfg: RunConfig, client: LLMClient, store: Store,
                   check_and_solve: CheckAndSolve, confirm: Confirm | None = None) -> ProblemRecord:
    """Every sample of one problem, then the vote. Never raises on model output. ``confirm``
    cross-checks the winner when the samples were decided by the portfolio's first prover only."""
    usage = Usage()
    err = unusable(problem, cfg.parser)
    if err is not None:
        result = ProblemResult(id=problem.id, gold=problem.answer, predicted=None, status="error", solver=cfg.solver,
                               samples=0, error=err.render(), stages={"formalize": f"error: {err.message}"})
        return ProblemRecord(result=result, usage=usage)
    k = min(cfg.samples, len(problem.recorded)) if cfg.parser == "replay" else cfg.samples
    first = initial_messages(problem, cfg.plans[problem.kind].prompt)  # one rendering; samples differ by seed
    samples = [Sample(problem, s, list(first)) for s in range(k)]
    budget = Budget(cfg.problem_timeout_s)
    await asyncio.gather(*(_run_sample(st, cfg, client, store, usage, check_and_solve, budget) for st in samples))
    if confirm is not None:
        await _confirm_winner(samples, confirm)
    result = _result(samples, cfg.solver, cfg.fallback, usage)
    final = not any(st.call_failed for st in samples) and all(settled(a.verdict) for st in samples for a in st.attempts)
    return ProblemRecord(result=result, usage=usage, final=final)


async def _confirm_winner(samples: list[Sample], confirm: Confirm) -> None:
    """Cross-check the formalization that wins the vote; if the cross-check changes its answer,
    vote again and cross-check the new winner. Every sample with the same formalization gets the
    confirmed verdict; the others keep their first prover's."""
    done: dict[tuple, Verdict] = {}
    for _ in range(len(samples) + 1):
        best = [a for a in (s.best() for s in samples) if a is not None]
        if not best:
            return
        _, chosen = vote([a.verdict for a in best])
        if not chosen.pending:
            return
        winner = next(a for a in best if a.verdict is chosen)
        key = (tuple(winner.checked.premises), winner.checked.conclusion)
        if key not in done:
            done[key] = await confirm(winner.form, winner.checked, chosen)
        for s in samples:
            for a in s.attempts:
                if a.verdict.pending and (tuple(a.checked.premises), a.checked.conclusion) == key:
                    a.verdict = done[key].model_copy(update={"problem_id": a.verdict.problem_id, "pending": False})


def _stages(samples: list[Sample], usage: Usage, result: ProblemResult) -> dict[str, str]:
    attempts = [a for s in samples for a in s.attempts]
    calls = usage.calls + usage.cached
    repairs = sum(len(s.attempts) - 1 for s in samples)
    read = sum(1 for a in attempts if a.checked.ok)
    decided = [ballot(a.verdict) for a in attempts if a.verdict.status in DECIDED]
    formalize = f"{len(samples)} sample{'s' * (len(samples) != 1)}, {calls} call{'s' * (calls != 1)}"
    if repairs:
        formalize += f" ({repairs} repair{'s' * (repairs != 1)})"
    if usage.failed:
        formalize += f", {usage.failed} failed"
    first_error = next((a.checked.errors[0].render().splitlines()[0] for a in attempts if a.checked.errors), "")
    check = f"{read}/{len(attempts)} read" + (f"; {first_error[:160]}" if first_error else "")
    tally = ", ".join(f"{b}×{decided.count(b)}" for b in dict.fromkeys(decided))
    solve = f"{len(decided)} decided" + (f": {tally}" if tally else "")
    vote_line = f"{result.predicted or result.status}" + (f" ({max(result.votes.values())} of {len(samples)})" if result.votes else "")
    return {"formalize": formalize, "check": check, "solve": solve, "vote": vote_line}


def _pruned(verdicts: list[Verdict]) -> dict[str, int]:
    """Samples the checks kept out of the vote, by reason (see ``pipeline.vote``)."""
    out: dict[str, int] = {}
    sure = any(v.status in DECIDED and not v.doubts for v in verdicts)
    for v in verdicts:
        why = v.rejected_by if v.status == "rejected" else ("conclusion symbol absent from the premises"
                                                            if sure and v.status in DECIDED and v.doubts else "")
        if why:
            out[why] = out.get(why, 0) + 1
    return out


def _result(samples: list[Sample], solver: str, fallback: str, usage: Usage) -> ProblemResult:
    problem = samples[0].problem
    best = [s.best() for s in samples]
    verdicts = [a.verdict for a in best if a is not None]
    status, chosen = vote(verdicts)
    predicted, cw_notes = closed_world(problem, predicted_of(status, chosen, problem.kind))
    reason = chosen.reason
    if predicted is None and fallback == "unknown":
        predicted, reason = "Unknown", f"every sample failed; reported Unknown (--fallback unknown). Last: {chosen.reason}"
    errors = [e for a in best if a is not None for e in (a.verdict.errors or a.checked.errors)]
    round_errors = []
    for s in samples:
        for a in s.attempts:
            errs = a.verdict.errors or a.checked.errors
            if a.verdict.status == "error" and errs:
                round_errors.append(f"sample {s.index} round {a.round}: {errs[0].render().splitlines()[0]}")
    notes = list(problem.notes) + next((a.checked.notes for a in best if a is not None and a.verdict is chosen), []) + cw_notes
    pruned = _pruned(verdicts)
    if pruned:
        notes.append("kept out of the vote: " + ", ".join(f"{n} sample{'s' * (n > 1)} ({why})" for why, n in pruned.items()))
    elif chosen.doubts:
        notes += [f"doubt: {d}" for d in chosen.doubts]
    correct = answers_match(problem, predicted)
    decided_votes = [ballot(v) for v in verdicts if v.status in DECIDED]
    result = ProblemResult(
        id=problem.id, gold=problem.answer, predicted=predicted, status=status,
        solver=chosen.solver, samples=len(samples), repair_rounds=max((len(s.attempts) - 1 for s in samples), default=0),
        error=errors[-1].render() if errors else None, correct=correct, reason=reason, notes=list(notes),
        disagreement=chosen.disagreement, used_premises=chosen.used_premises, explanation=chosen.explanation,
        per_backend=chosen.per_backend, per_option=chosen.per_option, round_errors=round_errors,
        language=next((a.checked.language for a in best if a is not None), "fol"),
        votes=dict(sorted({s: decided_votes.count(s) for s in set(decided_votes)}.items())), pruned=pruned,
        mismatch="" if correct or problem.answer is None else
        f"predicted {predicted or status} (votes {decided_votes or 'none'}), label {problem.answer}: {reason}",
    )
    return result.model_copy(update={"stages": _stages(samples, usage, result)})
