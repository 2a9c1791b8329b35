"""What the drafts are made of: the n-gram source picks a match whose next token is legal,
and adaptive drafting stops where the draft is unlikely to be kept (issue 14, speed work).

Both only change *which* point-mass drafts are proposed (functions of the past), so
exactness is untouched (test_speculative_exactness.py); here the proposals themselves."""

from __future__ import annotations

from constrain import compile_regex
from decode.speculative import Drafter, DraftContext, NgramDraft
from tests.decode.samplers import toys

A, B, AB, C, EOS = 0, 1, 2, 3, 4


def _walker(pattern: str, prefix=()):
    vocab = toys.toy_vocab()
    m = compile_regex(pattern, vocab).matcher()
    for t in prefix:
        assert m.advance(t)
    return vocab, m


def test_ngram_takes_the_latest_match_the_mask_allows():
    # history ... A C ... A B ... A | : the latest "A" is followed by B, an earlier one by C;
    # the language after "a" allows only "c", so the earlier match is the draft
    vocab, m = _walker("ac(ab)*", [A])
    history = [A, C, A, B, A, B, A]
    d = NgramDraft(1).propose(DraftContext(m, history, vocab), 3)
    assert d[:1] == [C]
    # with "b" legal as well, the latest match wins as before
    vocab, m = _walker("a[bc](ab)*", [A])
    assert NgramDraft(1).propose(DraftContext(m, history, vocab), 1) == [B]


def test_ngram_falls_back_to_a_shorter_legal_match():
    # the 2-gram "B A" was followed only by B (illegal after "a" here); the 1-gram "A" by C
    vocab, m = _walker("ac(ab)*", [A])
    history = [B, A, B, A, C, C, B, A]
    assert NgramDraft(2).propose(DraftContext(m, history, vocab), 1) == [C]


def test_ngram_without_a_legal_match_proposes_nothing():
    vocab, m = _walker("a[c]", [A])
    assert NgramDraft(3).propose(DraftContext(m, [A, B, A, B, A], vocab), 2) == []


class Fixed:
    name = "fixed"

    def __init__(self, tokens):
        self.tokens = tokens

    def propose(self, context, k):
        return self.tokens[:k]


def test_drafting_stops_where_the_draft_is_unlikely_kept():
    vocab, m = _walker("[ab]{1,8}")
    drafter = Drafter([Fixed([A, B, A, B, A, B, A, B])], vocab, frozenset([EOS]))
    assert len(drafter.draft(m, [C], budget=8, limit=8).tokens) == 8
    # kept with 0.5 each: 0.5, 0.25, 0.125 -> two tokens stay above 0.2
    d = drafter.draft(m, [C], budget=8, limit=8, rates={"fixed": 0.5}, min_prob=0.2)
    assert d.tokens == [A, B] and len(d.masks) == 3
    # a source that is rarely right still drafts one token (a pass with no draft yields one token)
    assert drafter.draft(m, [C], budget=8, limit=8, rates={"fixed": 0.01}, min_prob=0.2).tokens == [A]
    # one that is always right is not cut
    assert len(drafter.draft(m, [C], budget=8, limit=8, rates={"fixed": 1.0}, min_prob=0.2).tokens) == 8


def test_forced_tokens_do_not_lower_the_draft_probability():
    # "ab" then [ab]*: after A the only legal token is B (a one-token mask), certain when reached
    vocab, m = _walker("a(b)[ab]{0,6}")
    drafter = Drafter([Fixed([A, B, A, B, A])], vocab, frozenset([EOS]))
    d = drafter.draft(m, [C], budget=8, limit=8, rates={"fixed": 0.5}, min_prob=0.2)
    assert d.tokens == [A, B, A]
