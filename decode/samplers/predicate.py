"""Constraints as the weighted samplers walk them: a compiled grammar, or two Python checks.

Why a small walker type instead of the ``Matcher`` itself: AWRS only ever asks "is this one
token allowed here?", which a plain Python predicate over the bytes so far can answer as well
as a compiled automaton (a semantic check, a type checker, a database lookup...).  The
samplers see one interface, :class:`Walker`: ``allowed(token)``, ``advance(token)``,
``copy()``, and, for compiled constraints only, ``fill_mask`` (the exact-mask proposal needs
the whole mask, which a predicate cannot give without checking every token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from constrain.matcher import Matcher
from constrain.tokens.vocab import Vocabulary

__all__ = ["MatcherWalker", "Predicate", "PredicateWalker", "Walker"]


@dataclass(frozen=True)
class Predicate:
    """A constraint given as two Python functions of the output's bytes so far.

    ``prefix_ok(data)``: may ``data`` be continued into a complete output (it is called on
    the bytes *after* a candidate token, so it decides whether that token is allowed);
    ``complete_ok(data)``: may the output end here (decides whether EOS is allowed).

    Only samplers that check single tokens accept it (``decode.sample`` with
    ``method="awrs"``, or ``method="smc"`` with ``proposal="awrs"``): a full mask would call
    ``prefix_ok`` once per vocabulary entry at every step.  As with a compiled constraint, a
    ``prefix_ok`` that admits dead ends (prefixes with no complete continuation) is allowed;
    the weights then account for them (a particle that can go nowhere gets weight 0).
    """

    prefix_ok: Callable[[bytes], bool]
    complete_ok: Callable[[bytes], bool]


class Walker(Protocol):
    """One sequence's position in a constraint."""

    def allowed(self, token: int) -> bool: ...

    def advance(self, token: int) -> None: ...

    def copy(self) -> "Walker": ...


class MatcherWalker:
    """A compiled constraint: a ``Matcher`` (single-token checks and full masks)."""

    __slots__ = ("matcher",)
    has_mask = True

    def __init__(self, matcher: Matcher):
        self.matcher = matcher

    def allowed(self, token: int) -> bool:
        return self.matcher.is_allowed(token)

    def advance(self, token: int) -> None:
        if not self.matcher.advance(token):
            raise AssertionError(f"token {token} was drawn but the matcher refuses it")

    def fill_mask(self, out, row: int) -> None:
        self.matcher.fill_mask(out, row)

    def copy(self) -> "MatcherWalker":
        return MatcherWalker(self.matcher.copy())


class PredicateWalker:
    """A :class:`Predicate`: the bytes so far, checked token by token (no mask)."""

    __slots__ = ("predicate", "vocab", "eos", "data")
    has_mask = False

    def __init__(self, predicate: Predicate, vocab: Vocabulary, data: bytes = b""):
        self.predicate = predicate
        self.vocab = vocab
        self.eos = frozenset(int(e) for e in np.asarray(vocab.eos_ids).tolist())
        self.data = data

    def allowed(self, token: int) -> bool:
        if token in self.eos:
            return bool(self.predicate.complete_ok(self.data))
        piece = self.vocab.token_bytes[token]
        if piece is None:  # special / padding ids never spell text
            return False
        return bool(self.predicate.prefix_ok(self.data + piece))

    def advance(self, token: int) -> None:
        if token not in self.eos:
            self.data += self.vocab.token_bytes[token]

    def copy(self) -> "PredicateWalker":
        w = PredicateWalker.__new__(PredicateWalker)
        w.predicate, w.vocab, w.eos, w.data = self.predicate, self.vocab, self.eos, self.data
        return w
