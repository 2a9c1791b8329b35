"""Python-dialect ``i`` and ``a`` flags read as ``re`` reads them.

Found by differential fuzzing against ``re`` (session 20): case folding linked code points by
``str.lower``/``upper`` (so ``İ``, whose ``lower()`` is two characters, never met ``i``, and
``(?i)[^i]`` accepted ``İ``: a wrong accept), ``(?ai)`` still folded non-ASCII letters
(``(?ai)é`` accepted ``É``), and a scoped ``(?a:...)`` was ignored by ``\\b``. ``re``: two code
points match under ``i`` when their simple lowercase mappings are equal or joined by its extra
cases; under ``a`` only ASCII letters fold, and ``\\b`` reads ASCII ``\\w`` wherever ``a`` is in force.
"""

from __future__ import annotations

import random
import re

import pytest

from constrain.frontends.regex import regex_to_dfa
from constrain.frontends.regex.charsets import _fold_table

# every code point in a Python fold orbit, plus the ones re treats specially
SPECIAL = "iIİıKkKsSſΐΐΰΰﬅﬆßẞµΜμéÉǅǄǆΣσς"


def _agree(pattern: str, texts) -> list:
    d = regex_to_dfa(pattern, dialect="python")
    return [(pattern, t, bool(re.fullmatch(pattern, t))) for t in texts
            if d.matches(t.encode("utf-8")) != bool(re.fullmatch(pattern, t))]


def test_ignorecase_literals_and_negated_classes_match_re():
    cps, orbits = _fold_table(True)
    rng = random.Random(0)
    chars = sorted(set(SPECIAL) | {chr(int(c)) for c in rng.sample(list(cps), 150)})
    texts = sorted(set(SPECIAL) | {chr(m) for c in chars for m in orbits[int(cps.searchsorted(ord(c)))]} | {"a", "0"})
    bad = []
    for c in chars:
        e = re.escape(c)
        bad += _agree(f"(?i){e}", texts)
        bad += _agree(f"(?i)[^{e}]", texts)
    assert bad == []


@pytest.mark.parametrize("pattern", [r"(?i)[a-z]", r"(?i)[^a-z]", r"(?i)[^a-zé]", r"(?i)\w", r"(?i)[k-s]"])
def test_ignorecase_classes_match_re(pattern):
    assert _agree(pattern, SPECIAL + "azAZ_0") == []


@pytest.mark.parametrize("pattern", [r"(?ai)é", r"(?ai)k", r"(?ai)[a-z]", r"(?ai)s", r"(?ai)ß", r"(?a)(?i:é)",
                                     r"(?i:(?a:k))", r"(?ai)[^k]"])
def test_ascii_ignorecase_folds_ascii_only(pattern):
    assert _agree(pattern, SPECIAL + "azAZ") == []


@pytest.mark.parametrize("pattern", [r"é(?a:\b)", r"(?a:é\b)", r"(?a:\w\b)", r"é\b", r"(?a:-\B)", r"(?a:\B)é",
                                     r"a(?a:\b)é", r"(?a)é\b"])
def test_word_boundary_reads_the_flags_in_force(pattern):
    texts = ["", "é", "a", "-", "aé", "éa", "é-", "-é", "ab"]
    assert _agree(pattern, texts) == []
