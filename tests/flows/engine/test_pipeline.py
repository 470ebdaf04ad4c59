from pathlib import Path

from flows.datasets import load_problems
from flows.engine import pipeline
from flows.models import Problem, Verdict
from flows.store import Store
from solvers import Limits
from solvers.process import spawn_count

DEMO = Path(__file__).resolve().parents[3] / "examples" / "demo.jsonl"


def run(problem, cache=None):
    checked = pipeline.check(pipeline.formalize(problem))
    return pipeline.to_result(problem, checked, [pipeline.solve(checked, "portfolio", Limits(timeout_s=5), cache)])


def test_demo_set_without_prefect():
    problems = load_problems(DEMO)
    assert len(problems) >= 12
    results = {p.id: run(p) for p in problems}
    wrong = {k: (r.predicted, r.gold, r.error) for k, r in results.items() if not r.correct and k != "demo-arity-clash"}
    assert wrong == {}
    clash = results["demo-arity-clash"]
    assert clash.status == "error" and clash.predicted is None
    assert clash.error.startswith("signature error at premise 2: predicate Student used with 2 arguments; premise 1 uses it with 1")
    assert "could not be used" in clash.mismatch
    statuses = {r.status for r in results.values()}
    assert {"True", "False", "Unknown", "contradictory", "error"} <= statuses


def test_missing_gold_formalization_is_a_located_error():
    r = run(Problem(id="p", premises=["a"], conclusion="b", answer="True"))
    assert r.status == "error" and "carries no gold formalization" in r.error and "hint:" in r.error


def test_parse_error_is_reported_per_premise():
    from flows.models import Formal

    p = Problem(id="p", answer="True", formal=Formal(premises=["P(a)", "Q(a"], conclusion="P(a)"))
    form = pipeline.formalize(p).model_copy(update={"source": "llm"})  # strict reading
    checked = pipeline.check(form)
    assert not checked.ok and checked.errors[0].where.startswith("premise 2, col")


def test_per_problem_cache_skips_the_solver(tmp_path):
    cache = Store(tmp_path)
    problem = load_problems(DEMO, limit=1)[0]
    first = run(problem, cache)
    before = spawn_count()
    second = run(problem, cache)
    assert spawn_count() == before
    assert second == first


def test_vote_majority_over_decided_answers():
    def v(status):
        return Verdict(problem_id="p", status=status, solver="s")

    assert pipeline.vote([v("True"), v("error"), v("False"), v("True")])[0] == "True"
    assert pipeline.vote([v("error"), v("undetermined")])[0] == "undetermined"
    assert pipeline.vote([v("error"), v("error")])[0] == "error"
    assert pipeline.vote([v("Unknown"), v("False")])[0] == "Unknown"  # tie: first seen


def test_two_option_questions_read_not_derived_as_false():
    from flows.models import Formal

    options = ["A) True", "B) False"]
    p = Problem(id="q", answer="False", options=options,
                formal=Formal(premises=["all x. (Cat(x) -> Mammal(x))", "Cat(tom)"], conclusion="Sour(tom)"))
    r = run(p)
    assert r.status == "Unknown" and r.predicted == "False" and r.correct
    assert r.notes == ["options are True/False only: not derived, so False (closed world)"]
    three = p.model_copy(update={"options": ["A) True", "B) False", "C) Unknown"], "answer": "Unknown"})
    assert run(three).predicted == "Unknown"


def test_demo_languages_gold_without_prefect(tmp_path):
    """Gold formalizations in SMT-LIB, CSP, the Z3 DSL and SymPy equations, and one refused payload."""
    problems = load_problems(DEMO.with_name("demo-languages.jsonl"))
    results = {p.id: run(p) for p in problems}
    assert {k: r.predicted for k, r in results.items()} == {
        "smtlib-entailment": "True", "smtlib-unknown": "Unknown", "csp-birds": "A", "z3dsl-slots": "C",
        "sympy-eggs": "18", "sympy-system": "21", "sympy-payload": None}
    assert all(r.correct for k, r in results.items() if k != "sympy-payload")
    payload = results["sympy-payload"]
    assert payload.status == "error" and payload.solver == "sympy" and "'__' are not allowed" in payload.error
    assert results["csp-birds"].per_option["A"].startswith("holds")


def test_choice_and_math_votes_count_answers():
    v = lambda s, a=None: Verdict(problem_id="p", status=s, solver="z3", answer=a)  # noqa: E731
    status, chosen = pipeline.vote([v("answered", "B"), v("error"), v("answered", "C"), v("answered", "B")])
    assert (status, chosen.answer) == ("answered", "B")
    math_problem = Problem(id="m", question="q", answer="70,000", kind="math")
    assert pipeline.answers_match(math_problem, "70000.0000001") and not pipeline.answers_match(math_problem, "7000")
    choice = Problem(id="c", context="x", question="q", options=["A) a", "B) b"], answer="B", kind="choice")
    assert pipeline.predicted_of("contradictory", v("contradictory"), choice.kind) is None


def test_samples_are_decided_by_z3_and_only_the_winner_is_cross_checked(tmp_path, shared_data):
    """K samples: the portfolio's first prover decides each (pending), the vote's winner alone is
    confirmed by E — the same answers as confirming every sample, one confirmation per problem."""
    from flows.engine.core import Engine
    from flows.engine.runs import BatchParams, _config
    from flows.llm.factory import make_client

    problem = next(p for p in load_problems(DEMO) if p.id == "demo-socrates")
    checked = pipeline.check(pipeline.formalize(problem))
    pending = pipeline.solve(checked, "portfolio", Limits(timeout_s=5), decide_only=True)
    assert pending.pending and pending.status == "True" and pending.solver == "z3"
    confirmed = pipeline.confirm(checked, pending, Limits(timeout_s=5))
    full = pipeline.solve(checked, "portfolio", Limits(timeout_s=5))
    assert not confirmed.pending and confirmed.status == full.status == "True"
    assert confirmed.per_backend == full.per_backend == {"z3": "True", "eprover": "True"}

    path = shared_data / "recorded" / "linc" / "gpt-4-0613_proofwriter-neurosymbolic-8shot_generations_raw.json"
    problems = load_problems(path, "linc", limit=8)
    cfg = _config(BatchParams(path=str(path), format="linc", parser="replay", samples=5), problems)
    engine = Engine(cfg, Store(None), concurrency=2, client=make_client(cfg, 2, problems))
    engine.submit(problems)
    results = [r.result for r in engine.records([p.id for p in problems])]
    engine.close()
    decided = [r for r in results if r.status in ("True", "False", "Unknown")]
    assert decided and all(set(r.per_backend) >= {"z3", "eprover"} for r in decided)  # the winner was confirmed
    assert all(r.samples == 5 for r in results)


def test_a_stored_verdict_is_not_served_once_another_checker_decides(tmp_path, monkeypatch):
    """The store keyed verdicts by our code only: errors the core-less Lean kernel gave Mathlib proofs
    were served after NESYFLOW_LEAN_PROJECT named a Mathlib project, z3's answers after NESYFLOW_Z3
    named another binary. Another toolchain (or binary) now computes the verdict anew."""
    from flows.engine.core import result_key
    from flows.models import Formal, RunConfig

    problem = Problem(id="p", premises=["x"], conclusion="y",
                      formal=Formal(premises=["all x. (P(x) -> Q(x))", "P(a)"], conclusion="Q(a)"))
    checked = pipeline.check(pipeline.formalize(problem))
    store = Store(tmp_path / "store")
    first = pipeline.solve(checked, "z3", Limits(timeout_s=5), store)
    assert first.status == "True"
    calls = []
    monkeypatch.setattr(pipeline, "make_solver", lambda name: calls.append(name) or (_ for _ in ()).throw(RuntimeError("ran")))
    assert pipeline.solve(checked, "z3", Limits(timeout_s=5), store).status == "True" and calls == []  # same checker: stored
    monkeypatch.setattr(pipeline, "binaries_identity", lambda: ("/opt/other/z3:1:1", "e", "p9"), raising=False)
    try:
        pipeline.solve(checked, "z3", Limits(timeout_s=5), store)
    except RuntimeError:
        pass
    assert calls == ["z3"]  # another z3: not served from the store
    lean = Problem(id="t", kind="theorem", formal=Formal(language="lean", premises=[], conclusion=": True"))
    cfg = RunConfig(parser="gold")
    before = result_key(lean, cfg)
    monkeypatch.setattr(pipeline, "lean_identity", lambda: "/opt/lean|Lean 4.35 (mathlib)|mathlib|NESYFLOW_LEAN_PROJECT|/p",
                        raising=False)
    assert result_key(lean, cfg) != before
