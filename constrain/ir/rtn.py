"""A grammar compiled to a recursive transition network (RTN) over lexeme symbols.

:func:`compile_rtn` turns the rules of a :class:`~constrain.ir.grammar.Grammar` into one
deterministic automaton over lexeme symbols per rule, with *call* edges for the references
that remain after inlining (recursive ones, and large ones that would be copied too often).
The parser (:mod:`constrain.ir.parser`) runs that network with a stack.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ..automata.minimize import edge_row_ids
from ..budget import check_deadline
from ..errors import CompileBudgetError, EmptyLanguageError, GrammarError
from .grammar import Alt, Expr, Grammar, Lex, Lexeme, Members, Nfa, Ref, Repeat, Seq
from .members import LazyEdges, MembersRule

__all__ = ["RTN", "compile_rtn", "strongly_connected_components"]


@dataclass
class RTN:
    """Recursive transition network: per-rule DFAs over lexeme ids with call edges.

    States are global integers. ``lex_edges[q]`` maps a lexeme index to the next state,
    ``call_edges[q]`` lists ``(rule index, return state)``, ``accepting[q]`` says the rule
    owning ``q`` may return there. ``rule_start[r]`` is the start state of rule ``r``; rule 0
    is the grammar's start rule.

    Rules whose body is :class:`~constrain.ir.Members` (objects in any order) have two static
    states, a start reading ``{`` and an accepting end; the states between are added on first
    visit by their :class:`~constrain.ir.members.MembersRule` (``members``, by rule index), so
    the lists grow: ``static_states`` counts the states laid out at compile time, and
    ``lex_edges`` builds a lazy state's edges when it is first read.
    """

    lexemes: list[Lexeme]
    lex_edges: list[dict[int, int]]
    call_edges: list[tuple[tuple[int, int], ...]]
    accepting: list[bool]
    rule_start: list[int]
    rule_names: list[str]
    state_rule: list[int]
    members: dict[int, MembersRule] = field(default_factory=dict)
    static_states: int = -1
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: the MembersRule that made a lazy key state or after-comma state (for completions)
    lazy_owner: dict = field(default_factory=dict)
    #: the MembersRules' "may the object still end from this key" memos, one per shape of
    #: rule (MembersRule.shape): the answers depend on the shape only
    member_memos: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.static_states < 0:
            self.static_states = len(self.accepting)
        if not isinstance(self.lex_edges, LazyEdges):
            self.lex_edges = LazyEdges(self.lex_edges, self.lock)

    @property
    def num_states(self) -> int:
        return len(self.accepting)

    def new_state(self, lex: dict[int, int] | None, calls: tuple, accepting: bool, owner=None) -> int:
        """Append a state (``lex=None``: built by ``owner`` on first read)."""
        with self.lock:
            q = len(self.accepting)
            list.append(self.lex_edges, lex)
            self.call_edges.append(calls)
            self.accepting.append(accepting)
            self.state_rule.append(-1 if owner is None else self.state_rule[owner.start])
            if owner is not None:
                self.lex_edges.owners[q] = owner
                self.lazy_owner[q] = owner
            return q

    def members_of_start(self, q: int) -> MembersRule | None:
        """The any-order object rule whose start state is ``q``, if any."""
        r = self.state_rule[q] if q < len(self.state_rule) else -1
        mr = self.members.get(r)
        return mr if mr is not None and mr.start == q else None


def _size(e: Expr, sizes: dict[str, int], memo: dict[int, int]) -> int:
    k = id(e)
    if k in memo:
        return memo[k]
    if isinstance(e, Lex):
        s = 1
    elif isinstance(e, Ref):
        s = sizes.get(e.name, 1)
    elif isinstance(e, (Seq, Alt)):
        s = 1 + sum(_size(i, sizes, memo) for i in e.items)
    elif isinstance(e, Repeat):
        inner = _size(e.item, sizes, memo)
        copies = max(e.min, 1) if e.max is None else max(e.max, 1)
        s = 1 + inner * copies
    elif isinstance(e, Nfa):
        s = e.n_states + sum(_size(x, sizes, memo) for _, _, x in e.edges)
    elif isinstance(e, Members):
        s = 1  # a rule of its own, called
    else:  # pragma: no cover - defensive
        raise TypeError(e)
    memo[k] = s
    return s


def _refs(e: Expr, out: set[str], seen: set[int]) -> None:
    if id(e) in seen:
        return
    seen.add(id(e))
    if isinstance(e, Ref):
        out.add(e.name)
    elif isinstance(e, (Seq, Alt)):
        for i in e.items:
            _refs(i, out, seen)
    elif isinstance(e, Repeat):
        _refs(e.item, out, seen)
    elif isinstance(e, Nfa):
        for _, _, x in e.edges:
            _refs(x, out, seen)
    elif isinstance(e, Members):
        out.update(e.value_rules())


def strongly_connected_components(graph: dict[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components, sinks first (Tarjan, iterative; edges to names outside
    ``graph`` are ignored)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    succ = {v: [w for w in graph[v] if w in graph] for v in graph}
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on.add(v)
            if i < len(succ[v]):
                work.append((v, i + 1))
                w = succ[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def _cyclic_rules(rules: dict[str, Expr]) -> set[str]:
    """Rules that lie on a reference cycle."""
    graph = {}
    for name, body in rules.items():
        out: set[str] = set()
        _refs(body, out, set())
        graph[name] = sorted(out)
    cyclic: set[str] = set()
    for comp in strongly_connected_components(graph):
        if len(comp) > 1 or comp[0] in graph[comp[0]]:
            cyclic.update(comp)
    return cyclic


class _NfaBuilder:
    """Thompson construction over lexeme/call symbols for one rule."""

    def __init__(self, lex_index: dict[int, int], lexemes: list[Lexeme], inline: dict[str, Expr],
                 rule_index: dict[str, int], budget: int):
        self.eps: list[list[int]] = []
        self.sym: list[list[tuple[int, int]]] = []  # (symbol, target); symbol >= 0 lexeme, < 0 call
        self.lex_index = lex_index
        self.lexemes = lexemes
        self.inline = inline
        self.rule_index = rule_index
        self.budget = budget

    def new(self) -> int:
        if len(self.eps) >= self.budget:
            raise CompileBudgetError(f"grammar automaton exceeds {self.budget} states", budget="states")
        self.eps.append([])
        self.sym.append([])
        return len(self.eps) - 1

    def lex_symbol(self, lx: Lexeme) -> int:
        k = id(lx)
        i = self.lex_index.get(k)
        if i is None:
            i = self.lex_index[k] = len(self.lexemes)
            self.lexemes.append(lx)
        return i

    def build(self, e: Expr, a: int, b: int, depth: int = 0) -> None:
        """Add a fragment for ``e`` from state ``a`` to state ``b``."""
        if depth > 10_000:
            raise GrammarError("grammar expression nested too deeply")
        if isinstance(e, Lex):
            self.sym[a].append((self.lex_symbol(e.lexeme), b))
        elif isinstance(e, Ref):
            body = self.inline.get(e.name)
            if body is not None:
                self.build(body, a, b, depth + 1)
            else:
                if e.name not in self.rule_index:
                    raise GrammarError(f"undefined rule {e.name!r}")
                self.sym[a].append((-1 - self.rule_index[e.name], b))
        elif isinstance(e, Seq):
            if not e.items:
                self.eps[a].append(b)
                return
            cur = a
            for i, it in enumerate(e.items):
                nxt = b if i == len(e.items) - 1 else self.new()
                self.build(it, cur, nxt, depth + 1)
                cur = nxt
        elif isinstance(e, Alt):
            for it in e.items:
                self.build(it, a, b, depth + 1)
        elif isinstance(e, Repeat):
            cur = a
            for _ in range(e.min):
                nxt = self.new()
                self.build(e.item, cur, nxt, depth + 1)
                cur = nxt
            if e.max is None:
                loop = self.new()
                self.eps[cur].append(loop)
                after = self.new()
                self.build(e.item, loop, after, depth + 1)
                self.eps[after].append(loop)
                self.eps[loop].append(b)
            else:
                for _ in range(e.max - e.min):
                    self.eps[cur].append(b)
                    nxt = self.new()
                    self.build(e.item, cur, nxt, depth + 1)
                    cur = nxt
                self.eps[cur].append(b)
        elif isinstance(e, Nfa):
            states = [self.new() for _ in range(e.n_states)]
            self.eps[a].append(states[e.start])
            for f in e.finals:
                self.eps[states[f]].append(b)
            for src, dst, x in e.edges:
                self.build(x, states[src], states[dst], depth + 1)
        elif isinstance(e, Members):
            raise GrammarError("an any-order object (Members) must be the whole body of a rule")
        else:  # pragma: no cover - defensive
            raise TypeError(f"not a grammar expression: {e!r}")


# subset members visited between two deadline checks of the grammar automaton's construction
# (~10 ms of work: an enum of 2,000 objects spent 2.3 s in a few hundred states' huge subsets
# between the old checks, which came every 1,024 new states)
_CHECK_EVERY_MEMBERS = 20_000


def _determinize(builder: _NfaBuilder, start: int, final: int, budget: int):
    """Subset construction + Moore minimization; returns (edges, accepting) of a trimmed DFA."""
    eps = builder.eps

    def closure(states: Iterable[int]) -> frozenset[int]:
        out = set(states)
        work = list(out)
        while work:
            s = work.pop()
            for t in eps[s]:
                if t not in out:
                    out.add(t)
                    work.append(t)
        return frozenset(out)

    start_set = closure([start])
    index = {start_set: 0}
    sets = [start_set]
    edges: list[dict[int, int]] = []
    i = 0
    work, work_limit = 0, 20 * budget  # subset members visited: time and memory, by count
    next_check = _CHECK_EVERY_MEMBERS
    while i < len(sets):
        cur = sets[i]
        work += len(cur)
        if work > work_limit:
            raise CompileBudgetError(f"grammar automaton's subset construction exceeds {work_limit} members "
                                     f"({len(sets)} states so far)", budget="work")
        if work >= next_check:  # by members visited, not states made: a few huge subsets take long too
            next_check = work + _CHECK_EVERY_MEMBERS
            check_deadline()
        by_sym: dict[int, set[int]] = {}
        for s in cur:
            for sym, t in builder.sym[s]:
                by_sym.setdefault(sym, set()).add(t)
        row = {}
        for sym, targets in by_sym.items():
            nxt = closure(targets)
            j = index.get(nxt)
            if j is None:
                if len(sets) >= budget:
                    raise CompileBudgetError(f"grammar automaton exceeds {budget} states", budget="states")
                if not len(sets) & 1023:
                    check_deadline()
                j = index[nxt] = len(sets)
                sets.append(nxt)
            row[sym] = j
        edges.append(row)
        i += 1
    accepting = [final in s for s in sets]
    return _minimize(edges, accepting)


# Moore refinement rounds before giving up on merging states (each round is O(states))
MOORE_ROUNDS = 64
# from this many states the rounds run in numpy; below, a round's fixed numpy cost (~150 us)
# is more than the python round (measured break-even ~100 states; the 100-schema sample's
# grammars are nearly all smaller)
MOORE_NUMPY_MIN_STATES = 128


def _moore_round(edges: list[dict[int, int]], part: list[int]) -> list[int]:
    """One Moore round in python: block per state of (its block, its moves' (symbol, block))."""
    sig: dict = {}
    return [sig.setdefault((part[s], tuple(sorted((sym, part[t]) for sym, t in row.items()))), len(sig))
            for s, row in enumerate(edges)]


def _moore_partition(edges: list[dict[int, int]], accepting: list[bool]) -> list[int] | None:
    """Block per state after Moore refinement from {accepting, not}, or ``None`` if it has not
    settled within ``MOORE_ROUNDS`` rounds. From ``MOORE_NUMPY_MIN_STATES`` states each round
    hashes every state's sorted moves in numpy (:func:`constrain.automata.minimize.edge_row_ids`,
    exact-checked; a python round on a hash collision): the python rounds were 80% of the
    RTN-bound compiles (part 2y)."""
    n = len(edges)
    if n < MOORE_NUMPY_MIN_STATES:
        part = [1 if a else 0 for a in accepting]
        nb = len(set(part))
        for _ in range(MOORE_ROUNDS):
            check_deadline()
            part = _moore_round(edges, part)
            k = max(part) + 1
            if k == nb:
                return part
            nb = k
        return None
    deg = np.fromiter((len(r) for r in edges), dtype=np.int64, count=n)
    m = int(deg.sum())
    sym = np.fromiter((k for r in edges for k in r), dtype=np.int64, count=m)
    dst = np.fromiter((t for r in edges for t in r.values()), dtype=np.int64, count=m)
    src = np.repeat(np.arange(n, dtype=np.int64), deg)
    order = np.lexsort((sym, src))  # each state's moves by symbol, as the python round sorts them
    src, dst = src[order], dst[order]
    _, cls = np.unique(sym[order], return_inverse=True)
    cls = cls.reshape(-1).astype(np.int64, copy=False)
    ptr = np.concatenate(([0], np.cumsum(deg)))
    part = np.asarray(accepting, dtype=np.int64)
    nb = np.unique(part).size
    for _ in range(MOORE_ROUNDS):
        check_deadline()
        new = edge_row_ids(n, ptr, src, cls, part[dst], part)
        if new is None:
            new = np.asarray(_moore_round(edges, part.tolist()), dtype=np.int64)
        k = int(new.max()) + 1
        part = new
        if k == nb:
            return part.tolist()
        nb = k
    return None


def _minimize(edges: list[dict[int, int]], accepting: list[bool]):
    """Moore partition refinement on a small symbolic DFA; state 0 stays the start."""
    n = len(edges)
    part = _moore_partition(edges, accepting)
    if part is None:
        # a long chain (``maxItems: 1000`` unrolled) needs a round per link: O(n^2). Such
        # chains have few equivalent states; keep every state (a valid, unmerged partition)
        part = list(range(n))
    # renumber with the start block first, in BFS order
    order: dict[int, int] = {}
    rep: dict[int, int] = {}
    for s in range(n):
        rep.setdefault(part[s], s)
    queue = [part[0]]
    order[part[0]] = 0
    k = 0
    while k < len(queue):
        blk = queue[k]
        k += 1
        for sym, t in sorted(edges[rep[blk]].items()):
            if part[t] not in order:
                order[part[t]] = len(order)
                queue.append(part[t])
    m_edges = [dict() for _ in order]
    m_acc = [False] * len(order)
    for blk, new_id in order.items():
        s = rep[blk]
        m_acc[new_id] = accepting[s]
        m_edges[new_id] = {sym: order[part[t]] for sym, t in edges[s].items()}
    return m_edges, m_acc


def compile_rtn(grammar: Grammar, *, inline_limit: int = 400, state_budget: int = 200_000) -> RTN:
    """Compile a grammar to an RTN: inline acyclic small rules, determinize and trim each rule."""
    rules = grammar.rules
    if grammar.start not in rules:
        raise GrammarError(f"start rule {grammar.start!r} is not defined")
    cyclic = _cyclic_rules(rules)

    # sizes of acyclic rules with their acyclic references inlined (memoized bottom-up)
    sizes: dict[str, int] = {}

    def rule_size(name: str, active: set[str]) -> int:
        if name in sizes:
            return sizes[name]
        if name in cyclic or name in active:
            return 1
        active.add(name)
        deps: set[str] = set()
        _refs(rules[name], deps, set())
        for d in deps:
            if d not in rules:
                raise GrammarError(f"undefined rule {d!r} (referenced from {name!r})")
            rule_size(d, active)
        active.discard(name)
        sizes[name] = _size(rules[name], sizes, {})
        return sizes[name]

    for name in rules:
        rule_size(name, set())
    members_rules = {n for n, body in rules.items() if isinstance(body, Members)}
    inline = {n: rules[n] for n in rules
              if n not in cyclic and n != grammar.start and n not in members_rules and sizes[n] <= inline_limit}

    # rules that need their own automaton: start, plus everything referenced and not inlined
    needed = [grammar.start]
    rule_index = {grammar.start: 0}
    k = 0
    while k < len(needed):
        deps: set[str] = set()
        stack = [rules[needed[k]]]
        seen: set[int] = set()
        while stack:
            e = stack.pop()
            if id(e) in seen:
                continue
            seen.add(id(e))
            if isinstance(e, Ref):
                if e.name not in rules:
                    raise GrammarError(f"undefined rule {e.name!r}")
                if e.name in inline:
                    stack.append(inline[e.name])
                else:
                    deps.add(e.name)
            elif isinstance(e, (Seq, Alt)):
                stack.extend(e.items)
            elif isinstance(e, Repeat):
                stack.append(e.item)
            elif isinstance(e, Nfa):
                stack.extend(x for _, _, x in e.edges)
            elif isinstance(e, Members):
                for d in e.value_rules():  # called, never inlined
                    if d not in rules:
                        raise GrammarError(f"undefined rule {d!r}")
                    deps.add(d)
        for d in sorted(deps):
            if d not in rule_index:
                rule_index[d] = len(needed)
                needed.append(d)
        k += 1

    lexemes: list[Lexeme] = []
    lex_index: dict[int, int] = {}
    rule_dfas = []
    members: dict[int, MembersRule] = {}
    total = 0
    for name in needed:
        b = _NfaBuilder(lex_index, lexemes, inline, rule_index, state_budget)
        if name in members_rules:
            # start (reads "{" into the first key, set by bind) and accepting end; the rest is lazy
            members[len(rule_dfas)] = MembersRule(rules[name], b.lex_symbol, rule_index)
            rule_dfas.append(([{}, {}], [False, True]))
            continue
        s, f = b.new(), b.new()
        b.build(rules[name], s, f)
        edges, acc = _determinize(b, s, f, state_budget)
        total += len(edges)
        if total > state_budget:
            raise CompileBudgetError(f"grammar automaton exceeds {state_budget} states", budget="states")
        rule_dfas.append((edges, acc))

    # productive rules: those whose DFA reaches acceptance through lexemes and productive calls
    productive = [False] * len(needed)
    for mr in members.values():
        mr.key_ok = [not lexemes[m[0]].is_empty() for m in mr.members]
    changed = True
    while changed:
        changed = False
        for r, (edges, acc) in enumerate(rule_dfas):
            if productive[r]:
                continue
            if r in members:
                live0 = members[r].alive((0, 0, 0, 0), productive)
            else:
                live0 = _coaccessible(edges, acc, productive)[0]
            if live0:
                productive[r] = changed = True
    if not productive[0]:
        where = grammar.origins.get(grammar.start, grammar.start)
        # rules are numbered outside in: the last unproductive one is the innermost culprit
        inner = [name for name, p in zip(needed, productive) if not p][-1]
        inner = grammar.origins.get(inner, inner)
        raise EmptyLanguageError(
            f"the grammar's language is empty (start rule {where!r} matches nothing"
            + (")" if inner == where else f"; the innermost rule matching nothing is {inner!r})"),
            pointer=inner)

    # lay out global states, dropping dead states and calls to unproductive rules
    lex_edges: list[dict[int, int]] = []
    call_edges: list[tuple[tuple[int, int], ...]] = []
    accepting: list[bool] = []
    state_rule: list[int] = []
    rule_start: list[int] = []
    offsets = []
    live_maps = []
    for r, (edges, acc) in enumerate(rule_dfas):
        live = [productive[r], True] if r in members else _coaccessible(edges, acc, productive)
        mapping = {}
        for s in range(len(edges)):
            if live[s]:
                mapping[s] = len(accepting) + len(mapping)
        live_maps.append(mapping)
        offsets.append(len(accepting))
        for s in range(len(edges)):
            if s in mapping:
                accepting.append(acc[s])
                state_rule.append(r)
                lex_edges.append({})
                call_edges.append(())
        rule_start.append(mapping.get(0, -1))
    for r, (edges, acc) in enumerate(rule_dfas):
        mapping = live_maps[r]
        for s, g in mapping.items():
            lx = {}
            calls = []
            for sym, t in edges[s].items():
                if t not in mapping:
                    continue
                if sym >= 0:
                    lx[sym] = mapping[t]
                else:
                    callee = -1 - sym
                    if productive[callee]:
                        calls.append((callee, mapping[t]))
            lex_edges[g] = lx
            call_edges[g] = tuple(sorted(calls))
    rtn = RTN(lexemes, lex_edges, call_edges, accepting, rule_start, list(needed), state_rule)
    for r, mr in members.items():
        if productive[r]:
            rtn.members[r] = mr
            mr.bind(rtn, rule_start[r], live_maps[r][1], productive)
    _check_left_recursion(rtn)
    return rtn


def _coaccessible(edges: list[dict[int, int]], acc: list[bool], productive: list[bool]) -> list[bool]:
    n = len(edges)
    rev: list[list[int]] = [[] for _ in range(n)]
    for s, row in enumerate(edges):
        for sym, t in row.items():
            if sym >= 0 or productive[-1 - sym]:
                rev[t].append(s)
    live = list(acc)
    work = [s for s in range(n) if acc[s]]
    while work:
        t = work.pop()
        for s in rev[t]:
            if not live[s]:
                live[s] = True
                work.append(s)
    return live


def _check_left_recursion(rtn: RTN) -> None:
    """A rule that can call itself before consuming a lexeme would grow the stack forever."""
    n_rules = len(rtn.rule_start)
    # nullable rules: the start state reaches acceptance through calls to nullable rules only
    nullable = [False] * n_rules
    changed = True
    while changed:
        changed = False
        for r in range(n_rules):
            if nullable[r]:
                continue
            seen = {rtn.rule_start[r]}
            work = [rtn.rule_start[r]]
            while work:
                q = work.pop()
                if rtn.accepting[q]:
                    nullable[r] = changed = True
                    break
                for callee, ret in rtn.call_edges[q]:
                    if nullable[callee] and ret not in seen:
                        seen.add(ret)
                        work.append(ret)
    # left-call graph: r -> callee when callee is called from a state reachable from r's start
    # without consuming a lexeme
    left: list[set[int]] = [set() for _ in range(n_rules)]
    for r in range(n_rules):
        seen = {rtn.rule_start[r]}
        work = [rtn.rule_start[r]]
        while work:
            q = work.pop()
            for callee, ret in rtn.call_edges[q]:
                left[r].add(callee)
                if nullable[callee] and ret not in seen:
                    seen.add(ret)
                    work.append(ret)
    for r in range(n_rules):
        seen: set[int] = set()
        work = list(left[r])
        while work:
            c = work.pop()
            if c == r:
                raise GrammarError(
                    f"rule {rtn.rule_names[r]!r} is left-recursive (it can reach itself without "
                    "consuming input); rewrite it with repetition"
                )
            if c not in seen:
                seen.add(c)
                work.extend(left[c])
