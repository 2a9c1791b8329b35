"""The grammar IR: rules over lexemes, and their compilation to a recursive transition network.

Every front-end (JSON Schema, Lark, regex) produces a :class:`Grammar`: named rules whose
bodies are expressions over *lexemes* (regular byte languages, each with its own minimized
:class:`~constrain.automata.ByteDFA`) and references to other rules. Lexemes carry a
canonical ``key`` so that their token tables (the expensive, vocabulary-wide part) are shared
by every grammar that uses the same lexeme -- the JSON string lexeme, for example, is
computed once per vocabulary and process.
:func:`~constrain.ir.rtn.compile_rtn` turns the rules into a recursive transition network.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..automata.minimize import acyclic_order
from ..automata.sharing import share_dfa
from ..budget import current_location, schema_location
from ..cache import cache_budget, on_budget_change, register
from ..errors import GrammarError

__all__ = ["Alt", "EMPTY", "Expr", "Grammar", "Lex", "Lexeme", "Member", "Members", "NOTHING", "Nfa", "Ref", "Repeat",
           "Seq", "alt",
           "collect_refs", "is_nothing", "lexeme", "map_refs", "opt", "plus", "seq", "star", "subst_refs"]


# --------------------------------------------------------------------------- lexemes


class Lexeme:
    """A regular byte language used as a terminal; its DFA is built lazily and shared by key."""

    __slots__ = ("key", "name", "_build", "_dfa", "_lock", "minus", "_where")

    def __init__(self, key: str, build: Callable[[], "object"], name: str | None = None):
        self.key = key
        self.name = name or key
        self._build = build
        self._dfa = None
        self._lock = threading.Lock()
        # the schema keyword and pointer being compiled when the lexeme was made: the DFA is
        # often built later (Compiled builds every lexeme), and a budget error should name them
        self._where = current_location() or (None, None)
        # (base, excluded): this lexeme's language is base's minus excluded's, excluded being
        # narrow (a few declared names); token tables then derive rows from base's rows
        self.minus: tuple["Lexeme", "Lexeme"] | None = None

    @property
    def dfa(self):
        if self._dfa is None:
            lock = self._lock
            if lock is None:  # built meanwhile: _dfa is set before the lock is dropped
                return self._dfa
            with lock:
                if self._dfa is None:
                    with schema_location(*self._where):
                        dfa = self._build()
                    if dfa.accept[0]:
                        raise GrammarError(f"lexeme {self.name!r} matches the empty string")
                    # an equal DFA already alive (another key, same language): share it,
                    # and with it the token table (tokens.tables looks tables up by DFA)
                    self._dfa = share_dfa(dfa)
                    # the registry keeps lexemes across schemas: drop the closure (and the
                    # schema pieces it holds) once its DFA exists, and the lock (a lock is
                    # an object the garbage collector walks, one per cached lexeme)
                    self._build = None
                    self._lock = None
        return self._dfa

    def is_empty(self) -> bool:
        """Whether the language is empty, without building the DFA of a "B minus F" lexeme
        whose B is infinite and F finite (the keys of additional properties: a token table
        derives such a lexeme from B and F, and its own DFA is never needed)."""
        if self._dfa is None and self.minus is not None:
            base, excluded = self.minus
            b, f = base.dfa, excluded.dfa
            if (not getattr(b, "counted", False) and not getattr(f, "counted", False)
                    and is_infinite(b) and not is_infinite(f)):
                return False  # an infinite language minus finitely many words keeps words
        return self.dfa.is_empty()

    def __repr__(self) -> str:
        return f"Lexeme({self.name!r})"


_INFINITE: "weakref.WeakKeyDictionary[object, bool]" = weakref.WeakKeyDictionary()


def is_infinite(dfa) -> bool:
    """Whether a trimmed DFA's language is infinite: a cycle among its (all live) states.
    (Lexeme DFAs are trimmed; ``glue`` may leave the right part's start unreachable, never
    on a cycle.) Kept per DFA (weakly)."""
    r = _INFINITE.get(dfa)
    if r is None:
        T = np.asarray(dfa.table, dtype=np.int64)
        src, col = np.nonzero(T >= 0)
        r = _INFINITE[dfa] = len(acyclic_order(T.shape[0], src, T[src, col])) < T.shape[0]
    return r


_LEXEMES: "OrderedDict[str, Lexeme]" = OrderedDict()  # least recently used first
_LEXEMES_LOCK = threading.Lock()
_LEXEME_REGISTRY_LIMIT = 50_000
# the built DFAs' bytes are bounded by constrain.set_cache_budget, checked every
# _TRIM_EVERY new lexemes (DFAs are built after interning, so a check sums them) and
# whenever the budget changes
_TRIM_EVERY = 64
_NEW = [0]


def _clear_lexemes() -> None:
    with _LEXEMES_LOCK:
        _LEXEMES.clear()


def lexeme_bytes(lx: Lexeme) -> int:
    """Bytes of ``lx``'s DFA arrays (0 until it is built)."""
    return int(getattr(lx._dfa, "nbytes", 0)) if lx._dfa is not None else 0


def _trim_lexemes() -> None:
    """Drop least recently used lexemes until their DFAs fit :func:`cache_budget`. Grammars
    alive hold their own lexemes; a later schema with a dropped key builds its DFA again."""
    budget = cache_budget()
    if budget is None:
        return
    with _LEXEMES_LOCK:
        total = sum(lexeme_bytes(lx) for lx in _LEXEMES.values())
        while _LEXEMES and total > budget:
            _, lx = _LEXEMES.popitem(last=False)
            total -= lexeme_bytes(lx)


register("constrain.grammar.lexemes", _clear_lexemes, lambda: len(_LEXEMES))
on_budget_change("constrain.grammar.lexemes", _trim_lexemes)


def lexeme(key: str, build: Callable[[], object], name: str | None = None) -> Lexeme:
    """The interned lexeme for ``key`` (``build`` runs at most once per key while it stays
    interned)."""
    with _LEXEMES_LOCK:
        lx = _LEXEMES.get(key)
        trim = False
        if lx is None:
            if len(_LEXEMES) >= _LEXEME_REGISTRY_LIMIT:
                _LEXEMES.popitem(last=False)
            lx = _LEXEMES[key] = Lexeme(key, build, name)
            _NEW[0] += 1
            trim = _NEW[0] % _TRIM_EVERY == 0
        else:
            _LEXEMES.move_to_end(key)
            if lx._dfa is None and current_location() is not None:
                lx._where = current_location()  # not built yet: errors name the latest user
    if trim:
        _trim_lexemes()
    return lx


# --------------------------------------------------------------------------- expressions


class Expr:
    """Base class of grammar expressions (immutable trees)."""

    __slots__ = ()


@dataclass(frozen=True, eq=False)
class Lex(Expr):
    lexeme: Lexeme


@dataclass(frozen=True, eq=False)
class Ref(Expr):
    name: str


@dataclass(frozen=True, eq=False)
class Seq(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Alt(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Repeat(Expr):
    item: Expr
    min: int = 0
    max: int | None = None


@dataclass(frozen=True, eq=False)
class Nfa(Expr):
    """A hand-built automaton whose edges are expressions.

    Front-ends use it where a tree would repeat shared suffixes (ordered optional object
    properties: the states are "next property index" x "something emitted yet", linear in the
    number of properties, where a tree would be quadratic).
    """

    n_states: int
    start: int
    finals: frozenset[int]
    edges: tuple[tuple[int, int, Expr], ...]


@dataclass(frozen=True, eq=False)
class Member:
    """One kind of object member of :class:`Members`: a key lexeme and the value rules that may
    follow it, each with the witness flags it sets (``values``: ``(flags, rule name)``)."""

    key: Lexeme
    values: tuple[tuple[int, str], ...]
    required: bool = False
    #: this member's bit in the presence masks of ``Members.allowed`` (0: not tracked)
    presence: int = 0


@dataclass(frozen=True, eq=False)
class Members(Expr):
    """An object whose members come in any order: ``open (member (comma member)*)? close``.

    Each ``declared`` member appears at most once, the ``required`` ones all; ``extras``
    (pattern and additional properties, whose keys exclude the declared names) may repeat.
    The member count lies in ``[min_count, max_count]``, the presence mask of the declared
    members at the end is in ``allowed`` (None: any), and every one of the ``n_flags`` witness
    flags is set. The state is the set of members seen so far, so the automaton has up to
    2^n states: :mod:`constrain.ir.members` materialises only the states a parse visits.
    Values are rule names (the RTN calls them); ``where`` names the schema location.
    """

    open: Lexeme
    close: Lexeme
    comma: Lexeme
    colon: Lexeme
    declared: tuple[Member, ...]
    extras: tuple[Member, ...] = ()
    min_count: int = 0
    max_count: int | None = None
    allowed: frozenset[int] | None = None
    n_flags: int = 0
    where: str = ""

    def value_rules(self) -> list[str]:
        return [r for m in self.declared + self.extras for _, r in m.values]

    def renamed(self, f) -> "Members":
        """A copy with every value rule name ``n`` replaced by ``f(n)``."""
        def ren(ms):
            return tuple(Member(m.key, tuple((fl, f(r)) for fl, r in m.values), m.required, m.presence) for m in ms)
        return Members(self.open, self.close, self.comma, self.colon, ren(self.declared), ren(self.extras),
                       self.min_count, self.max_count, self.allowed, self.n_flags, self.where)


EMPTY: Expr = Seq(())
NOTHING: Expr = Alt(())


def seq(*items: Expr) -> Expr:
    flat: list[Expr] = []
    for it in items:
        if isinstance(it, Seq):
            flat.extend(it.items)
        else:
            flat.append(it)
    if any(it is NOTHING for it in flat):
        return NOTHING
    return flat[0] if len(flat) == 1 else Seq(tuple(flat))


def alt(*items: Expr) -> Expr:
    flat: list[Expr] = []
    for it in items:
        if isinstance(it, Alt):
            flat.extend(it.items)
        else:
            flat.append(it)
    return flat[0] if len(flat) == 1 else Alt(tuple(flat))


def opt(e: Expr) -> Expr:
    return Repeat(e, 0, 1)


def star(e: Expr) -> Expr:
    return Repeat(e, 0, None)


def plus(e: Expr) -> Expr:
    return Repeat(e, 1, None)


@dataclass
class Grammar:
    """Named rules over lexemes; ``start`` names the rule the whole output must match."""

    rules: dict[str, Expr]
    start: str
    # where each rule came from (JSON pointer, Lark rule/line), for error messages
    origins: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- walking expressions


def is_nothing(e: Expr) -> bool:
    return isinstance(e, Alt) and not e.items


def collect_refs(e: Expr, out: set[str]) -> None:
    stack = [e]
    seen: set[int] = set()
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, Ref):
            out.add(x.name)
        elif isinstance(x, (Seq, Alt)):
            stack.extend(x.items)
        elif isinstance(x, Repeat):
            stack.append(x.item)
        elif isinstance(x, Nfa):
            stack.extend(y for _, _, y in x.edges)
        elif isinstance(x, Members):
            out.update(x.value_rules())


def map_refs(e: Expr, f, memo: dict) -> Expr:
    """``e`` with every ``Ref(n)`` replaced by ``Ref(f(n))`` (shared sub-expressions stay shared)."""
    hit = memo.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    if isinstance(e, Ref):
        r: Expr = Ref(f(e.name))
    elif isinstance(e, (Seq, Alt)):
        r = e if not e.items else type(e)(tuple(map_refs(i, f, memo) for i in e.items))
    elif isinstance(e, Repeat):
        r = Repeat(map_refs(e.item, f, memo), e.min, e.max)
    elif isinstance(e, Nfa):
        r = Nfa(e.n_states, e.start, e.finals, tuple((a, b, map_refs(x, f, memo)) for a, b, x in e.edges))
    elif isinstance(e, Members):
        r = e.renamed(f)
    else:
        r = e
    memo[id(e)] = (e, r)
    return r


def subst_refs(e: Expr, f, memo: dict) -> Expr:
    """``e`` with ``Ref(n)`` replaced by ``f(n)`` where that is not None."""
    hit = memo.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    if isinstance(e, Ref):
        r = f(e.name)
        if r is None:
            r = e
    elif isinstance(e, Seq):
        r = e if not e.items else seq(*[subst_refs(i, f, memo) for i in e.items])
    elif isinstance(e, Alt):
        r = e if not e.items else alt(*[subst_refs(i, f, memo) for i in e.items])
    elif isinstance(e, Repeat):
        r = Repeat(subst_refs(e.item, f, memo), e.min, e.max)
    elif isinstance(e, Nfa):
        r = Nfa(e.n_states, e.start, e.finals, tuple((a, b, subst_refs(x, f, memo)) for a, b, x in e.edges))
    elif isinstance(e, Members):
        # values are called by name: a substitution may rename them, never inline them
        def rename(n: str) -> str:
            got = f(n)
            return got.name if isinstance(got, Ref) else n
        r = e.renamed(rename)
    else:
        r = e
    memo[id(e)] = (e, r)
    return r
