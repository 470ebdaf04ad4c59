import pytest
from hypothesis import given, settings, strategies as st

from parsers import FormalizationError, parse_formula, to_nltk, to_unicode
from parsers.fol.nodes import And, Atom, Const, Eq, Exists, Forall, Func, Iff, Implies, Not, Or, Var, Xor

x, y = Var("x"), Var("y")


def P(*args, name="P"):
    return Atom(name, tuple(args))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("all x. (P(x) -> Q(x))", Forall("x", Implies(P(x), P(x, name="Q")))),
        ("∀x (P(x) → Q(x))", Forall("x", Implies(P(x), P(x, name="Q")))),
        ("exists x y. R(x, y)", Exists("x", Exists("y", P(x, y, name="R")))),
        ("∃x ∃y R(x, y)", Exists("x", Exists("y", P(x, y, name="R")))),
        ("∀x,y R(x, y)", Forall("x", Forall("y", P(x, y, name="R")))),
        ("-P(a) & Q(b)", And((Not(P(Const("a"))), P(Const("b"), name="Q")))),
        ("¬P(a) ∧ Q(b)", And((Not(P(Const("a"))), P(Const("b"), name="Q")))),
        ("A & B | C", Or((And((Atom("A"), Atom("B"))), Atom("C")))),
        ("A | B & C", Or((Atom("A"), And((Atom("B"), Atom("C")))))),
        ("A -> B -> C", Implies(Atom("A"), Implies(Atom("B"), Atom("C")))),
        ("A ∧ B → C ∨ D", Implies(And((Atom("A"), Atom("B"))), Or((Atom("C"), Atom("D"))))),
        ("A ⊕ B", Xor(Atom("A"), Atom("B"))),
        ("A <-> B", Iff(Atom("A"), Atom("B"))),
        ("A ⟷ B", Iff(Atom("A"), Atom("B"))),
        ("a = b", Eq(Const("a"), Const("b"))),
        ("f(a) != b", Not(Eq(Func("f", (Const("a"),)), Const("b")))),
        ("Older(mother(ann), ann)", Atom("Older", (Func("mother", (Const("ann"),)), Const("ann")))),
        ("all x. P(x) & Q(x)", Forall("x", And((P(x), P(x, name="Q"))))),  # quantifier scope: as far right as possible
        ("P(Rina) & P(rina)", And((P(Const("Rina")), P(Const("rina"))))),
        ("ValuedAt(yale, y42.3billion)", Atom("ValuedAt", (Const("yale"), Const("y42.3billion")))),
        ("∀x (LostToIgaŚwiątek(x))", Forall("x", P(x, name="LostToIgaŚwiątek"))),
        ("Companies’Stocks(kO)", P(Const("kO"), name="Companies’Stocks")),
        ("not Fly(rock) and Bird(rock) implies Q", Implies(And((Not(P(Const("rock"), name="Fly")), P(Const("rock"), name="Bird"))), Atom("Q"))),
        ("Exists x. P(x)", Exists("x", P(x))),
        ("All(x)", P(Const("x"), name="All")),  # a predicate called All stays a predicate
        ("P('Ailton Silva')", P(Const("'Ailton Silva'"))),
        ("all x. (P(x) -> all x. Q(x))", Forall("x", Implies(P(x), Forall("x", P(x, name="Q"))))),
    ],
)
def test_reads_both_syntaxes(text, expected):
    assert parse_formula(text) == expected


def test_shadowing_and_free_names():
    f = parse_formula("P(x) & all x. Q(x)")
    assert f == And((P(Const("x")), Forall("x", P(x, name="Q"))))


@pytest.mark.parametrize(
    "text, where, col, message, hint",
    [
        ("∀x ∀y (A(x), B(x, y) → C(y))", "premise 5", 12, "unexpected ','", "∧"),
        ("P(x) ∧ Q(x))", "premise 1", 12, "unexpected ')'", "unbalanced"),
        ("P(x", "conclusion", 4, "expected ')'", ""),
        ("Symptoms(m) = {Fever}", "premise 2", 15, "unexpected character '{'", "sets"),
        ("P(x) ∧", "premise 3", 7, "expected", "incomplete"),
    ],
)
def test_errors_are_located(text, where, col, message, hint):
    with pytest.raises(FormalizationError) as info:
        parse_formula(text, where)
    (err,) = info.value.errors
    assert err.stage == "parse"
    assert err.column == col
    assert err.where == f"{where}, col {col}"
    assert message in err.message
    assert hint in err.hint
    line, caret = err.snippet.splitlines()
    assert line == text and caret == " " * (col - 1) + "^"


def test_empty_and_oversized():
    for text in ("", "   "):
        with pytest.raises(FormalizationError, match="empty formula"):
            parse_formula(text)
    with pytest.raises(FormalizationError, match="nesting deeper"):
        parse_formula("(" * 500 + "P" + ")" * 500)


def test_expected_list_is_short():
    with pytest.raises(FormalizationError) as info:
        parse_formula("P(a) Q(b)")
    assert "(or" in info.value.errors[0].message  # long lists are cut to the first few
    assert len(info.value.errors[0].message) < 300


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
       | st.text(alphabet="()[],.-&|>=<!~¬∧∨→↔⊕∀∃ xyzPQRabc'\"", max_size=60))
def test_any_string_gives_formula_or_our_error(text):
    try:
        parse_formula(text)
    except FormalizationError as exc:
        assert exc.errors and exc.errors[0].stage == "parse"


# ---- round trips: generated formulas print and re-read to the same AST ------------------------

names = st.sampled_from(["a", "b", "Rina", "rina", "c1"])
preds = st.sampled_from(["P", "Q", "Loves", "IsA"])
variables = st.sampled_from(["x", "y", "z"])


def terms(bound):
    base = names.map(Const) if not bound else st.one_of(names.map(Const), st.sampled_from(sorted(bound)).map(Var))
    return st.recursive(base, lambda t: st.builds(lambda a: Func("f", (a,)), t), max_leaves=3)


@st.composite
def formulas(draw, depth=3, bound=frozenset(), allow_xor=True):
    if depth == 0 or draw(st.booleans()):
        if draw(st.integers(0, 5)) == 0:
            return Eq(draw(terms(bound)), draw(terms(bound)))
        n = draw(st.integers(0, 2))
        return Atom(draw(preds) + str(n), tuple(draw(terms(bound)) for _ in range(n)))
    kind = draw(st.sampled_from(["not", "and", "or", "xor", "imp", "iff", "all", "ex"]))
    sub = lambda b=bound: formulas(depth=depth - 1, bound=b, allow_xor=allow_xor)  # noqa: E731
    if kind == "not":
        return Not(draw(sub()))
    if kind in ("and", "or"):
        args = tuple(draw(sub()) for _ in range(draw(st.integers(2, 3))))
        flat = []
        cls = And if kind == "and" else Or
        for a in args:  # the parser flattens nested ∧/∨ chains
            flat.extend(a.args if isinstance(a, cls) else (a,))
        return cls(tuple(flat))
    if kind == "xor" and allow_xor:
        return Xor(draw(sub()), draw(sub()))
    if kind in ("imp", "xor"):
        return Implies(draw(sub()), draw(sub()))
    if kind == "iff":
        return Iff(draw(sub()), draw(sub()))
    v = draw(variables)
    body = draw(sub(bound | {v}))
    return (Forall if kind == "all" else Exists)(v, body)


@settings(max_examples=300, deadline=None)
@given(formulas())
def test_unicode_round_trip(f):
    assert parse_formula(to_unicode(f)) == f


@settings(max_examples=300, deadline=None)
@given(formulas(allow_xor=False))
def test_nltk_round_trip(f):
    assert parse_formula(to_nltk(f)) == f


def test_nltk_prints_xor_as_negated_iff():
    assert parse_formula(to_nltk(parse_formula("A ⊕ B"))) == Not(Iff(Atom("A"), Atom("B")))


def test_many_parentheses_side_by_side_are_fine():
    text = " & ".join(f"(P{i}(a))" for i in range(300))
    assert len(parse_formula(text).args) == 300


def test_threads_that_reach_the_parser_together_all_get_the_one_parser(monkeypatch):
    """An engine's threads parse their first formulas at once: the grammar is loaded once, and a
    formula is never reported unreadable because another thread was loading it."""
    import threading
    import time as _time

    from parsers.fol import reader

    monkeypatch.setattr(reader, "_PARSER", None)
    built = []
    real = reader.Lark

    def slow_lark(*a, **k):  # widen the window in which a second thread could start loading too
        built.append(1)
        _time.sleep(0.05)
        return real(*a, **k)

    monkeypatch.setattr(reader, "Lark", slow_lark)
    formulas = [f"∀x (P{i}(x) → Q(x, c{i}))" for i in range(8)]
    results, barrier = {}, threading.Barrier(len(formulas))

    def parse(f):
        barrier.wait()
        results[f] = reader.parse_formula(f)

    threads = [threading.Thread(target=parse, args=(f,)) for f in formulas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == [1]
    assert {f: to_unicode(r) for f, r in results.items()} == {f: f for f in formulas}
