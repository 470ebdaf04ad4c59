"""English number agreement from a dictionary: men → man, mice → mouse, has → have, and back.

The tables are lemminflect's (the SPECIALIST lexicon, shipped in its wheel: no download). Only its
lookup tables are used, never its out-of-vocabulary models: a word the dictionary does not know
(ProntoQA's wumpuses) gets no answer here, and the caller falls back on the problem's own words and
the regular -s rules. Imported on first use (lemminflect brings numpy), and each answer is cached,
so a problem costs one dictionary load per process at most.
"""

from __future__ import annotations

import threading
from functools import lru_cache

__all__ = ["noun_lemmas", "verb_lemmas", "third_person_forms", "is_known"]

_LOAD = threading.Lock()  # lemminflect loads its tables lazily and without a lock
LONGEST = 48  # no dictionary word is longer: a longer token is answered (and cached) as unknown


def _word(word: str) -> str | None:
    return word.lower() if len(word) <= LONGEST else None


def _lemmas(word: str, upos: str) -> tuple[str, ...]:
    w = _word(word)
    return _lookup(w, upos) if w else ()


@lru_cache(maxsize=4096)
def _lookup(word: str, upos: str) -> tuple[str, ...]:
    with _LOAD:
        from lemminflect import getLemma

        return tuple(getLemma(word, upos=upos, lemmatize_oov=False))


def noun_lemmas(word: str) -> tuple[str, ...]:
    """Singular forms of ``word`` as a noun, most usual first (``leaves`` → leave, leaf); () if unknown.
    A word that is its own singular lists itself (``sheep``, ``glasses`` → glass, glasses)."""
    return _lemmas(word, "NOUN")


def verb_lemmas(word: str) -> tuple[str, ...]:
    """Base forms of ``word`` as a verb (``has`` → have, ``saw`` → see, saw); () if unknown."""
    return _lemmas(word, "VERB")


def is_known(word: str) -> bool:
    """Whether the dictionary has ``word`` at all, as any part of speech (``wooden``: yes; ``oxen``: no)."""
    w = _word(word)
    return bool(w) and _known(w)


@lru_cache(maxsize=4096)
def _known(word: str) -> bool:
    with _LOAD:
        from lemminflect import getAllLemmas

        return bool(getAllLemmas(word))


def third_person_forms(lemma: str) -> tuple[str, ...]:
    """Third person singular present of a base form (``have`` → has); () if the dictionary has none."""
    w = _word(lemma)
    return _third(w) if w else ()


@lru_cache(maxsize=4096)
def _third(lemma: str) -> tuple[str, ...]:
    with _LOAD:
        from lemminflect import getInflection

        return tuple(getInflection(lemma, tag="VBZ", inflect_oov=False))
