"""Checks that catch a mistranslation the back end cannot: the program ran, but its answer
cannot be the problem's. They run on a model's formalization (``llm``, ``replay``), after solving.

Hard findings reject the sample (status ``rejected``): it does not vote, and a live model gets
the located reason as its repair prompt.

* a puzzle's constraints that contradict each other (it has one answer), and premises that do where
  the problem is known consistent (``Problem.consistent``: a benchmark built that way) or the run
  says so (``RunConfig.contradictory``); elsewhere ``contradictory`` is an answer like any other;
* a choice program under which no option or several pass (decided in ``solvers.smt``);
* a conclusion of the opposite polarity to the question's statement ("Max is sour." queried as
  ``¬Sour(max)``) that decides True or False — the answer belongs to the negated statement.
  (Decided Unknown, it stands: neither follows, whichever polarity.) Checked only where the
  statement is one plain clause whose words name the conclusion's predicate, so a paraphrase
  (``Unhappy`` for "not happy") is never flagged.

Soft findings are doubts, noted on the sample: a conclusion predicate or constant that no
premise mentions. A correct translation can have one (a conclusion about something the text
never says is Unknown), so with several samples a doubtful one is left out of the vote only
when another sample is free of doubt (``pipeline.vote``), and alone it stands.

Nothing here looks at the label.
"""

from __future__ import annotations

import re

from parsers.errors import locate
from parsers.fol.nodes import Atom, Not, signature_of
from parsers.fol.reader import parse_formula
from solvers.base import Status

from flows.models import Checked, Formalization, Verdict

__all__ = ["review", "MODEL_SOURCES"]

MODEL_SOURCES = {"llm", "replay"}
_CLAUSE_WORDS = {"if", "all", "every", "each", "some", "any", "or", "either", "neither", "nor", "unless", "only", "no",
                 "none", "nobody", "nothing", "everyone", "everything", "someone", "something", "and", "then", "when",
                 "because", "but", "than"}
_NEGATION = re.compile(r"\bnot\b|n't\b|\bnever\b", re.I)


def review(form: Formalization, checked: Checked, verdict: Verdict, contradictory: str = "auto") -> Verdict:
    """``verdict`` with the checks applied (unchanged for gold and English formalizations).
    ``contradictory``: the run's setting (``RunConfig.contradictory``)."""
    if form.source not in MODEL_SOURCES or not checked.ok:
        return verdict
    kind = "choice" if form.options else "entailment" if form.claim or checked.language == "fol" else "other"
    if verdict.status == Status.CONTRADICTORY.value and kind != "other":
        if kind == "choice":
            return _contradictory(verdict, kind, "a puzzle has one answer, so a constraint is mistranslated")
        if contradictory == "reject" or (contradictory == "auto" and form.consistent):
            why = ("the problem's text is consistent" if contradictory == "auto" else
                   "the run rejects contradictory premises (--contradictory reject)")
            return _contradictory(verdict, kind, f"{why}, so one of these is mistranslated")
        return verdict
    if kind != "entailment" or checked.language != "fol" or verdict.status not in (
            Status.TRUE.value, Status.FALSE.value, Status.UNKNOWN.value):
        return verdict
    try:
        premises = [parse_formula(p) for p in checked.premises]
        conclusion = parse_formula(checked.conclusion)
    except Exception:  # checked text always parses; a failure here must not cost the answer
        return verdict
    flipped = _polarity(conclusion, form.claim, checked.conclusion)
    if flipped is not None and verdict.status == Status.UNKNOWN.value:
        # neither the statement nor its negation follows: Unknown either way, so the answer stands
        return verdict.model_copy(update={"reason": f"{verdict.reason}; {flipped.message} (Unknown either way)"})
    if flipped is not None:
        return verdict.model_copy(update={"status": Status.REJECTED.value, "rejected_by": "opposite polarity",
                                          "errors": [flipped], "answer": None,
                                          "reason": f"{flipped.message} (it decided {verdict.status})"})
    doubts = _absent_symbols(premises, conclusion)
    return verdict.model_copy(update={"doubts": doubts}) if doubts else verdict


def _contradictory(verdict: Verdict, kind: str, why: str) -> Verdict:
    used = verdict.used_premises
    which = f" (premises {', '.join(str(i + 1) for i in used)} together)" if used else ""
    what = "the constraints contradict each other" if kind == "choice" else f"the premises contradict each other{which}"
    err = locate("check", what, where="constraints" if kind == "choice" else "premises",
                 hint=f"{why}: compare each with its sentence")
    return verdict.model_copy(update={"status": Status.REJECTED.value, "rejected_by": "contradictory premises",
                                      "errors": [err], "reason": err.message})


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _predicate_words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|_", " ", name)
    return [w for w in _words(spaced) if w]


def _polarity(conclusion, claim: str, text: str):
    """A located error when the conclusion is the negation of a one-clause statement, or the
    reverse; None when they agree or the statement is not simple enough to tell."""
    claim = claim.strip()
    if not claim:
        return None
    words = _words(claim.replace("n't", " not"))
    if not words or len(words) > 14 or set(words) & _CLAUSE_WORDS or "," in claim:
        return None
    negated = isinstance(conclusion, Not)
    atom = conclusion.body if negated else conclusion
    if not isinstance(atom, Atom):
        return None
    pred = _predicate_words(atom.pred)
    stems = {w[:5] for w in words}
    if not pred or not all(w[:5] in stems for w in pred) or pred[0] in ("not", "non", "un"):
        return None
    says_not = bool(_NEGATION.search(claim))
    if says_not == negated:
        return None
    what = "negates" if negated else "drops the negation of"
    return locate("check", f"the conclusion {text} {what} the question's statement \"{claim}\"", where="conclusion",
                  hint="translate the statement as written, negation included" if says_not
                  else "translate the statement as written: it has no negation")


def _absent_symbols(premises, conclusion) -> list[str]:
    if not premises:
        return []
    known = signature_of(premises[0])
    for p in premises[1:]:
        known = known.merge(signature_of(p))
    mine = signature_of(conclusion)
    doubts = []
    lower = {n.lower(): n for n in [*known.predicates, *known.constants]}
    for name in sorted(set(mine.predicates) - set(known.predicates)):
        near = lower.get(name.lower())
        doubts.append(f"the conclusion's predicate {name} occurs in no premise" + (f" (premises write {near})" if near else ""))
    for name in sorted(mine.constants - known.constants):
        near = lower.get(name.lower())
        doubts.append(f"the conclusion's constant {name} occurs in no premise" + (f" (premises write {near})" if near else ""))
    return doubts
