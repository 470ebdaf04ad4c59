"""Controlled English → first-order logic, deterministic: the offline parser and the symbolic baseline.

The fragment (README, "Controlled English") covers the sentences of ProofWriter and PrOntoQA and
the like: facts about named entities and definite descriptions, copula with adjectives and nouns,
transitive verbs, negation, generic and quantified class statements with adjective lists and
relative clauses, and conditionals over someone/something or named entities. A sentence outside
the fragment is a located error naming the sentence and the first word that could not be
attached — never a guessed formula.

No word list is written in: word classes come from syntax, and one pass over the whole problem
collects the nouns (after a/an/each/every, plural subjects), so that ``wumpuses`` and ``wumpus``
or ``eats`` and ``eat`` name one predicate. Irregular forms (``men``/``man``, ``mice``/``mouse``,
``has``/``have``) come from a dictionary (``parsers.lemmas``); a word it does not know, such as
ProntoQA's invented nouns, is matched against the problem's own nouns by the regular -s rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from parsers.errors import FormalizationError, LocatedError, locate
from parsers.lemmas import is_known, noun_lemmas, third_person_forms, verb_lemmas
from parsers.fol.nodes import And, Atom, Const, Forall, Formula, Implies, Not, Var

__all__ = ["parse_problem_english", "parse_sentence", "split_sentences", "Lexicon", "EnglishResult"]

X = Var("x")
GENERIC_HEADS = {"thing", "things", "person", "people", "one", "ones", "someone", "something", "everyone", "everything"}
INDEFINITE = {"someone", "something", "somebody"}
PRONOUNS = {"it", "they", "he", "she", "them", "him", "her"}
QUANTS = {"all", "every", "each", "no", "any"}
RELATIVE = {"that", "who", "which"}
COPULA = {"is", "are"}
AUX = {"does", "do"}
STOP = {"and", "then", ",", ".", "?", "!"}
# Determiners and connectives outside the fragment: a closed class, rejected rather than misread
# as adjectives ("Most cats are lazy" must not become ∀x (Most(x) ∧ Cat(x) → Lazy(x))).
UNSUPPORTED = {"most", "some", "many", "few", "several", "both", "either", "neither", "only", "none", "nobody",
               "nothing", "or", "nor", "but", "unless", "because", "when", "whenever", "although", "if"}
FUNCTION_WORDS = QUANTS | RELATIVE | COPULA | AUX | PRONOUNS | INDEFINITE | UNSUPPORTED | {"the", "a", "an", "not", "and", "then"}

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+|[,.;?!]")


def split_sentences(text: str) -> list[str]:
    """Sentences of a context paragraph (ends at . ! ? followed by space or end)."""
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return [p.strip() for p in parts if p.strip()]


@dataclass
class Tok:
    text: str
    low: str
    col: int  # 1-based column in the sentence


def tokenize(sentence: str) -> list[Tok]:
    return [Tok(m.group(), m.group().lower(), m.start() + 1) for m in _TOKEN.finditer(sentence)]


# ---- morphology --------------------------------------------------------------------------------

def _add_s(word: str, takes_es: str) -> str:
    """English -s suffix: -es after the endings in ``takes_es``, -ies after consonant + y."""
    if re.search(takes_es, word):
        return word + "es"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + "s"


def pluralize(noun: str) -> str:
    return _add_s(noun, r"(s|x|z|ch|sh)$")


def third_person(verb: str) -> str:
    """Base form → third person singular (the predicate name of a verb): goes, watches, carries."""
    return _add_s(verb, r"(s|x|z|ch|sh|o)$")


def _guess_singular(plural: str) -> str:
    """The regular rules, for a word the dictionary does not know (``wumpuses`` → wumpus; a word in
    -us is singular already: ``jompus``)."""
    if plural.endswith("ies") and len(plural) > 4:
        return plural[:-3] + "y"
    if re.search(r"(ss|x|z|ch|sh|us)es$", plural):
        return plural[:-2]
    if plural.endswith("s") and not plural.endswith(("ss", "us")):
        return plural[:-1]
    return plural


def verb_predicate(verb: str, base: bool = False) -> str:
    """The predicate name of a verb, its third person singular, whichever form is written: ``eat`` and
    ``eats``, ``have`` and ``has``, ``focus`` and ``focuses`` name one predicate. ``base``: the word
    is known to be a base form (after ``does not``). Other forms (``saw``) are not read as present."""
    if base:
        return _third_of(verb)
    for lemma in verb_lemmas(verb):
        if verb == lemma:
            return _third_of(lemma)
        if verb.endswith("s") and (verb == third_person(lemma) or verb in third_person_forms(lemma)):
            return verb
    # not in the dictionary: a form in -s is taken as the third person, anything else as the base
    return verb if verb.endswith("s") and not verb.endswith("ss") else third_person(verb)


def _third_of(base: str) -> str:
    regular = third_person(base)
    if base in verb_lemmas(regular) or not verb_lemmas(base):  # regular, or a word the dictionary lacks
        return regular
    return next(iter(third_person_forms(base)), regular)  # have → has


@dataclass
class Lexicon:
    """Nouns of one problem, collected from every sentence before any is translated."""

    nouns: set[str] = field(default_factory=set)
    plural_subjects: set[str] = field(default_factory=set)

    @classmethod
    def collect(cls, sentences: list[str]) -> "Lexicon":
        lex = cls()
        for s in sentences:
            toks = [t.low for t in tokenize(s)]
            for i, w in enumerate(toks[:-1]):
                if w in ("a", "an", "every", "each") and toks[i + 1] not in FUNCTION_WORDS:
                    # "a big red dog": the noun is the last word before a function word / punctuation
                    j = i + 1
                    while j + 1 < len(toks) and toks[j + 1] not in FUNCTION_WORDS and toks[j + 1] not in STOP:
                        j += 1
                    lex.nouns.add(toks[j])
            # "Wumpuses are red", "All cats are ...": a plural subject right before "are"
            if "are" in toks:
                k = toks.index("are")
                if k >= 1 and toks[k - 1] not in FUNCTION_WORDS and toks[k - 1] not in STOP:
                    lex.plural_subjects.add(toks[k - 1])
        return lex

    def singular(self, plural: str) -> str:
        """The problem's own noun whose plural this is (by the regular rules, or the old -en plural
        the dictionary lacks: ``oxen`` beside "an ox"); else the dictionary's singular (one the
        problem uses first: ``leaves`` → leaf beside "a leaf"); else the regular rules."""
        noun = self._own_noun(plural)
        if noun is not None:
            return noun
        lemmas = noun_lemmas(plural)
        if lemmas:
            return next((n for n in lemmas if n in self.nouns), plural if plural in lemmas else lemmas[0])
        return _guess_singular(plural)

    def is_noun_plural(self, word: str) -> bool:
        """A plural subject of the problem, or a plural of one of its nouns ("All kings are men" beside
        "a man"); an adjective is neither."""
        if word in self.plural_subjects or self._own_noun(word) is not None:
            return True
        return bool(self.nouns) and any(n != word and n in self.nouns for n in noun_lemmas(word))

    def _own_noun(self, plural: str) -> str | None:
        for noun in self.nouns:
            if plural == pluralize(noun) or (plural == noun + "en" and not is_known(plural)):  # not "wooden"
                return noun
        return None


def _pred(word: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-'’]", word) if part)


# ---- the parser ----------------------------------------------------------------------------------

class _Fail(Exception):
    def __init__(self, tok: Tok | None, expected: str):
        self.tok, self.expected = tok, expected


@dataclass
class EnglishResult:
    premises: list[Formula]
    conclusion: Formula | None
    errors: list[LocatedError]


class _Sentence:
    """Recursive descent over one sentence's tokens. Entities: Const; someone/something/it: x."""

    def __init__(self, text: str, lex: Lexicon):
        self.text = text
        self.toks = [t for t in tokenize(text) if t.low not in (".", "!", "?")]
        self.i = 0
        self.lex = lex
        self.uses_var = False

    # -- token helpers
    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def low(self, k: int = 0) -> str:
        t = self.peek(k)
        return t.low if t else ""

    def take(self, *words: str) -> Tok:
        t = self.peek()
        if t is None or (words and t.low not in words):
            raise _Fail(t, " or ".join(repr(w) for w in words) if words else "a word")
        self.i += 1
        return t

    def accept(self, *words: str) -> bool:
        if self.low() in words:
            self.i += 1
            return True
        return False

    def content(self, what: str) -> Tok:
        t = self.peek()
        if t is None or t.low in FUNCTION_WORDS or t.low in STOP or not t.text[0].isalpha():
            raise _Fail(t, what)
        self.i += 1
        return t

    # -- entry
    def parse(self) -> Formula:
        bad = next((t for t in self.toks if t.low in UNSUPPORTED and not (t is self.toks[0] and t.low == "if")), None)
        if bad is not None:
            raise _Fail(bad, f"words of the fragment ({bad.low!r} is not in it: all, every, each, no, and, not, if … then)")
        if self.low() == "if":
            self.i += 1
            f = self.conditional()
        elif self._generic_ahead():
            f = self.generic()
        else:
            f = self.clauses()
        if self.peek() is not None:
            raise _Fail(self.peek(), "the end of the sentence")
        if self.uses_var:
            f = Forall("x", f)
        return f

    # -- conditionals: If C1 and C2 [then|,] D1 and D2
    def conditional(self) -> Formula:
        cond = self.clauses(stop_at_new_clause=True)
        self.accept(",")
        self.accept("then")
        cons = self.clauses()
        return Implies(cond, cons)

    def clauses(self, stop_at_new_clause: bool = False) -> Formula:
        parts = [self.clause()]
        while self.low() == "and" and self._subject_ahead(1):
            self.i += 1
            parts.append(self.clause())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def clause(self) -> Formula:
        subj = self.subject()
        return self.vp(subj)

    # -- noun phrases
    def _subject_ahead(self, k: int = 0) -> bool:
        w = self.peek(k)
        if w is None:
            return False
        return w.low in INDEFINITE or w.low in PRONOUNS or w.low == "the" or (w.text[0].isupper() and w.low not in FUNCTION_WORDS)

    def _noun_phrase(self, what: str, description):
        """someone/something/pronoun → x; ``the …`` → ``description()``; a capitalised name → constant."""
        t = self.peek()
        if t is not None and (t.low in INDEFINITE or t.low in PRONOUNS):
            self.i += 1
            self.uses_var = True
            return X
        if t is not None and t.low == "the":
            return description()
        if t is not None and t.text[0].isupper() and t.low not in FUNCTION_WORDS:
            return self.name()
        raise _Fail(t, what)

    def subject(self):
        return self._noun_phrase("a subject (a name, the …, someone, something, it, they)", self.description)

    def name(self) -> Const:
        words = [self.take().text]
        while self.peek() is not None and self.peek().text[0].isupper() and self.low() not in FUNCTION_WORDS:
            words.append(self.take().text)
        return Const("_".join(words))

    def description(self) -> Const:
        """``the`` + words up to the verb or a clause boundary: "the bald eagle" → the_bald_eagle."""
        self.take("the")
        words = [self.content("a noun after 'the'").low]
        while True:
            w = self.peek()
            if w is None or w.low in FUNCTION_WORDS or w.low in STOP:
                break
            nxt = self.peek(1)
            # a word ending in -s followed by an object starter is the verb ("the cat eats the dog")
            if w.low.endswith("s") and nxt is not None and (nxt.low in ("the",) or nxt.low in INDEFINITE
                                                            or nxt.low in PRONOUNS or nxt.text[0].isupper()):
                break
            words.append(self.take().low)
        return Const("the_" + "_".join(words))

    def obj(self):
        return self._noun_phrase("an object (the …, a name, someone, something, it)", self._object_description)

    def _object_description(self) -> Const:
        """``the`` + words up to a function word or the end: "the bald eagle"."""
        self.take("the")
        words = [self.content("a noun after 'the'").low]
        while self.peek() is not None and self.low() not in FUNCTION_WORDS and self.low() not in STOP:
            words.append(self.take().low)
        return Const("the_" + "_".join(words))

    # -- verb phrases: is [not] ADJ [and [not] ADJ]* | is [not] a NOUN | [does not] VERB OBJ
    def vp(self, subj) -> Formula:
        parts = [self.predicate(subj)]
        while self.low() == "and" and not self._subject_ahead(1) and self.low(1) not in ("then",):
            self.i += 1
            parts.append(self.predicate(subj, continued=True))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def predicate(self, subj, continued: bool = False) -> Formula:
        t = self.peek()
        if t is None:
            raise _Fail(t, "a verb (is, are, or a verb such as eats)")
        if t.low in COPULA:
            self.i += 1
            return self.complement(subj)
        if t.low in AUX:
            self.i += 1
            self.take("not")
            verb = self.content("a verb after 'does not'")
            return Not(Atom(_pred(verb_predicate(verb.low, base=True)), (subj, self.obj())))
        if continued:  # "is big and not round", "is big and red"
            return self.complement(subj)
        verb = self.content("a verb (is, are, or a verb such as eats)")
        # "it eats" and "they eat" name one predicate: the third person singular form
        return Atom(_pred(verb_predicate(verb.low)), (subj, self.obj()))

    def complement(self, subj) -> Formula:
        neg = self.accept("not")
        if self.low() in ("a", "an"):
            self.i += 1
            words = [self.content("a noun after 'a'").low]
            while self.peek() is not None and self.low() not in FUNCTION_WORDS and self.low() not in STOP:
                words.append(self.take().low)
            atoms = [Atom(_pred(w), (subj,)) for w in words]
            body = atoms[0] if len(atoms) == 1 else And(tuple(atoms))
        else:
            w = self.content("an adjective or 'a' + noun")
            name = self.lex.singular(w.low) if self.lex.is_noun_plural(w.low) else w.low
            body = Atom(_pred(name), (subj,))
        return Not(body) if neg else body

    # -- generic statements: [All|Every|Each|No] [ADJ[,] ]* HEAD [that VP] (are|is) [not] COMPLEMENT
    def _generic_ahead(self) -> bool:
        if self.low() in QUANTS:
            return True
        j = 0
        while self.peek(j) is not None and (self.low(j) not in FUNCTION_WORDS or self.low(j) == ","):
            j += 1
        # "Red, cold things are …", "Wumpuses are …", "Big things that are kind are …"
        if j == 0 or self.low(j) not in ("are", "that", "who", "which"):
            return False
        head = self.low(j - 1)
        return head in GENERIC_HEADS or (self.low(j) == "are" and not self.peek(0).text[0].isupper()) \
            or self.lex.is_noun_plural(head) or (j > 1 and self.low(j) == "are")

    def generic(self) -> Formula:
        quant = self.low() if self.low() in QUANTS else ""
        if quant:
            self.i += 1
        restrictions: list[Formula] = []
        words: list[Tok] = []
        while self.peek() is not None and (self.low() not in FUNCTION_WORDS or self.low() == ","):
            t = self.take()
            if t.low != ",":
                words.append(t)
        if not words:
            raise _Fail(self.peek(), "a noun or adjectives after the quantifier")
        *mods, head = words
        restrictions += [Atom(_pred(m.low), (X,)) for m in mods]
        if head.low not in GENERIC_HEADS:  # "every man is", "no man is": singular; "all men are": plural
            singular = quant in ("every", "each") or self.low() == "is"
            noun = head.low if singular else self.lex.singular(head.low)
            restrictions.append(Atom(_pred(noun), (X,)))
        if self.low() in RELATIVE:
            self.i += 1
            restrictions.append(self.vp(X))
        if self.low() not in COPULA:
            raise _Fail(self.peek(), "'are' or 'is'")
        self.i += 1
        cons = self.complement(X)
        extra = []
        while self.low() == "and":
            self.i += 1
            self.accept("is", "are")
            extra.append(self.complement(X))
        if extra:
            cons = And((cons,) + tuple(extra))
        if quant == "no":
            cons = Not(cons)
        self.uses_var = True
        if not restrictions:  # "All things are red"
            return cons
        ante = restrictions[0] if len(restrictions) == 1 else And(tuple(restrictions))
        return Implies(ante, cons)


def parse_sentence(sentence: str, lex: Lexicon | None = None, where: str = "") -> Formula:
    """One sentence → formula; raise FormalizationError naming the first word that does not fit."""
    lex = lex or Lexicon.collect([sentence])
    s = _Sentence(sentence, lex)
    if not s.toks:
        raise FormalizationError(locate("parse", "empty sentence", where=where))
    try:
        return s.parse()
    except _Fail as fail:
        tok = fail.tok
        if tok is None:
            col = len(sentence.rstrip().rstrip(".!?")) + 1
            msg = f"sentence ends before {fail.expected}"
        else:
            col = tok.col
            msg = f"cannot attach {tok.text!r}: expected {fail.expected}"
        raise FormalizationError(locate(
            "parse", msg, text=sentence, line=1, column=col, where=where,
            hint="outside the controlled-English fragment (see README); rephrase or use --parser llm")) from None


def parse_problem_english(premises: list[str], conclusion: str | None) -> EnglishResult:
    """Every premise sentence and the conclusion; errors collected per sentence, never guessed."""
    sentences = [s for p in premises for s in split_sentences(p)]
    lex = Lexicon.collect(sentences + ([conclusion] if conclusion else []))
    out, errors = [], []
    for i, s in enumerate(sentences):
        try:
            out.append(parse_sentence(s, lex, where=f"sentence {i + 1}"))
        except FormalizationError as exc:
            errors += exc.errors
    concl = None
    if conclusion:
        try:
            concl = parse_sentence(conclusion.strip(), lex, where="conclusion")
        except FormalizationError as exc:
            errors += exc.errors
    return EnglishResult(out, concl, errors)
