"""Left-recursion elimination: an IR transformation any front-end can use.

The RTN parser is a stack machine and rejects left recursion, which Lark grammars use freely
(``sum: sum "+" product | product``). :func:`eliminate_left_recursion` rewrites every
left-recursive group of rules (a strongly connected component of the "can start with" graph,
direct or indirect, through nullable prefixes too) without changing any rule's language:

1. nullable rules of the group are split into ``A = A+ | ε`` so the group is ε-free;
2. each rule body is decomposed (EBNF-aware) as ``A = Σ_B B·R_AB + S_A``, where ``S_A`` never
   starts with a rule of the group;
3. the left-linear system is solved as an automaton (:class:`~constrain.ir.Nfa`): states
   are the group's rules, edges ``start -S_B-> B`` and ``B -R_AB-> A``; ``A``'s body is the
   automaton with ``A`` final. ``sum`` becomes ``product ("+" product)*``: a loop, no stack.

Cyclic unit rules (``a: b | "x"``, ``b: a``) become epsilon edges of that automaton, so they
need no special error. An automaton expression that itself starts with a rule of a
left-recursive group (only hand-built IR does that) is a :class:`GrammarError`.

"""

from __future__ import annotations

from ..errors import GrammarError
from .grammar import (EMPTY, NOTHING, Alt, Expr, Lex, Members, Nfa, Ref, Repeat, Seq, alt, is_nothing, opt, seq,
                      subst_refs)
from .rtn import strongly_connected_components

__all__ = ["eliminate_left_recursion"]


class _Analysis:
    """Nullability and left corners of expressions, given nullable rules (memoized by node)."""

    def __init__(self, nullable: dict[str, bool]):
        self.nullable_rules = nullable
        self._null: dict[int, tuple[Expr, bool]] = {}
        self._left: dict[int, tuple[Expr, frozenset]] = {}

    def nullable(self, e: Expr) -> bool:
        hit = self._null.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        if isinstance(e, (Lex, Members)):  # an object starts with its "{" lexeme
            r = False
        elif isinstance(e, Ref):
            r = self.nullable_rules.get(e.name, False)
        elif isinstance(e, Seq):
            r = all(self.nullable(i) for i in e.items)
        elif isinstance(e, Alt):
            r = any(self.nullable(i) for i in e.items)
        elif isinstance(e, Repeat):
            r = e.min == 0 or e.max == 0 or self.nullable(e.item)
        elif isinstance(e, Nfa):
            reach = self._nfa_null_reach(e)
            r = bool(reach & e.finals)
        else:  # pragma: no cover
            raise TypeError(e)
        self._null[id(e)] = (e, r)
        return r

    def _nfa_null_reach(self, e: Nfa) -> set[int]:
        reach = {e.start}
        work = [e.start]
        while work:
            s = work.pop()
            for a, b, x in e.edges:
                if a == s and b not in reach and self.nullable(x):
                    reach.add(b)
                    work.append(b)
        return reach

    def left(self, e: Expr) -> frozenset:
        """Rules that can be called before anything is consumed in ``e``."""
        hit = self._left.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        if isinstance(e, (Lex, Members)):
            r: frozenset = frozenset()
        elif isinstance(e, Ref):
            r = frozenset([e.name])
        elif isinstance(e, Seq):
            acc: set[str] = set()
            for i in e.items:
                acc |= self.left(i)
                if not self.nullable(i):
                    break
            r = frozenset(acc)
        elif isinstance(e, Alt):
            acc = set()
            for i in e.items:
                acc |= self.left(i)
            r = frozenset(acc)
        elif isinstance(e, Repeat):
            r = frozenset() if e.max == 0 else self.left(e.item)
        elif isinstance(e, Nfa):
            reach = self._nfa_null_reach(e)
            acc = set()
            for a, _b, x in e.edges:
                if a in reach:
                    acc |= self.left(x)
            r = frozenset(acc)
        else:  # pragma: no cover
            raise TypeError(e)
        self._left[id(e)] = (e, r)
        return r


def _nullable_rules(rules: dict[str, Expr]) -> dict[str, bool]:
    nullable = {n: False for n in rules}
    changed = True
    while changed:
        changed = False
        an = _Analysis(nullable)  # fresh memo: results depend on the current map
        for n, body in rules.items():
            if not nullable[n] and an.nullable(body):
                nullable[n] = changed = True
    return nullable


def _left_graph(rules: dict[str, Expr], an: _Analysis) -> dict[str, frozenset]:
    return {n: frozenset(r for r in an.left(body) if r in rules) for n, body in rules.items()}


def _recursive_groups(graph: dict[str, frozenset]) -> list[list[str]]:
    return [c for c in strongly_connected_components(graph) if len(c) > 1 or c[0] in graph[c[0]]]


# =========================================================================== left recursion


def eliminate_left_recursion(rules: dict[str, Expr], origins: dict[str, str] | None = None) -> dict[str, Expr]:
    """Rules without left recursion, each deriving the same language as before.

    See the module docstring for the method. New helper rules are named ``"<rule>+"`` (the
    non-empty part of a nullable rule); ``origins`` (updated in place) says where they come
    from. Raises :class:`GrammarError` if a left-recursive group goes through a hand-built
    :class:`~constrain.ir.Nfa` expression.
    """
    rules = dict(rules)
    origins = origins if origins is not None else {}
    nullable = _nullable_rules(rules)
    an = _Analysis(nullable)
    groups = _recursive_groups(_left_graph(rules, an))
    if not groups:
        return rules
    for group in groups:  # sinks first: rules a group starts with are already rewritten
        _Solver(rules, origins, nullable, [n for n in rules if n in set(group)]).solve()
    # check
    nullable = _nullable_rules(rules)
    left = _recursive_groups(_left_graph(rules, _Analysis(nullable)))
    if left:  # pragma: no cover - the construction guarantees this
        names = ", ".join(origins.get(n, repr(n)) for n in left[0])
        raise GrammarError(f"could not remove left recursion through {names}")
    return rules


class _Solver:
    def __init__(self, rules: dict[str, Expr], origins: dict[str, str], nullable: dict[str, bool], group: list[str]):
        self.rules = rules
        self.origins = origins
        self.nullable_rules = nullable
        self.group = group
        self.an = _Analysis(nullable)
        self.plus: dict[str, str] = {}
        self.ne_rules: dict[str, str] = {}
        self._ne_memo: dict[int, tuple[Expr, Expr]] = {}
        self._dec_memo: dict[int, tuple[Expr, tuple]] = {}

    def fresh(self, base: str) -> str:
        name = base + "+"
        k = 2
        while name in self.rules:
            name = f"{base}+{k}"
            k += 1
        return name

    def where(self, name: str) -> str:
        return self.origins.get(name, repr(name))

    # -- non-empty parts -------------------------------------------------------------

    def nonempty(self, e: Expr) -> Expr:
        """An expression for the non-empty strings of ``e``."""
        if not self.an.nullable(e):
            return e
        hit = self._ne_memo.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        if isinstance(e, Ref):
            r: Expr = Ref(self.ne_rule(e.name))
        elif isinstance(e, Seq):
            parts = []
            items = e.items
            for k, it in enumerate(items):  # all items are nullable
                head = self.nonempty(it)
                if not is_nothing(head):
                    parts.append(seq(head, *items[k + 1:]))
            r = alt(*parts) if parts else NOTHING
        elif isinstance(e, Alt):
            parts = [p for p in (self.nonempty(i) for i in e.items) if not is_nothing(p)]
            r = alt(*parts) if parts else NOTHING
        elif isinstance(e, Repeat):
            if e.max == 0:
                r = NOTHING
            elif self.an.nullable(e.item):
                inner = self.nonempty(e.item)
                r = NOTHING if is_nothing(inner) else Repeat(inner, 1, e.max)
            else:
                r = Repeat(e.item, 1, e.max)
        elif isinstance(e, Nfa):
            raise GrammarError(f"left recursion through an automaton expression in {self.where(self.group[0])} "
                               "is not supported")
        else:  # pragma: no cover
            raise TypeError(e)
        self._ne_memo[id(e)] = (e, r)
        return r

    def ne_rule(self, name: str) -> str:
        """A rule for the non-empty strings of nullable rule ``name``."""
        got = self.ne_rules.get(name) or self.plus.get(name)
        if got is not None:
            return got
        if name not in self.rules:
            raise GrammarError(f"undefined rule {name!r}")
        nm = self.fresh(name)
        self.ne_rules[name] = nm
        self.nullable_rules[nm] = False
        self.rules[nm] = NOTHING
        self.origins[nm] = f"{self.where(name)} (non-empty part)"
        self.rules[nm] = self.nonempty(self.rules[name])
        return nm

    # -- decomposition ---------------------------------------------------------------

    def decomp(self, e: Expr) -> tuple[dict[str, Expr], Expr, bool]:
        """``e = Σ_X X·L[X] + S (+ ε if nullable)`` with ``S`` non-empty, not starting with X."""
        hit = self._dec_memo.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        gp = self.gp
        if not (self.an.left(e) & gp):
            r = ({}, self.nonempty(e), self.an.nullable(e))
        elif isinstance(e, Ref):
            r = ({e.name: EMPTY}, NOTHING, False)
        elif isinstance(e, Alt):
            L: dict[str, list[Expr]] = {}
            S = []
            n = False
            for i in e.items:
                Li, Si, ni = self.decomp(i)
                for k, v in Li.items():
                    L.setdefault(k, []).append(v)
                if not is_nothing(Si):
                    S.append(Si)
                n = n or ni
            r = ({k: alt(*v) for k, v in L.items()}, alt(*S) if S else NOTHING, n)
        elif isinstance(e, Seq):
            L = {}
            S = []
            n = True
            items = e.items
            for k, it in enumerate(items):
                Li, Si, ni = self.decomp(it)
                rest = items[k + 1:]
                for x, v in Li.items():
                    L.setdefault(x, []).append(seq(v, *rest))
                if not is_nothing(Si):
                    S.append(seq(Si, *rest))
                if not ni:
                    n = False
                    break
            r = ({k: alt(*v) for k, v in L.items()}, alt(*S) if S else NOTHING, n)
        elif isinstance(e, Repeat):
            if e.max == 0:
                r = ({}, NOTHING, True)
            else:
                nmax = None if e.max is None else e.max - 1
                if self.an.nullable(e.item):
                    head = self.nonempty(e.item)
                    rest: Expr = Repeat(head, 0, nmax) if nmax != 0 else EMPTY
                    n = True
                else:
                    head = e.item
                    rest = Repeat(head, max(e.min - 1, 0), nmax) if nmax != 0 else EMPTY
                    n = e.min == 0
                Lh, Sh, _ = self.decomp(head)
                r = ({k: seq(v, rest) for k, v in Lh.items()}, NOTHING if is_nothing(Sh) else seq(Sh, rest), n)
        elif isinstance(e, Nfa):
            raise GrammarError(f"left recursion through an automaton expression in {self.where(self.group[0])} "
                               "is not supported")
        else:  # pragma: no cover
            raise TypeError(e)
        self._dec_memo[id(e)] = (e, r)
        return r

    # -- solve ---------------------------------------------------------------------

    def solve(self) -> None:
        group = self.group
        gset = set(group)
        for a in group:
            if self.nullable_rules[a]:
                self.plus[a] = self.fresh(a)
                self.nullable_rules[self.plus[a]] = False
            else:
                self.plus[a] = a
        self.gp = frozenset(self.plus.values())
        memo: dict = {}

        def sub(name: str):
            if name in gset and self.nullable_rules[name]:
                return opt(Ref(self.plus[name]))
            return None

        bodies = {}
        for a in group:
            bodies[self.plus[a]] = subst_refs(self.rules[a], sub, memo)
        for a in group:
            p = self.plus[a]
            bodies[p] = self.nonempty(bodies[p])
        order = [self.plus[a] for a in group]
        idx = {p: k + 1 for k, p in enumerate(order)}
        edges = []
        for p in order:
            L, S, n = self.decomp(bodies[p])
            assert not n
            if not is_nothing(S):
                edges.append((0, idx[p], S))
            for y, R in L.items():
                edges.append((idx[y], idx[p], R))
        edges_t = tuple(edges)
        for a in group:
            p = self.plus[a]
            self.rules[p] = Nfa(len(order) + 1, 0, frozenset([idx[p]]), edges_t)
            if p != a:
                self.rules[a] = opt(Ref(p))
                self.origins[p] = f"{self.where(a)} (non-empty part)"
