"""Lark terminals -> byte DFAs, cached process-wide.

Lark flattens a terminal (string with or without ``i``, regexp with flags, composition of
other terminals) into one Python regex; :func:`terminal_dfa` compiles it with
``regex_to_dfa(pattern, dialect="python")`` (plain strings become literal DFAs directly) and
refuses what a context-free language over terminals cannot express (see :mod:`.convert`).
"""

from __future__ import annotations

import re

from ...cache import LRUCache
from ...errors import GrammarError, RegexError
from ..regex import regex_to_dfa

__all__ = ["pattern_signature", "terminal_dfa"]

_DFA_CACHE = LRUCache("constrain.lark.terminal_dfas", 2048)


def _sre():
    try:
        import re._constants as C
        import re._parser as P
    except ImportError:  # pragma: no cover - Python < 3.11
        import sre_constants as C  # type: ignore[no-redef]
        import sre_parse as P  # type: ignore[no-redef]
    return P, C


def _pattern_info(regexp: str, where: str) -> bool:
    """Check a flattened terminal regex for what we can compile exactly; True if it is lazy.

    Raises :class:`GrammarError` for anchors, lookarounds that can only see outside the
    terminal, backreferences, and lazy quantifiers mixed with greedy ones.
    """
    P, C = _sre()
    try:
        tree = P.parse(regexp)
    except re.error as e:
        raise GrammarError(f"{where}: invalid regex {regexp!r}: {e}") from None
    state = tree.state
    flags = {"lazy": False, "greedy": False}
    repeats = {C.MAX_REPEAT: "greedy", C.MIN_REPEAT: "lazy"}
    possessive = getattr(C, "POSSESSIVE_REPEAT", None)
    atomic = getattr(C, "ATOMIC_GROUP", None)

    def minw(item) -> int:
        return P.SubPattern(state, [item]).getwidth()[0]

    def scan(items, before: int, after: int) -> None:
        items = list(items)
        widths = [minw(it) for it in items]
        total = sum(widths)
        acc = 0
        for k, (op, av) in enumerate(items):
            b = before + acc
            a = after + total - acc - widths[k]
            acc += widths[k]
            if op is C.AT:
                if av in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY):
                    if a == 0 or b == 0:
                        raise GrammarError(f"{where}: a word boundary (\\b, \\B) at the edge of a terminal tests "
                                           "the text around it, which is not supported")
                else:
                    raise GrammarError(f"{where}: anchors (^, $, \\A, \\Z) are not supported in terminals")
            elif op in (C.ASSERT, C.ASSERT_NOT):
                direction, _sub = av
                if direction == 1 and a == 0:
                    raise GrammarError(f"{where}: a lookahead at the end of a terminal tests the text after it, "
                                       "which is not supported (rewrite it in the rules)")
                if direction == -1 and b == 0:
                    raise GrammarError(f"{where}: a lookbehind at the start of a terminal tests the text before "
                                       "it, which is not supported")
            elif op is C.BRANCH:
                for branch in av[1]:
                    scan(branch, b, a)
            elif op is C.SUBPATTERN:
                scan(av[-1], b, a)
            elif op in repeats or (possessive is not None and op is possessive):
                lo, hi, sub = av
                if lo != hi:
                    flags[repeats.get(op, "greedy")] = True
                scan(sub, b, a)
            elif atomic is not None and op is atomic:
                scan(av, b, a)
            elif op in (C.GROUPREF, C.GROUPREF_EXISTS):
                raise GrammarError(f"{where}: backreferences are not regular and not supported")

    scan(tree, 0, 0)
    if flags["lazy"] and flags["greedy"]:
        raise GrammarError(f"{where}: mixes lazy (*?, +?, ??) and greedy variable-length quantifiers; the strings "
                           "it matches depend on backtracking order, which is not supported (make them all lazy "
                           "or all greedy)")
    return flags["lazy"]


def terminal_dfa(pattern, where: str = "terminal"):
    """The byte DFA of a Lark pattern (``PatternStr`` / ``PatternRE``), cached by pattern.

    Full-match semantics, or shortest-match for all-lazy patterns (see the module docstring).
    May match the empty string: callers check.
    """
    from lark.lexer import PatternStr

    from ...automata import ByteDFA

    key = (type(pattern).__name__, pattern.value, tuple(sorted(pattern.flags)))
    hit = _DFA_CACHE.get(key)
    if hit is not None:
        return hit
    if isinstance(pattern, PatternStr) and not (set(pattern.flags) & {"i"}):
        dfa = ByteDFA.literal(pattern.value.encode("utf-8"))
    else:
        regexp = pattern.to_regexp()
        lazy = _pattern_info(regexp, where)
        try:
            dfa = regex_to_dfa(regexp, encoding="utf8", dialect="python")
        except RegexError as e:
            raise GrammarError(f"{where}: {e}") from None
        if lazy:
            # shortest-match: strings with no proper prefix in the language
            longer = dfa.concat(ByteDFA.byte_range(0, 255).concat(ByteDFA.any_bytes()))
            dfa = dfa.difference(longer)
    return _DFA_CACHE.put(key, dfa)


def pattern_signature(pattern) -> str:
    """A Lark pattern's identity (kind, flags, text): the key two equal terminals share a lexeme by."""
    return f"{type(pattern).__name__}:{''.join(sorted(pattern.flags))}:{pattern.value}"
