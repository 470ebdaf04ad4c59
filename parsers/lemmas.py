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


@lru_cache(maxsize=4096)
def _lemmas(word: str, upos: str) -> tuple[str, ...]:
    with _LOAD:
        from lemminflect import getLemma

        return tuple(getLemma(word.lower(), upos=upos, lemmatize_oov=False))


def noun_lemmas(word: str) -> tuple[str, ...]:
    """Singular forms of ``word`` as a noun, most usual first (``leaves`` → leave, leaf); () if unknown.
    A word that is its own singular lists itself (``sheep``, ``glasses`` → glass, glasses)."""
    return _lemmas(word, "NOUN")


def verb_lemmas(word: str) -> tuple[str, ...]:
    """Base forms of ``word`` as a verb (``has`` → have, ``saw`` → see, saw); () if unknown."""
    return _lemmas(word, "VERB")


@lru_cache(maxsize=4096)
def is_known(word: str) -> bool:
    """Whether the dictionary has ``word`` at all, as any part of speech (``wooden``: yes; ``oxen``: no)."""
    with _LOAD:
        from lemminflect import getAllLemmas

        return bool(getAllLemmas(word.lower()))


@lru_cache(maxsize=4096)
def third_person_forms(lemma: str) -> tuple[str, ...]:
    """Third person singular present of a base form (``have`` → has); () if the dictionary has none."""
    with _LOAD:
        from lemminflect import getInflection

        return tuple(getInflection(lemma.lower(), tag="VBZ", inflect_oov=False))
