"""Front-door compile functions and the :class:`Compiled` constraint they return."""

from __future__ import annotations

import time
from typing import Any

from .automaton import TokenAutomaton
from .errors import CompileBudgetError
from .grammar import Grammar, Lex, compile_rtn, lexeme
from .matcher import Matcher

__all__ = ["Compiled", "compile_grammar", "compile_json_schema", "compile_regex"]


class Compiled:
    """A constraint compiled against one vocabulary; ``matcher()`` is cheap and shares caches."""

    def __init__(self, grammar: Grammar, vocab, *, source: Any = None, kind: str = "grammar",
                 time_budget_s: float = 30.0, state_budget: int = 200_000):
        t0 = time.perf_counter()
        self.grammar = grammar
        self.kind = kind
        self.source = source
        self.rtn = compile_rtn(grammar, state_budget=state_budget)
        # build every lexeme DFA now: compile errors surface here, not mid-generation
        for lx in self.rtn.lexemes:
            lx.dfa
            if time.perf_counter() - t0 > time_budget_s:
                raise CompileBudgetError(f"compile exceeded its time budget of {time_budget_s} s")
        self.automaton = TokenAutomaton(self.rtn, vocab)
        self._warm_lexeme_starts()
        self.compile_time_s = time.perf_counter() - t0

    def _warm_lexeme_starts(self) -> None:
        """Token rows of every small lexeme's first states, in one batched walk.

        After a structural token (``{``, ``,``, ``:``) the next state holds the start of every
        lexeme that may follow (often dozens of property names); computing their rows here,
        together, keeps those first visits off the decode path.
        """
        from .tokens import compute_rows_batched

        pairs = []
        for t in self.automaton.tables:
            if getattr(t, "counted", False) or t.n_states > 4096:
                continue
            seen = {0}
            frontier = [0]
            for _ in range(2):  # start, then after one blank or the opening quote
                nxt = []
                for q in frontier:
                    for b in (0x20, 0x0A, 0x22):
                        r = t.T_list[q][t.cmap_list[b]]
                        if r >= 0 and r not in seen:
                            seen.add(r)
                            nxt.append(r)
                frontier = nxt
            pairs.extend((t, q) for q in sorted(seen) if q not in t._rows)
        compute_rows_batched(pairs)

    @property
    def vocab(self):
        return self.automaton.vocab

    def matcher(self) -> Matcher:
        return Matcher(self.automaton)

    def precompute(self, max_states: int = 256, time_budget_s: float = 1.0) -> int:
        """Compute masks ahead of time for states reachable through forced and common bytes.

        Returns the number of masks computed. Optional: masks are otherwise computed on first
        use and cached.
        """
        a = self.automaton
        t0 = time.perf_counter()
        seen = {id(a.start)}
        work = [a.start]
        done = 0
        while work and done < max_states and time.perf_counter() - t0 < time_budget_s:
            st = work.pop()
            a.mask(st)
            done += 1
            for b in a.first_bytes(st).nonzero()[0].tolist():
                nxt = a.step(st, b)
                if id(nxt) not in seen and nxt is not a.dead:
                    seen.add(id(nxt))
                    work.append(nxt)
        return done

    def __repr__(self) -> str:
        return (f"Compiled({self.kind}, {len(self.rtn.lexemes)} lexemes, {self.rtn.num_states} parser states, "
                f"{self.compile_time_s * 1e3:.1f} ms)")


def compile_grammar(grammar: Grammar, vocab, **kw) -> Compiled:
    return Compiled(grammar, vocab, **kw)


def compile_json_schema(schema: Any, vocab, *, strict: bool = False, whitespace: str = "flexible",
                        max_whitespace: int | None = 16, lenient: bool = False,
                        time_budget_s: float = 30.0) -> Compiled:
    """Compile a JSON schema (dict, JSON string or Pydantic model class) for ``vocab``.

    ``strict=True`` forbids undeclared properties (as OpenAI's strict mode does);
    ``whitespace="flexible"`` allows JSON whitespace wherever JSON does, in runs of at most
    ``max_whitespace`` characters (``None``: unbounded), ``"compact"`` allows none;
    ``lenient=True`` drops keywords that cannot be enforced, with a warning naming each.
    """
    from .json_schema import normalize_schema_input, schema_to_grammar

    schema = normalize_schema_input(schema)
    g = schema_to_grammar(schema, strict=strict, lenient=lenient, whitespace=whitespace,
                          max_whitespace=max_whitespace)
    return Compiled(g, vocab, source=schema, kind="json_schema", time_budget_s=time_budget_s)


def compile_regex(pattern: str, vocab, *, dialect: str = "python") -> Compiled:
    """Compile a regex; the whole output must match it (full match over the text)."""
    from .regex import regex_to_dfa

    lx = lexeme(f"regex:{dialect}:{pattern}", lambda: regex_to_dfa(pattern, encoding="utf8", dialect=dialect),
                f"regex {pattern!r}"[:80])
    g = Grammar({"$root": Lex(lx)}, "$root", {"$root": "regex"})
    if regex_to_dfa(pattern, encoding="utf8", dialect=dialect).accept[0]:
        # a pattern matching the empty string: allow the empty output too
        from .grammar import opt

        g = Grammar({"$root": opt(Lex(_nonempty(lx, pattern, dialect)))}, "$root", {"$root": "regex"})
    return Compiled(g, vocab, source=pattern, kind="regex")


def _nonempty(lx, pattern: str, dialect: str):
    from .automata import ByteDFA
    from .regex import regex_to_dfa

    def build():
        d = regex_to_dfa(pattern, encoding="utf8", dialect=dialect)
        return d.difference(ByteDFA.epsilon())

    return lexeme(f"regex-nonempty:{dialect}:{pattern}", build, f"regex {pattern!r}"[:80])
