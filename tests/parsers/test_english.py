"""The controlled-English fragment: one test per construction, open-world Unknown, and errors."""

import pytest

from parsers import FormalizationError, parse_formula
from parsers.english import Lexicon, parse_problem_english, parse_sentence, split_sentences
from solvers import FolProblem, RuleSolver, Status


def en(sentence, context=()):
    return parse_sentence(sentence, Lexicon.collect(list(context) + [sentence]))


@pytest.mark.parametrize("sentence, formula", [
    # names and definite descriptions, copula with adjectives and nouns, negation
    ("Bob is big.", "Big(Bob)"),
    ("Bob is not big.", "¬Big(Bob)"),
    ("The bald eagle is big.", "Big(the_bald_eagle)"),
    ("Max is a wumpus.", "Wumpus(Max)"),
    ("Wren is not a jompus.", "¬Jompus(Wren)"),
    ("The lion is blue and nice.", "Blue(the_lion) ∧ Nice(the_lion)"),
    # generic and quantified class statements
    ("Jompuses are not shy.", "∀x (Jompus(x) → ¬Shy(x))"),
    ("Each yumpus is a dumpus.", "∀x (Yumpus(x) → Dumpus(x))"),
    ("Every wumpus is an impus.", "∀x (Wumpus(x) → Impus(x))"),
    ("All red things are rough.", "∀x (Red(x) → Rough(x))"),
    ("Red, cold things are round.", "∀x ((Red(x) ∧ Cold(x)) → Round(x))"),
    ("All blue people are kind.", "∀x (Blue(x) → Kind(x))"),
    ("All cold people are not blue.", "∀x (Cold(x) → ¬Blue(x))"),
    ("No dragon is friendly.", "∀x (Dragon(x) → ¬Friendly(x))"),
    # relative clauses
    ("Big things that are kind are young.", "∀x ((Big(x) ∧ Kind(x)) → Young(x))"),
    ("All things that chase the cat are red.", "∀x (Chases(x, the_cat) → Red(x))"),
    # conditionals over someone/something and named entities
    ("If someone is big and not round then they are kind.", "∀x ((Big(x) ∧ ¬Round(x)) → Kind(x))"),
    ("If something chases the cat and it is red then the cat sees it.", "∀x ((Chases(x, the_cat) ∧ Red(x)) → Sees(the_cat, x))"),
    ("If the bear is red then the bear is blue.", "Red(the_bear) → Blue(the_bear)"),
    ("If Dave is smart and Dave is kind then Dave is quiet.", "(Smart(Dave) ∧ Kind(Dave)) → Quiet(Dave)"),
    ("If something needs the tiger it is red.", "∀x (Needs(x, the_tiger) → Red(x))"),
    ("If someone is green then they see the lion.", "∀x (Green(x) → Sees(x, the_lion))"),
    # transitive verbs, negated
    ("The cat sees the dog.", "Sees(the_cat, the_dog)"),
    ("The dog does not chase the mouse.", "¬Chases(the_dog, the_mouse)"),
    ("The bald eagle eats the cow.", "Eats(the_bald_eagle, the_cow)"),
    ("If something visits the squirrel then it eats the rabbit.", "∀x (Visits(x, the_squirrel) → Eats(x, the_rabbit))"),
])
def test_construction(sentence, formula):
    assert en(sentence) == parse_formula(formula)


def test_plural_and_singular_nouns_name_one_predicate():
    ctx = ["Every tumpus is a wumpus.", "Impuses are tumpuses."]
    assert en(ctx[1], ctx) == parse_formula("∀x (Impus(x) → Tumpus(x))")
    assert en("Rompuses are not luminous.", ctx) == parse_formula("∀x (Rompus(x) → ¬Luminous(x))")


def test_question_forms_become_conclusions(shared_data):
    from flows.datasets import load_problems

    pw = load_problems(shared_data / "logic_lm" / "ProofWriter" / "dev.json", limit=1)[0]
    pq = load_problems(shared_data / "logic_lm" / "ProntoQA" / "dev.json", limit=1)[0]
    assert pw.conclusion == "Charlie is kind." and pq.conclusion == "Max is sour."
    assert en(pw.conclusion) == parse_formula("Kind(Charlie)")


def decide(context, conclusion):
    res = parse_problem_english([context], conclusion)
    assert res.errors == []
    return RuleSolver().solve(FolProblem(tuple(res.premises), res.conclusion)).status


def test_open_world_unknown_and_classical_negation():
    ctx = "Bob is big. If someone is big and not round then they are kind. Anne is round."
    assert decide(ctx, "Bob is kind.") is Status.UNKNOWN  # not round is never stated: open world
    assert decide(ctx + " Bob is not round.", "Bob is kind.") is Status.TRUE
    assert decide("Red things are not kind. Harry is red.", "Harry is kind.") is Status.FALSE
    assert decide("Red things are not kind. Harry is red.", "Harry is big.") is Status.UNKNOWN


def test_no_contraposition_in_the_rule_semantics():
    # Classically ¬Rough(Harry) follows (Rough → Cold, ¬Cold(Harry)); ProofWriter's labels say Unknown.
    ctx = "Harry is not cold. Rough things are cold."
    assert decide(ctx, "Harry is not rough.") is Status.UNKNOWN


@pytest.mark.parametrize("sentence, word, col", [
    ("Bob likes to dance.", "'to'", 11),
    ("Bob is big or red.", "'or'", 12),
    ("Most cats are lazy.", "'Most'", 1),
    ("Some dogs bark loudly.", "'Some'", 1),
    ("If Bob is big.", None, 14),
])
def test_out_of_fragment_is_a_located_error(sentence, word, col):
    with pytest.raises(FormalizationError) as info:
        parse_sentence(sentence, where="sentence 4")
    (err,) = info.value.errors
    assert err.column == col and err.where == f"sentence 4, col {col}"
    if word:
        assert err.message.startswith(f"cannot attach {word}")
    else:
        assert err.message.startswith("sentence ends before")
    assert "controlled-English fragment" in err.hint


def test_problem_errors_name_each_sentence():
    res = parse_problem_english(["Bob is big. Bob likes to dance."], "Bob is big.")
    assert [e.where for e in res.errors] == ["sentence 2, col 11"]


def test_split_sentences():
    assert split_sentences("Bob is big. Anne is red!  Is Bob kind?") == ["Bob is big.", "Anne is red!", "Is Bob kind?"]


# ---- number agreement: one predicate for a noun's singular and plural, a verb's forms ----------

IRREGULAR = [("men", "man"), ("women", "woman"), ("children", "child"), ("mice", "mouse"), ("geese", "goose"),
             ("feet", "foot"), ("teeth", "tooth"), ("oxen", "ox"), ("cacti", "cactus"), ("fungi", "fungus"),
             ("criteria", "criterion"), ("phenomena", "phenomenon"), ("thieves", "thief"), ("wolves", "wolf"),
             ("lives", "life"), ("analyses", "analysis"), ("indices", "index"), ("alumni", "alumnus")]


@pytest.mark.parametrize("plural, singular", IRREGULAR)
def test_irregular_plurals_name_the_singulars_predicate(plural, singular):
    a = "an" if singular[0] in "aeiou" else "a"
    assert decide(f"All {plural} are mortal. Socrates is {a} {singular}.", "Socrates is mortal.") is Status.TRUE
    assert decide(f"{plural.capitalize()} are not blue. Socrates is {a} {singular}.", "Socrates is blue.") is Status.FALSE
    assert decide(f"All kings are {plural}. Arthur is a king.", f"Arthur is {a} {singular}.") is Status.TRUE


def test_the_syllogism_reads_as_one_predicate():
    res = parse_problem_english(["All men are mortal.", "Socrates is a man."], "Socrates is mortal.")
    assert res.premises == [parse_formula("∀x (Man(x) → Mortal(x))"), parse_formula("Man(Socrates)")]


def test_a_plural_with_two_singulars_takes_the_problems_own():
    # the dictionary's first singular of "leaves" is "leave"; the problem says "a leaf"
    assert decide("Leaves are green. Max is a leaf.", "Max is green.") is Status.TRUE


INVENTED = ["wumpus", "jompus", "yumpus", "dumpus", "tumpus", "impus", "vumpus", "numpus", "rompus", "zumpus",
            "sterpus", "lorpus", "lempus", "grimpus", "gorpus", "brimpus", "shumpus"]


def test_invented_nouns_singular_and_plural_and_after_no():
    """ProntoQA's nouns are in no dictionary: the regular rules and the problem's own nouns decide."""
    for noun in INVENTED:
        plural = noun + "es"
        assert decide(f"{plural.capitalize()} are red. Max is a {noun}.", "Max is red.") is Status.TRUE, noun
        assert decide(f"Every {noun} is cold. Wren is a {noun}. {plural.capitalize()} are not red.",
                      "Wren is red.") is Status.FALSE, noun
        # "No jompus is …": a singular head after "no", not a plural to strip
        assert decide(f"No {noun} is shy. Wren is a {noun}.", "Wren is shy.") is Status.FALSE, noun


VERBS = [("eats", "eat"), ("chases", "chase"), ("sees", "see"), ("visits", "visit"), ("likes", "like"), ("needs", "need"),
         ("watches", "watch"), ("carries", "carry"), ("has", "have"), ("focuses", "focus")]


def test_a_verbs_forms_name_one_predicate():
    for third, base in VERBS:
        ctx = f"If someone is big then they {base} the cat. Bob is big. The dog does not {base} the cat."
        assert decide(ctx, f"Bob {third} the cat.") is Status.TRUE, base
        assert decide(ctx, f"The dog {third} the cat.") is Status.FALSE, base
    # the dictionary reads forms in -s only: "saw" (the past of "see", and a verb of its own) is not Sees
    assert en("Bob saw the cat.") == parse_formula("Saws(Bob, the_cat)")
