"""The stages of one problem as plain functions: formalize → check → solve → vote → result.

No Prefect here: ``flows.orchestration.tasks`` wraps these over chunks of problems, and tests call them
directly. A bad formalization never raises; it travels as located errors to the result.
"""

from __future__ import annotations

import ast
import math
import time
from collections import Counter

from parsers.programs.csp import parse_csp_program
from parsers.english import parse_problem_english
from parsers.errors import MAX_ERRORS, FormalizationError, LocatedError, locate, stopped_reading
from parsers.fol.reader import parse_formula, remember
from parsers.fol.printer import to_unicode
from parsers.fol.lenient import parse_lenient
from parsers.llm_output import MAX_OUTPUT_CHARS, extract
from parsers.programs.lean import read_lean_output
from parsers.programs.math_program import parse_math_program
from parsers.fol.signature import check_signature, close_free_variables, label_of
from parsers.programs.smtlib import parse_smtlib_program
from parsers.programs.z3dsl import parse_z3_dsl
from solvers import FolProblem, Limits, Status, make_solver
from solvers.base import BUDGET_USED, trim
from solvers.identity import binaries_identity, lean_identity
from solvers.lean import LeanSolver
from solvers.math import PythonSandbox, SympySolver
from solvers.sandbox import SandboxUnavailable
from solvers.smt import SmtSolver

from flows.models import Checked, Formalization, Problem, ProblemResult, Verdict
from flows.store import Store, code_version, stable_hash

__all__ = ["formalize", "formalize_output", "check", "check_program", "solve", "settled", "vote", "ballot", "predicted_of", "answers_match", "to_result",
           "unusable", "chunk_label", "gold_program", "PARSERS", "DEFAULT_SOLVER"]

PARSERS = ("gold", "english")
# The logic each parser's output is meant in: gold FOL is classical first-order logic; the
# controlled-English fragment is a rule program with strong negation (ProofWriter's semantics).
DEFAULT_SOLVER = {"gold": "portfolio", "english": "rules", "llm": "portfolio", "replay": "portfolio"}


# ---- formalize ---------------------------------------------------------------------------------

def formalize(problem: Problem, parser: str = "gold") -> Formalization:
    if problem.load_error:
        return Formalization(problem_id=problem.id, source=parser, errors=[locate("formalize", problem.load_error, where="input record")])
    if parser == "gold":
        if problem.formal is None:
            return Formalization(problem_id=problem.id, source=parser, errors=[locate(
                "formalize", "the problem carries no gold formalization", where="input record",
                hint="use a file with premises-FOL/conclusion-FOL or a 'formal' field, or another --parser")])
        f = problem.formal
        size = len(f.conclusion) + sum(map(len, f.premises))
        if size > MAX_OUTPUT_CHARS and f.language != "lean":  # what a model may write, a dataset may too
            return Formalization(problem_id=problem.id, source=parser, errors=[locate(
                "formalize", f"the gold formalization is {size:,} characters; at most {MAX_OUTPUT_CHARS:,} are read",
                where="input record")])
        if f.language == "fol":
            return Formalization(problem_id=problem.id, source=parser, premises=list(f.premises), conclusion=f.conclusion,
                                 lenient=f.lenient)
        if f.language == "lean":
            proof = f.premises[0] if f.premises else ""
            return Formalization(problem_id=problem.id, source=parser, language="lean", program=proof, header=f.header,
                                 statement=f.conclusion)
        return Formalization(problem_id=problem.id, source=parser, language=f.language, question=problem.question or "",
                             options=list(problem.options or []), program=gold_program(f.language, f.premises, f.conclusion))
    if parser == "english":
        return _formalize_english(problem)
    raise ValueError(f"unknown parser {parser!r}; available: {', '.join(PARSERS)}")


def formalize_output(problem: Problem, text: str | None, style: str, problem_id: str, source: str,
                     expected: str | None = None) -> Formalization:
    """A model's output (live or recorded) read as the formalization of ``problem`` (``style``: how to read it)."""
    if problem.kind == "theorem":  # the statement is the problem's; the model's text is only the proof
        f = problem.formal
        return Formalization(problem_id=problem_id, source=source, language="lean", program=text,
                             header=f.header if f else "", statement=f.conclusion if f else "")
    claim = (problem.conclusion or "") if problem.kind == "entailment" else ""
    ex = extract(text, style, expected, claim or None)
    return Formalization(problem_id=problem_id, source=source, language=ex.language, premises=ex.premises,
                         conclusion=ex.conclusion, program=ex.program, question=problem.question or "", claim=claim,
                         options=list(problem.options or []) if problem.kind == "choice" else [], errors=ex.errors,
                         notes=ex.notes, consistent=problem.consistent)


def gold_program(language: str, premises: list[str], conclusion: str) -> str:
    """A gold formalization's parts as one program text of its language."""
    body = "\n".join(premises)
    if language == "smtlib" and conclusion.strip():
        return f"{body}\n(define-fun conclusion () Bool {conclusion})"
    if language == "sympy" and conclusion.strip():
        return f"{body}\nAnswer: {conclusion}"
    return body


def unusable(problem: Problem, parser: str) -> LocatedError | None:
    """Why a text parser (english, llm, replay) cannot take this problem, or None."""
    why, hint = None, ""
    if problem.load_error:
        why = problem.load_error
    elif parser == "english" and problem.kind != "entailment":
        why = f"the {parser} parser does not take {problem.kind!r} problems"
        hint = "choice, math and theorem problems need an LLM parser (--parser llm or replay) and --language"
    elif problem.kind == "theorem" and (problem.formal is None or problem.formal.language != "lean"):
        why = "a theorem problem without a Lean statement"
        hint = "give it formal: {language: lean, conclusion: <signature>, header: <imports/declarations>}"
    elif problem.kind == "choice" and not problem.options:
        why = "a multiple-choice problem without options"
    elif problem.kind == "math" and not (problem.question or problem.context):
        why = "a math problem without a question"
    elif problem.kind == "entailment" and (not problem.conclusion or not (problem.premises or problem.context)):
        why = "the problem has no premises or no conclusion"
    elif parser == "replay" and not problem.recorded:
        why = "no recorded completion for this problem"
    return locate("formalize", why, where="input record", hint=hint) if why else None


def _formalize_english(problem: Problem) -> Formalization:
    err = unusable(problem, "english")
    if err is not None:
        return Formalization(problem_id=problem.id, source="english", errors=[err])
    premises = list(problem.premises) or [problem.context]
    size = sum(map(len, premises)) + len(problem.conclusion or "")
    if size > MAX_OUTPUT_CHARS:
        return Formalization(problem_id=problem.id, source="english", errors=[locate(
            "formalize", f"the problem's text is {size:,} characters; at most {MAX_OUTPUT_CHARS:,} are read",
            where="input record")])
    res = parse_problem_english(premises, problem.conclusion)
    if res.errors:
        return Formalization(problem_id=problem.id, source="english", errors=res.errors)
    return Formalization(problem_id=problem.id, source="english", premises=[to_unicode(f) for f in res.premises],
                         conclusion=to_unicode(res.conclusion))


def chunk_label(ids: list[str]) -> str:
    """Task-run label of a chunk: its first and last problem ids."""
    return ids[0] if len(ids) == 1 else f"{ids[0]}..{ids[-1]}"


# ---- check -------------------------------------------------------------------------------------

def check(form: Formalization, close_free: bool = False) -> Checked:
    """Parse every formula and run the signature pass; a dataset's gold text is read leniently (edits noted).
    How the output was read (``form.notes``) travels into the result's notes.

    ``close_free``: when no repair round is left, a free variable is read as universally
    quantified (Prover9's convention) and noted, instead of discarding the formalization."""
    checked = _check(form, close_free)
    if form.notes:
        checked = checked.model_copy(update={"notes": [*form.notes, *checked.notes]})
    return checked


def _check(form: Formalization, close_free: bool = False) -> Checked:
    if form.errors:
        return Checked(problem_id=form.problem_id, ok=False, language=form.language, errors=form.errors)
    if form.language != "fol":
        return check_program(form)
    lenient = form.source == "gold" and form.lenient
    n = len(form.premises)
    parsed, errors, notes = [], [], []
    for i, text in enumerate(list(form.premises) + [form.conclusion]):
        where = label_of(i, n)
        if len(errors) >= MAX_ERRORS:
            errors.append(stopped_reading(where))
            break
        try:
            if lenient:
                f, edits = parse_lenient(text, where)
                notes += [f"{where}: {e}" for e in edits]
            else:
                f = parse_formula(text, where)
            parsed.append(f)
        except FormalizationError as exc:
            errors += exc.errors
    if errors:
        return Checked(problem_id=form.problem_id, ok=False, errors=errors, notes=notes)
    if close_free:
        for i, f in enumerate(parsed):
            closed, names = close_free_variables(f)
            if names:
                parsed[i] = closed
                notes.append(f"{label_of(i, n)}: free variable{'s' * (len(names) > 1)} {', '.join(names)} read as ∀{' ∀'.join(names)}")
    sig_errors = check_signature(parsed[:-1], parsed[-1])
    canon = [to_unicode(f) for f in parsed]
    for text, f in zip(canon, parsed):  # the solve stage reads these back: parse them once
        remember(text, f)
    return Checked(problem_id=form.problem_id, ok=not sig_errors, premises=canon[:-1], conclusion=canon[-1],
                   errors=sig_errors, notes=notes)


def check_program(form: Formalization) -> Checked:
    """Languages other than FOL: read the whole program (located errors), compile what has a compiler."""
    base = dict(problem_id=form.problem_id, language=form.language)
    kind = "choice" if form.options else "entailment"
    try:
        if form.language in ("csp", "z3dsl"):
            smt = parse_csp_program(form.program, form.question) if form.language == "csp" else \
                parse_z3_dsl(form.program, form.question)
            return Checked(ok=True, smt=smt, notes=list(smt.notes), **base)
        if form.language == "smtlib":
            return Checked(ok=True, smt=parse_smtlib_program(form.program, kind=kind, question=form.question,
                                                               options=form.options), **base)
        if form.language == "sympy":
            return Checked(ok=True, math=parse_math_program(form.program), **base)
        if form.language == "python":
            return Checked(ok=True, program=_python_syntax(form.program), **base)
        if form.language == "lean":
            if not form.statement.strip():
                raise FormalizationError(locate("formalize", "the problem has no Lean statement", where="input record"))
            return Checked(ok=True, lean=read_lean_output(form.program, form.statement, form.header), **base)
    except FormalizationError as exc:
        return Checked(ok=False, errors=exc.errors, **base)
    return Checked(ok=False, errors=[locate("formalize", f"unknown formal language {form.language!r}")], **base)


def _python_syntax(code: str) -> str:
    """Parsing is safe (``ast.parse`` compiles nothing and runs nothing); running happens in the sandbox."""
    if not code.strip():
        raise FormalizationError(locate("parse", "the program is empty", where="program"))
    try:
        ast.parse(code)
    except SyntaxError as exc:
        raise FormalizationError(locate("parse", f"Python syntax error: {exc.msg}", text=code, line=exc.lineno or 1,
                                        column=exc.offset or 1, where="program")) from None
    except (RecursionError, MemoryError):  # 4,000 nested '-' or a 100,000-term sum: Python could not run it either
        raise FormalizationError(locate("parse", "the program is nested too deeply for Python's parser", where="program",
                                        hint="compute in steps, one assignment per line")) from None
    return code


# ---- solve -------------------------------------------------------------------------------------

_BACKEND_OF = {"smtlib": "z3", "csp": "z3", "z3dsl": "z3", "sympy": "sympy", "python": "python", "lean": "lean"}


def solve(checked: Checked, solver: str, limits: Limits, store: Store | None = None, deadline: float | None = None,
          decide_only: bool = False) -> Verdict:
    """``solver`` names the FOL back end; other languages have one back end each (``_BACKEND_OF``).
    ``deadline``: the problem's time budget across back ends (``solvers.base.trim``).
    ``decide_only``: with the portfolio, only its first prover decides (the verdict is ``pending``
    until ``confirm`` cross-checks it) — for the samples of a vote, of which only the winner matters."""
    decide_only = decide_only and solver == "portfolio" and checked.language == "fol"
    if not checked.ok:
        return Verdict(problem_id=checked.problem_id, status=Status.ERROR.value,
                       solver=_BACKEND_OF.get(checked.language, solver), errors=checked.errors,
                       reason=checked.errors[0].render().splitlines()[0] if checked.errors else "")
    fol = checked.language == "fol"
    key = _solve_key(checked, (solver + ("/decide" if decide_only else "")) if fol else "", limits)
    if store is not None:
        hit = store.get("solve", key, Verdict)
        if hit is not None:
            return hit.model_copy(update={"problem_id": checked.problem_id})
    if not fol:
        run_limits = trim(limits, deadline)
        if run_limits is None:
            return Verdict(problem_id=checked.problem_id, status=Status.UNDETERMINED.value,
                           solver=_BACKEND_OF[checked.language], reason=BUDGET_USED)
        limits = run_limits
        try:
            if checked.lean is not None:
                o = LeanSolver().solve(checked.lean, limits)
            elif checked.smt is not None:
                o = SmtSolver().solve(checked.smt, limits)
            elif checked.math is not None:
                o = SympySolver().solve(checked.math, limits)
            else:
                o = PythonSandbox().solve(checked.program, limits)
        except SandboxUnavailable as exc:  # infrastructure: reported, never cached, never run unconfined
            return Verdict(problem_id=checked.problem_id, status=Status.UNDETERMINED.value,
                           solver=_BACKEND_OF[checked.language], reason=str(exc))
        verdict = _finite(Verdict(problem_id=checked.problem_id, status=o.status, solver=_BACKEND_OF[checked.language],
                                  answer=o.answer, reason=o.reason, errors=o.errors, per_option=o.per_option,
                                  wall_s=o.wall_s, rejected_by=o.rejected_by, limit=o.limit), checked.language)
    else:
        problem = _fol_problem(checked)
        back_end = make_solver(solver)
        result = (back_end.decider if decide_only else back_end).solve(problem, limits, deadline)
        verdict = _verdict_of(checked, result).model_copy(update={"pending": decide_only})
    if store is not None and settled(verdict):
        store.put("solve", key, verdict)
    return verdict


_NOT_FINITE = {"nan", "inf", "infinity", "oo", "zoo"}


def not_finite(answer: str | None) -> bool:
    """A numeric answer that is no number: nan, ±inf (Python's spellings) or oo/zoo (SymPy's)."""
    if answer is None:
        return False
    text = answer.strip().lower().lstrip("+-")
    if text in _NOT_FINITE:
        return True
    try:
        return not math.isfinite(float(answer.replace(",", "")))
    except (ValueError, OverflowError):
        return False


def _finite(verdict: Verdict, language: str) -> Verdict:
    """A math program's answer that is not a finite number answers nothing: a located error of the
    solve stage (a division by zero, most often), which a repair prompt can name."""
    if language not in ("sympy", "python") or verdict.status != ANSWERED or not not_finite(verdict.answer):
        return verdict
    err = locate("solve", f"the answer is {verdict.answer[:40]}, not a finite number", where="answer",
                 hint="check for a division by zero or an unbounded quantity")
    return verdict.model_copy(update={"status": Status.ERROR.value, "answer": None, "errors": [err], "reason": err.message})


def settled(verdict: Verdict) -> bool:
    """Whether a verdict is what a rerun would give again, so it may be stored: not when a limit
    decided it (undetermined, or a program stopped by its wall clock, CPU or memory limit), which
    a rerun — on a less loaded machine, with other limits — may not hit."""
    return verdict.status != Status.UNDETERMINED.value and not verdict.limit


def _solve_key(checked: Checked, back_end: str, limits: Limits) -> str:
    """Store key of a verdict: the code, the back end that decides it (and which binary or Lean
    toolchain that is), the limits, the checked text."""
    return stable_hash("solve", code_version(), back_end, checker_identity(checked.language == "lean"), limits,
                       checked.model_dump(mode="json", exclude={"problem_id", "notes"}))


def checker_identity(lean: bool):
    """``solvers.identity``: the Lean toolchain for Lean, else the solver binaries."""
    return lean_identity() if lean else binaries_identity()


def _fol_problem(checked: Checked) -> FolProblem:
    return FolProblem(tuple(parse_formula(p) for p in checked.premises), parse_formula(checked.conclusion))


def _verdict_of(checked: Checked, result) -> Verdict:
    return Verdict(problem_id=checked.problem_id, status=result.status.value, solver=result.backend, reason=result.reason,
                   errors=result.errors, used_premises=result.used_premises, per_backend=result.per_backend,
                   disagreement=result.disagreement,
                   explanation=result.explanation, wall_s=result.wall_s)


def confirm(checked: Checked, verdict: Verdict, limits: Limits, store: Store | None = None,
            deadline: float | None = None) -> Verdict:
    """The portfolio's cross-check of a ``pending`` verdict (its first prover's), as ``solve``
    with the portfolio would have given it — cached under the same key."""
    if not verdict.pending:
        return verdict
    key = _solve_key(checked, "portfolio", limits)
    if store is not None:
        hit = store.get("solve", key, Verdict)
        if hit is not None:
            return hit.model_copy(update={"problem_id": checked.problem_id})
    from solvers.base import SolverResult

    portfolio = make_solver("portfolio")
    first = SolverResult(status=Status(verdict.status), backend=verdict.solver, reason=verdict.reason, errors=verdict.errors,
                         used_premises=verdict.used_premises, explanation=verdict.explanation, wall_s=verdict.wall_s)
    t0 = time.perf_counter()
    result = portfolio.confirm(_fol_problem(checked), first, limits, deadline)
    result = result.model_copy(update={"wall_s": round(verdict.wall_s + time.perf_counter() - t0, 6)})
    confirmed = _verdict_of(checked, result)
    if store is not None and settled(confirmed):
        store.put("solve", key, confirmed)
    return confirmed


# ---- vote --------------------------------------------------------------------------------------

ANSWERED = Status.ANSWERED.value
DECIDED = {s.value for s in (Status.TRUE, Status.FALSE, Status.UNKNOWN, Status.CONTRADICTORY, Status.ANSWERED)}


def ballot(v: Verdict) -> str:
    """What a verdict votes for: its answer (an option letter, a number) or its status."""
    return v.answer if v.status == ANSWERED and v.answer is not None else v.status


def vote(verdicts: list[Verdict]) -> tuple[str, Verdict]:
    """Majority over decided answers; errors and rejected samples don't vote, and samples with
    doubts (``flows.engine.checks``) don't either when another decided sample has none. Ties go to the
    answer seen first. Returns the winning verdict's status and the first verdict voting for it."""
    decided = [v for v in verdicts if v.status in DECIDED]
    sure = [v for v in decided if not v.doubts]
    if sure:
        decided = sure
    if not decided:
        undetermined = [v for v in verdicts if v.status == Status.UNDETERMINED.value]
        rejected = [v for v in verdicts if v.status == Status.REJECTED.value]
        chosen = (undetermined or rejected or verdicts)[-1]
        return chosen.status, chosen
    counts = Counter(ballot(v) for v in decided)
    best = max(counts.values())
    winner = next(ballot(v) for v in decided if counts[ballot(v)] == best)
    chosen = next(v for v in decided if ballot(v) == winner)
    return chosen.status, chosen


def predicted_of(status: str, chosen: Verdict, kind: str = "entailment") -> str | None:
    """The answer a result reports: an entailment status, or a choice/math answer (a choice problem
    with contradictory constraints has no answer)."""
    if status == ANSWERED:
        return chosen.answer
    return status if status in DECIDED and kind == "entailment" else None


def answers_match(problem: Problem, predicted: str | None) -> bool:
    """Option letters and labels exactly; math answers as numbers (relative tolerance 1e-6)."""
    if predicted is None or problem.answer is None:
        return False
    if problem.kind == "math":
        try:
            a, b = float(predicted), float(problem.answer.replace(",", ""))
        except ValueError:
            return False
        if not (math.isfinite(a) and math.isfinite(b)):  # nan, inf: no number matches them, not even themselves
            return False
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    return predicted == problem.answer


# ---- result ------------------------------------------------------------------------------------

def binary_question(problem: Problem) -> bool:
    """True when the problem's options are exactly True and False ("is the statement true or false?")."""
    if not problem.options:
        return False
    from flows.datasets import normalise_label

    labels = {normalise_label(o.split(")", 1)[-1]) for o in problem.options}
    return labels == {"True", "False"}


def closed_world(problem: Problem, predicted: str | None) -> tuple[str | None, list[str]]:
    """A two-option question has no Unknown answer: a statement that is not derived is False
    (the closed world the question presumes; Logic-LM scores PrOntoQA the same way)."""
    if predicted == Status.UNKNOWN.value and binary_question(problem):
        return "False", ["options are True/False only: not derived, so False (closed world)"]
    return predicted, []


def to_result(problem: Problem, checked: Checked, verdicts: list[Verdict]) -> ProblemResult:
    status, chosen = vote(verdicts)
    predicted, cw_notes = closed_world(problem, predicted_of(status, chosen, problem.kind))
    errors: list[LocatedError] = [e for v in verdicts for e in v.errors]
    correct = answers_match(problem, predicted)
    return ProblemResult(
        id=problem.id,
        gold=problem.answer,
        predicted=predicted,
        status=status,
        solver=chosen.solver,
        samples=len(verdicts),
        repair_rounds=0,
        error=errors[-1].render() if errors else None,
        correct=correct,
        reason=chosen.reason,
        notes=list(problem.notes) + list(checked.notes) + cw_notes,
        disagreement=chosen.disagreement,
        used_premises=chosen.used_premises,
        explanation=chosen.explanation,
        per_backend=chosen.per_backend,
        per_option=chosen.per_option,
        language=checked.language,
        formal_premises=list(checked.premises) if checked.language == "fol" else [],
        formal_conclusion=checked.conclusion if checked.language == "fol" else "",
        mismatch="" if correct or problem.answer is None else _mismatch(problem.answer, predicted or status, chosen, errors, checked.notes),
    )


def _mismatch(gold: str, status: str, chosen: Verdict, errors: list[LocatedError], notes: list[str]) -> str:
    """One sentence: why this problem does not match its label (DESIGN.md §5 evidence)."""
    read = f" (read with edits: {'; '.join(notes)})" if notes else ""
    if status == Status.ERROR.value:
        first = errors[0].render().splitlines()[0] if errors else chosen.reason
        return f"the formalization could not be used{read}: {first}"
    if status == Status.UNDETERMINED.value:
        return f"no back end decided it within the limits: {chosen.reason}"
    evidence = chosen.explanation or chosen.reason
    return f"the formalization{read} decides {status} but the label is {gold}: {evidence}"
