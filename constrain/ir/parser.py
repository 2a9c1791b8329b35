"""The parser over lexemes: a recursive transition network run with explicit stacks.

A parser configuration is a *set* of stacks (tuples of RTN states, top last), so ambiguity
(overlapping ``anyOf`` branches, ambiguous Lark rules) costs more configurations, never an
approximation. Recursion depth is only limited by memory. Stacks are plain tuples: hashable,
so configurations can key the caches of the token layer.
"""

from __future__ import annotations

from .rtn import RTN

__all__ = ["Parser"]

Stack = tuple[int, ...]


class Parser:
    """Stack operations over an :class:`RTN`, memoized per stack."""

    def __init__(self, rtn: RTN, cache_limit: int = 200_000):
        self.rtn = rtn
        self._ready: dict[Stack, tuple[tuple[Stack, ...], bool]] = {}
        self._limit = cache_limit

    def initial(self) -> tuple[tuple[Stack, ...], bool]:
        """Ready stacks at the start of the output, and whether the empty output is complete."""
        return self.ready((self.rtn.rule_start[0],))

    def ready(self, stack: Stack) -> tuple[tuple[Stack, ...], bool]:
        """Epsilon closure of one stack: pushes for calls, pops at accepting states.

        Returns the stacks whose top state has lexeme edges, and whether the whole output may
        end here (the root rule accepts with nothing left on the stack).
        """
        hit = self._ready.get(stack)
        if hit is not None:
            return hit
        rtn = self.rtn
        lex_edges, call_edges, accepting, rule_start = (
            rtn.lex_edges, rtn.call_edges, rtn.accepting, rtn.rule_start)
        q = stack[-1]
        if not call_edges[q] and not accepting[q]:
            # nothing to push or pop (a key of an object, the colon after it): the stack
            # itself. Why: a first visit over hundreds of objects in anyOf branches asks
            # this of thousands of stacks, most of them such (Github_medium:574)
            res = ((stack,) if lex_edges[q] else (), False)
        else:
            res = self._closure(stack, lex_edges, call_edges, accepting, rule_start)
        if len(self._ready) >= self._limit:
            self._ready.clear()
        self._ready[stack] = res
        return res

    @staticmethod
    def _closure(stack, lex_edges, call_edges, accepting, rule_start) -> tuple[tuple[Stack, ...], bool]:
        """:meth:`ready`'s search: pushes for calls and pops at accepting states from ``stack``."""
        out: list[Stack] = []
        can_end = False
        seen = {stack}
        work = [stack]
        while work:
            s = work.pop()
            q = s[-1]
            if lex_edges[q]:
                out.append(s)
            for callee, ret in call_edges[q]:
                t = s[:-1] + (ret, rule_start[callee])
                if t not in seen:
                    seen.add(t)
                    work.append(t)
            if accepting[q]:
                if len(s) == 1:
                    can_end = True
                else:
                    t = s[:-1]
                    if t not in seen:
                        seen.add(t)
                        work.append(t)
        return tuple(out), can_end

    def after(self, stack: Stack, lex: int) -> tuple[tuple[Stack, ...], bool]:
        """Ready stacks after the top of ``stack`` (a ready stack) consumes lexeme ``lex``.

        Not memoized beyond :meth:`ready`: its caller, the token automaton's
        ``after_lexeme``, keeps the answer per ``(stack, lex)`` with the threads it makes."""
        return self.ready(stack[:-1] + (self.rtn.lex_edges[stack[-1]][lex],))
