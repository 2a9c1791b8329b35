"""Lark grammars -> grammar IR, compiled to the same token automata as every other front-end.

The grammar text is read by the ``lark`` package's own loader (:class:`lark.load_grammar.
GrammarBuilder`: ``%import`` -- ``common.lark`` and our shipped grammars --, ``%override``,
``%extend``, ``%declare``, ``%ignore``, templates, terminal composition), so every grammar Lark
accepts is read exactly as Lark reads it. We then map, keeping the EBNF structure (repetition
stays a loop in the rule automata instead of Lark's recursive helper rules):

* rules -> IR rules; ``?rule``, ``_rule``, ``!rule`` and ``-> alias`` only shape Lark's parse
  trees, so they are dropped; ``x*``, ``x+``, ``x?``, ``[x]``, ``x~n``, ``x~n..m``, groups and
  alternatives map to :func:`~constrain.grammar.star`, :func:`~constrain.grammar.plus`,
  :func:`~constrain.grammar.opt`, :class:`~constrain.grammar.Repeat`, ...
* terminals -> lexemes. Lark flattens a terminal (string with or without ``i``, regexp with
  flags, composition of other terminals) into one Python regex; we compile that pattern with
  ``regex_to_dfa(pattern, dialect="python")`` (plain strings become literal DFAs directly).
* priorities (``rule.2``, ``TERM.2``) are accepted and ignored: they choose between parse
  trees, not which texts parse.

Semantics -- what "the language of a Lark grammar" means here
--------------------------------------------------------------
The language is that of Lark's Earley parser with ``lexer="dynamic_complete"``: the text must
split into terminals (any split, not only the greedy one) that the rules derive, with ignored
terminals allowed before, between and after them. Precisely:

* A terminal matches the strings its pattern matches *in full* (``re.fullmatch``).
  Lookarounds are evaluated inside the terminal's own text. A lookahead that sits at the very
  end of a terminal (or a lookbehind at its very start, or ``\\b``/``\\B`` at either edge) can
  only test the text *around* the terminal, which a context-free language over terminals
  cannot express: it is a :class:`GrammarError` (so is ``^``/``$``/``\\A``/``\\Z``).
* A pattern whose variable-length quantifiers are all lazy (``.*?``, as in ``common.lark``'s
  ``ESCAPED_STRING`` and ``C_COMMENT``) matches with *shortest-match* semantics, as Lark's
  lexers cut it: the strings of the pattern that have no proper prefix in the pattern. A
  pattern that mixes lazy and greedy variable quantifiers is a :class:`GrammarError` (its
  token set depends on backtracking order).
* Alternation inside one regex is a union: ``/a|ab/`` matches ``ab`` here, while Python's
  regex (and so Lark) always stops at the first alternative that matches and never yields
  ``ab`` as one token. Write the longer alternative first, or use a rule. (Lark itself sorts
  the alternatives of *composed* terminals longest-first, so those agree.)
* The ``i`` flag folds case as Python's ``re`` does, Unicode included (``"select"i`` also
  matches ``ſelect``, with U+017F); write ``"SELECT" | "select"`` for ASCII-only keywords.
* A terminal that matches the empty string is a :class:`GrammarError` naming it.
* ``%ignore X, Y``: runs of ignored terminals may appear before any terminal and at the end of
  the text. They are folded into the lexemes (every lexeme ``T`` becomes ``(X|Y)* T``, plus one
  trailing ``(X|Y)+`` lexeme at the end of the start rule), exactly as the JSON front-end folds
  whitespace, so the parser never sees them and the language is unchanged.
* Where Lark's ``lexer="dynamic"`` (greedy regex match at each position) rejects a text that
  splits into terminals in a non-greedy way (``start: NAME NAME`` on ``"abc"``), we accept it,
  as ``dynamic_complete`` does. Grammars meant for generation should separate such terminals
  explicitly (the shipped ``sql.lark`` requires whitespace between words).

Left recursion
--------------
The RTN parser is a stack machine and rejects left recursion, which Lark grammars use freely
(``sum: sum "+" product | product``). :func:`eliminate_left_recursion` rewrites every
left-recursive group of rules (a strongly connected component of the "can start with" graph,
direct or indirect, through nullable prefixes too) without changing any rule's language:

1. nullable rules of the group are split into ``A = A+ | ε`` so the group is ε-free;
2. each rule body is decomposed (EBNF-aware) as ``A = Σ_B B·R_AB + S_A``, where ``S_A`` never
   starts with a rule of the group;
3. the left-linear system is solved as an automaton (:class:`~constrain.grammar.Nfa`): states
   are the group's rules, edges ``start -S_B-> B`` and ``B -R_AB-> A``; ``A``'s body is the
   automaton with ``A`` final. ``sum`` becomes ``product ("+" product)*``: a loop, no stack.

Cyclic unit rules (``a: b | "x"``, ``b: a``) become epsilon edges of that automaton, so they
need no special error. An automaton expression that itself starts with a rule of a
left-recursive group (only hand-built IR does that) is a :class:`GrammarError`.

Extensions (pre-processed before Lark sees the text)
----------------------------------------------------
* ``%json{ <JSON Schema object> }`` as a rule element: the JSON texts valid under the schema
  (:func:`constrain.json_schema.schema_to_grammar`, rules merged under a prefix), e.g.
  ``call: "<tool_call>" %json{"type": "object"} "</tool_call>"``. Whitespace inside the JSON
  follows ``json_whitespace`` / ``json_max_whitespace``; the grammar's ``%ignore`` applies
  around the JSON value as around any terminal. ``json_options`` passes any other
  ``schema_to_grammar`` option (``canonical_strings``, ``max_newlines``, ...) to every block;
  ``decode.generate`` passes its ``GENERATION_JSON_OPTIONS`` there.
* ``%special{"<|im_end|>"}`` as a rule element: a special token, by its text. **Limitation:**
  the token layer matches text only, so this is currently a lexeme whose bytes are the token's
  text -- the model may produce it by spelling it with ordinary tokens, and the special token
  id itself (whose bytes are ``None`` in :class:`~constrain.vocab.Vocabulary`) is never
  allowed. Wiring it to the real special-token id needs support in the token layer.

``%json``/``%special`` blocks may only appear in rules (not in terminal definitions);
``start`` is one rule name (Lark's list of start rules is not supported).

Errors
------
Everything raises :class:`~constrain.errors.GrammarError` with the line (Lark's message for
syntax errors, the defining line for rules and terminals) and the rule or terminal name.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable

from .budget import DEFAULT_MAX_MEMORY_BYTES, compile_budget
from .cache import LRUCache
from .errors import ConstraintError, GrammarError, OptionError, RegexError
from .ir import (
    EMPTY,
    NOTHING,
    Alt,
    Expr,
    Grammar,
    Lex,
    Nfa,
    Ref,
    Repeat,
    Seq,
    alt,
    lexeme,
    opt,
    plus,
    seq,
    strongly_connected_components,
    star,
)

__all__ = [
    "compile_lark",
    "compile_lark_file",
    "lark_to_grammar",
    "eliminate_left_recursion",
    "terminal_dfa",
]

_GRAMMARS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grammars")


# =========================================================================== public API


def compile_lark(grammar_text: str, vocab, *, start: str = "start", import_paths: Iterable[str] = (),
                 json_whitespace: str = "flexible", json_max_whitespace: int | None = 16,
                 json_strict: bool = False, source: str = "<grammar>", time_budget_s: float = 30.0,
                 state_budget: int = 200_000, json_options: dict | None = None,
                 max_memory_bytes: int | None = DEFAULT_MAX_MEMORY_BYTES):
    """Compile a Lark grammar for ``vocab``; returns a :class:`~constrain.compiled.Compiled`.

    ``start`` names the start rule. ``import_paths`` are folders searched by ``%import``, before
    the shipped grammars (``constrain/grammars``: ``%import json.value``) and Lark's own
    ``common.lark``.
    ``json_*`` configure ``%json{...}`` blocks (see :mod:`constrain.lark`); ``json_options``
    (keys in :data:`JSON_BLOCK_OPTIONS`) override them and add the rest of
    ``compile_json_schema``'s narrowings, e.g. ``{"canonical_strings": True}``. Errors raise
    :class:`~constrain.errors.GrammarError`. ``time_budget_s`` and ``max_memory_bytes``
    (default 1 GiB, ``None``: no limit) bound the whole compile, ``%json`` blocks included,
    and each later first visit of a state; past them (or ``state_budget`` parser states) it
    raises :class:`~constrain.errors.CompileBudgetError`.
    """
    from .compiled import Compiled

    with compile_budget(time_budget_s, max_memory_bytes):
        g = lark_to_grammar(grammar_text, start, import_paths=import_paths, json_whitespace=json_whitespace,
                            json_max_whitespace=json_max_whitespace, json_strict=json_strict, source=source,
                            json_options=json_options)
        return Compiled(g, vocab, source=grammar_text, kind="lark", time_budget_s=time_budget_s,
                        state_budget=state_budget, max_memory_bytes=max_memory_bytes)


def compile_lark_file(path, vocab, *, start: str = "start", import_paths: Iterable[str] = (), **kw):
    """Like :func:`compile_lark` for a ``.lark`` file; its folder is searched first by ``%import``."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    paths = [os.path.dirname(os.path.abspath(path)), *import_paths]
    return compile_lark(text, vocab, start=start, import_paths=paths, source=path, **kw)


def lark_to_grammar(text: str, start: str = "start", *, import_paths: Iterable[str] = (),
                    json_whitespace: str = "flexible", json_max_whitespace: int | None = 16,
                    json_strict: bool = False, source: str = "<grammar>",
                    json_options: dict | None = None) -> Grammar:
    """The IR :class:`~constrain.grammar.Grammar` of a Lark grammar (left recursion removed)."""
    opts = {"strict": json_strict, "whitespace": json_whitespace, "max_whitespace": json_max_whitespace}
    unknown = sorted(set(json_options or ()) - set(JSON_BLOCK_OPTIONS))
    if unknown:
        raise OptionError(f"json_options: unknown option(s) {unknown}; expected some of {list(JSON_BLOCK_OPTIONS)}")
    opts.update(json_options or {})
    return _Converter(text, start, list(import_paths), opts, source).convert()


#: The ``schema_to_grammar`` options a ``%json{...}`` block takes (``json_options`` keys).
JSON_BLOCK_OPTIONS = ("strict", "lenient", "whitespace", "max_whitespace", "max_newlines", "trailing_whitespace",
                      "canonical_literals", "canonical_strings")


# =========================================================================== pre-processing


@dataclass
class _External:
    kind: str  # "json" or "special"
    value: Any
    line: int


_EXT_RE = re.compile(r"%(json|special)\s*\{")


def _preprocess(text: str) -> tuple[str, dict[str, _External], list[tuple[int, int]]]:
    """Replace ``%json{...}`` / ``%special{...}`` by declared terminals.

    Lark comments, strings and regexps are skipped, so the markers only count in rule bodies.
    Returns the new text, the externals by terminal name, and ``(line in the new text, newlines
    swallowed)`` for every block that spanned several lines (to map error lines back).
    """
    out: list[str] = []
    ext: dict[str, _External] = {}
    shifts: list[tuple[int, int]] = []
    i = 0
    n = len(text)
    state = "code"
    seg_start = 0
    counter = 0
    swallowed = 0
    while i < n:
        c = text[i]
        if state == "code":
            if c == '"':
                state = "str"
            elif c == "/" and text.startswith("//", i):
                state = "comment"
            elif c == "/":
                state = "re"
            elif c == "#":
                state = "comment"
            elif c == "%":
                m = _EXT_RE.match(text, i)
                if m:
                    kind = m.group(1)
                    line = text.count("\n", 0, i) + 1
                    stop, value = _block_end(text, kind, m.end() - 1, line)
                    while True:
                        name = f"SGEXT{counter}_{kind.upper()}"
                        counter += 1
                        if name not in text:
                            break
                    ext[name] = _External(kind, value, line)
                    out.append(text[seg_start:i])
                    out.append(name)
                    nl = text.count("\n", i, stop)
                    if nl:
                        shifts.append((line - swallowed, nl))
                        swallowed += nl
                    seg_start = i = stop
                    continue
        elif state == "str":
            if c == "\\":
                i += 2
                continue
            if c == '"' or c == "\n":
                state = "code"
        elif state == "re":
            if c == "\\":
                i += 2
                continue
            if c == "/" or c == "\n":
                state = "code"
        elif state == "comment":
            if c == "\n":
                state = "code"
        i += 1
    out.append(text[seg_start:])
    new_text = "".join(out)
    if ext:
        new_text += "\n%declare " + " ".join(ext) + "\n"
    return new_text, ext, shifts


def _block_end(text: str, kind: str, brace: int, line: int) -> tuple[int, Any]:
    """End offset and value of the block whose ``{`` is at ``brace``."""
    n = len(text)
    try:
        if kind == "json":
            value, end = json.JSONDecoder().raw_decode(text, brace)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON Schema object, e.g. %json{\"type\": \"object\"}")
            return end, value
        j = brace + 1
        while j < n and text[j] in " \t":
            j += 1
        value, j = json.JSONDecoder().raw_decode(text, j)
        if not isinstance(value, str) or not value:
            raise ValueError('expected a non-empty JSON string, e.g. %special{"<|im_end|>"}')
        while j < n and text[j] in " \t":
            j += 1
        if j >= n or text[j] != "}":
            raise ValueError("expected '}'")
        return j + 1, value
    except ValueError as e:
        raise GrammarError(f"bad %{kind}{{...}} block at line {line}: {e}") from None


def _map_line(line: int, shifts: list[tuple[int, int]]) -> int:
    """A line of the pre-processed text -> the line of the original text."""
    return line + sum(nl for at, nl in shifts if at < line)


# =========================================================================== terminals

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

    from .automata import ByteDFA

    key = (type(pattern).__name__, pattern.value, tuple(sorted(pattern.flags)))
    hit = _DFA_CACHE.get(key)
    if hit is not None:
        return hit
    if isinstance(pattern, PatternStr) and not (set(pattern.flags) & {"i"}):
        dfa = ByteDFA.literal(pattern.value.encode("utf-8"))
    else:
        regexp = pattern.to_regexp()
        lazy = _pattern_info(regexp, where)
        from .regex import regex_to_dfa

        try:
            dfa = regex_to_dfa(regexp, encoding="utf8", dialect="python")
        except RegexError as e:
            raise GrammarError(f"{where}: {e}") from None
        if lazy:
            # shortest-match: strings with no proper prefix in the language
            longer = dfa.concat(ByteDFA.byte_range(0, 255).concat(ByteDFA.any_bytes()))
            dfa = dfa.difference(longer)
    return _DFA_CACHE.put(key, dfa)


def _pattern_sig(pattern) -> str:
    return f"{type(pattern).__name__}:{''.join(sorted(pattern.flags))}:{pattern.value}"


# =========================================================================== loading


@functools.lru_cache(maxsize=None)
def _lark_builder_class():
    from lark.load_grammar import GrammarBuilder

    class _Builder(GrammarBuilder):
        """Lark's builder, recording the line where each top-level rule/terminal is defined."""

        lines: dict

        def _unpack_definition(self, tree, mangle):
            res = super()._unpack_definition(tree, mangle)
            if mangle is None:
                try:
                    tok = tree.children[1] if tree.data == "rule" else tree.children[0]
                    line = getattr(tok, "line", None)
                except (IndexError, AttributeError):  # pragma: no cover - other lark versions
                    line = None
                if line is not None:
                    self.lines.setdefault(str(res[0]), line)
            return res

    return _Builder


_FOLD_REPEAT_ABOVE = 64  # x~n..m with m above this and x made of terminals only -> one lexeme

_IN_RE = re.compile(r"\(in (rule|terminal) ([^\s)]+)\)")
_LINE_RE = re.compile(r"\bline (\d+)")


class _Converter:
    def __init__(self, text: str, start: str, import_paths: list[str], json_options: dict, source: str):
        if not isinstance(text, str):
            raise OptionError(f"a Lark grammar must be a str, not {type(text).__name__}")
        self.text = text
        self.start = start
        self.import_paths = import_paths
        self.json_options = json_options  # schema_to_grammar options of every %json block
        self.source = source
        self.lines: dict[str, int] = {}
        self.shifts: list[tuple[int, int]] = []
        self.rules: dict[str, Expr] = {}
        self.origins: dict[str, str] = {}
        self._term_cache: dict[str, Expr] = {}
        self._json_roots: dict[str, str] = {}

    # ------------------------------------------------------------------ messages

    def _line(self, name: str) -> int | None:
        line = self.lines.get(name)
        return None if line is None else _map_line(line, self.shifts)

    def where(self, kind: str, name: str) -> str:
        name = str(name)
        line = self._line(name)
        if line is not None:
            return f"{kind} {name!r} (line {line})"
        if "__" in name:
            return f"{kind} {name!r} (imported)"
        return f"{kind} {name!r}"

    def _lark_message(self, e: BaseException) -> str:
        msg = str(e).strip()
        if not msg and isinstance(e, AssertionError):
            msg = ("Lark's grammar loader rejected the grammar (an internal assertion failed); a common "
                   "cause is a terminal that refers to a rule, to a %declare'd terminal or to a "
                   "%json{...}/%special{...} block, which may only appear in rules")
        msg = _LINE_RE.sub(lambda m: f"line {_map_line(int(m.group(1)), self.shifts)}", msg)

        def add_line(m):
            line = self._line(m.group(2))
            return m.group(0) if line is None else f"(in {m.group(1)} {m.group(2)}, line {line})"

        msg = _IN_RE.sub(add_line, msg)
        return f"Lark grammar {self.source}: {msg}"

    # ------------------------------------------------------------------ main

    def convert(self) -> Grammar:
        from lark.exceptions import LarkError, VisitError
        from lark.lexer import TerminalDef
        from lark.load_grammar import (
            ApplyTemplates,
            PrepareAnonTerminals,
            PrepareLiterals,
            TerminalTreeToPattern,
            ValidateSymbols,
            nr_deepcopy_tree,
        )

        text, self.ext, self.shifts = _preprocess(self.text)
        builder = _lark_builder_class()(False, [*self.import_paths, _GRAMMARS_DIR])
        builder.lines = self.lines
        try:
            builder.load_grammar(text, self.source)
            lg = builder.build()
        except (LarkError, AssertionError) as e:
            raise GrammarError(self._lark_message(e)) from None
        except OSError as e:
            raise GrammarError(f"Lark grammar {self.source}: cannot import grammar: {e}") from None

        def unwrap(e):
            return e.orig_exc if isinstance(e, VisitError) else e

        # terminals (Lark's own flattening of composed terminals into one pattern)
        self.declared: set[str] = set()
        terminals = []
        to_pattern = PrepareLiterals() * TerminalTreeToPattern()
        for name, (tree, prio) in lg.term_defs:
            if tree is None:
                self.declared.add(name)
                continue
            exps = list(tree.find_data("expansion"))
            if len(exps) == 1 and not exps[0].children:
                raise GrammarError(f"{self.where('terminal', name)} is empty")
            try:
                pat = to_pattern.transform(nr_deepcopy_tree(tree))
            except (LarkError, AssertionError) as e:
                raise GrammarError(f"{self.where('terminal', name)}: {unwrap(e)}") from None
            terminals.append(TerminalDef(name, pat, prio))

        # rules: literals -> anonymous terminals, templates instantiated; EBNF kept
        rule_defs = [(n, p, nr_deepcopy_tree(t), o) for n, p, t, o in lg.rule_defs]
        anon = PrepareAnonTerminals(terminals)
        to_symbols = PrepareLiterals() * ValidateSymbols() * anon * ApplyTemplates(rule_defs)
        trees: dict[str, Any] = {}
        i = 0
        while i < len(rule_defs):
            name, params, tree, _opts = rule_defs[i]
            i += 1
            if params:
                continue  # templates are instantiated where used
            try:
                trees[name] = to_symbols.transform(tree)
            except (LarkError, AssertionError) as e:
                raise GrammarError(f"{self.where('rule', name)}: {unwrap(e)}") from None
        self.patterns = {td.name: td.pattern for td in terminals}

        if self.start not in trees:
            raise GrammarError(f"Lark grammar {self.source}: start rule {self.start!r} is not defined")

        # ignored terminals
        self.ignore_names = list(dict.fromkeys(lg.ignore))
        for nm in self.ignore_names:
            if nm in self.declared or nm in self.ext:
                raise GrammarError(f"%ignore {nm}: a declared terminal has no definition to ignore")
            if nm not in self.patterns:
                raise GrammarError(f"%ignore {nm}: terminal is not defined")
        self._ignore_sig = "|".join(sorted(_pattern_sig(self.patterns[n]) for n in self.ignore_names))
        self._ignore_dfa = None
        if self.ignore_names:
            from .automata import ByteDFA

            dfas = [self._checked_dfa(n) for n in self.ignore_names]
            self._ignore_dfa = ByteDFA.union_all(dfas) if len(dfas) > 1 else dfas[0]

        # rules reachable from start, converted on demand
        work = [self.start]
        seen = {self.start}
        while work:
            name = work.pop()
            if name not in trees:
                raise GrammarError(f"Lark grammar {self.source}: rule {name!r} is not defined")
            body = self._expr(trees[name], name)
            self.rules[name] = body
            if name not in self.origins:
                self.origins[name] = self.where("rule", name) if "{" not in name else f"template instance {name!r}"
            refs: set[str] = set()
            _collect_refs(body, refs)
            for r in sorted(refs):
                if r not in seen and r not in self.rules:
                    seen.add(r)
                    work.append(r)

        start = self.start
        if self._ignore_dfa is not None:
            tail = self._ignore_plus()
            self.rules["$start"] = seq(Ref(self.start), opt(Lex(tail)))
            self.origins["$start"] = f"start rule {self.start!r} with trailing %ignore"
            start = "$start"

        rules = eliminate_left_recursion(self.rules, self.origins)
        return Grammar(rules, start, self.origins)

    # ------------------------------------------------------------------ expressions

    def _expr(self, t, rule: str) -> Expr:
        from lark import Tree
        from lark.grammar import NonTerminal, Terminal

        if isinstance(t, Terminal):
            return self._terminal(t.name, rule)
        if isinstance(t, NonTerminal):
            return Ref(t.name)
        if not isinstance(t, Tree):
            raise GrammarError(f"{self.where('rule', rule)}: unsupported grammar element {t!r}")
        d = t.data
        ch = t.children
        if d == "expansions":
            return alt(*[self._expr(c, rule) for c in ch]) if ch else NOTHING
        if d == "expansion":
            return seq(*[self._expr(c, rule) for c in ch]) if ch else EMPTY
        if d == "alias":
            return self._expr(ch[0], rule)
        if d == "maybe":
            return opt(self._expr(ch[0], rule))
        if d == "value" and len(ch) == 1:
            return self._expr(ch[0], rule)
        if d == "expr":
            inner = self._expr(ch[0], rule)
            op = str(ch[1])
            if op == "?":
                return opt(inner)
            if op == "*":
                return star(inner)
            if op == "+":
                return plus(inner)
            if op == "~":
                nums = [int(x) for x in ch[2:]]
                lo, hi = (nums[0], nums[0]) if len(nums) == 1 else (nums[0], nums[1])
                if lo < 0 or hi < lo:
                    raise GrammarError(f"{self.where('rule', rule)}: bad repetition range ~{lo}..{hi}")
                if hi > _FOLD_REPEAT_ABOVE:
                    folded = self._fold_repeat(inner, lo, hi)
                    if folded is not None:
                        return folded
                return Repeat(inner, lo, hi)
            raise GrammarError(f"{self.where('rule', rule)}: unsupported operator {op!r}")
        raise GrammarError(f"{self.where('rule', rule)}: unsupported grammar construct {d!r}")

    def _fold_repeat(self, inner: Expr, lo: int, hi: int) -> Expr | None:
        """``inner~lo..hi`` as one lexeme when ``inner`` only has terminals (no rules).

        Long counted repetitions are cheap in byte DFAs but cost one rule-automaton state per
        copy; the language is the same either way (lexemes are concatenated freely).
        """
        from .automata import ByteDFA

        def key(e: Expr) -> str | None:
            if isinstance(e, Lex):
                return e.lexeme.key
            if isinstance(e, (Seq, Alt)):
                ks = [key(i) for i in e.items]
                return None if None in ks else f"{type(e).__name__}({','.join(ks)})"
            if isinstance(e, Repeat):
                k = key(e.item)
                return None if k is None else f"Rep({k},{e.min},{e.max})"
            return None

        def dfa(e: Expr):
            if isinstance(e, Lex):
                return e.lexeme.dfa
            if isinstance(e, Seq):
                return ByteDFA.concat_all([dfa(i) for i in e.items]) if e.items else ByteDFA.epsilon()
            if isinstance(e, Alt):
                return ByteDFA.union_all([dfa(i) for i in e.items]) if e.items else ByteDFA.empty()
            return dfa(e.item).repeat(e.min, e.max)

        k = key(inner)
        if k is None:
            return None
        full = f"lark-repeat:{k}{{{lo},{hi}}}"

        def build():
            return dfa(inner).repeat(lo, hi).difference(ByteDFA.epsilon())

        lx = lexeme(full, build, f"repetition ~{lo}..{hi}")
        if lx.dfa.is_empty():
            return EMPTY if lo == 0 or self._accepts_empty(inner) else NOTHING
        if lo == 0 or self._accepts_empty(inner):
            return opt(Lex(lx))
        return Lex(lx)

    @staticmethod
    def _accepts_empty(e: Expr) -> bool:
        if isinstance(e, Lex):
            return False
        if isinstance(e, Seq):
            return all(_Converter._accepts_empty(i) for i in e.items)
        if isinstance(e, Alt):
            return any(_Converter._accepts_empty(i) for i in e.items)
        if isinstance(e, Repeat):
            return e.min == 0 or e.max == 0 or _Converter._accepts_empty(e.item)
        return False

    def _checked_dfa(self, name: str):
        pat = self.patterns[name]
        where = self.where("terminal", name) if not name.startswith("__") else f"terminal {pat.raw or pat.value!r}"
        dfa = terminal_dfa(pat, where)
        if dfa.accept[0]:
            raise GrammarError(f"{where} matches the empty string (terminals must match at least one character)")
        return dfa

    def _ignore_plus(self):
        ig = self._ignore_dfa
        return lexeme(f"lark-ignore+:{self._ignore_sig}", lambda: ig.plus(), "%ignore")

    def _terminal(self, name: str, rule: str) -> Expr:
        hit = self._term_cache.get(name)
        if hit is not None:
            return hit
        if name in self.ext:
            e = self._external(name)
        elif name in self.declared:
            line = self._declare_line(name)
            raise GrammarError(
                f"terminal {name!r} is declared with %declare{'' if line is None else f' (line {line})'} but "
                f"has no definition (used in {self.where('rule', rule)}); declared terminals come from custom "
                "lexers or postlexers (e.g. _INDENT/_DEDENT), which a token-level constraint cannot run; "
                "define it, or use %special{...} for a special token")
        else:
            if name not in self.patterns:
                raise GrammarError(f"{self.where('rule', rule)}: terminal {name!r} is not defined")
            dfa = self._checked_dfa(name)
            pat = self.patterns[name]
            disp = name if not name.startswith("__") else (pat.raw or pat.value)
            ig = self._ignore_dfa
            if ig is None:
                lx = lexeme(f"lark:{_pattern_sig(pat)}", lambda: dfa, disp)
            else:
                lx = lexeme(f"lark:{self._ignore_sig}:{_pattern_sig(pat)}", lambda: ig.star().concat(dfa), disp)
            e = Lex(lx)
        self._term_cache[name] = e
        return e

    def _declare_line(self, name: str) -> int | None:
        for k, line in enumerate(self.text.split("\n"), 1):
            if line.lstrip().startswith("%declare") and re.search(rf"\b{re.escape(name)}\b", line):
                return k
        return None

    def _external(self, name: str) -> Expr:
        from .automata import ByteDFA

        ext = self.ext[name]
        ig = self._ignore_dfa
        if ext.kind == "special":
            data = ext.value.encode("utf-8")
            if ig is None:
                lx = lexeme(f"lark-special:{ext.value}", lambda: ByteDFA.literal(data), ext.value)
            else:
                lx = lexeme(f"lark-special:{self._ignore_sig}:{ext.value}",
                            lambda: ig.star().concat(ByteDFA.literal(data)), ext.value)
            return Lex(lx)
        # %json{...}
        from .json_schema import schema_to_grammar

        k = len(self._json_roots)
        prefix = f"%json{k}:"
        try:
            sg = schema_to_grammar(ext.value, **self.json_options)
        except ConstraintError as e:
            raise GrammarError(f"%json block at line {ext.line}: {e}") from e
        memo: dict = {}
        for rname, body in sg.rules.items():
            self.rules[prefix + rname] = _map_refs(body, lambda n: prefix + n, memo)
            self.origins[prefix + rname] = f"%json block at line {ext.line}: {sg.origins.get(rname, rname)}"
        root = prefix + sg.start
        self._json_roots[name] = root
        if ig is None:
            return Ref(root)
        return seq(opt(Lex(self._ignore_plus())), Ref(root))


# =========================================================================== IR helpers


def _is_nothing(e: Expr) -> bool:
    return isinstance(e, Alt) and not e.items


def _collect_refs(e: Expr, out: set[str]) -> None:
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


def _map_refs(e: Expr, f, memo: dict) -> Expr:
    """``e`` with every ``Ref(n)`` replaced by ``Ref(f(n))`` (shared sub-expressions stay shared)."""
    hit = memo.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    if isinstance(e, Ref):
        r: Expr = Ref(f(e.name))
    elif isinstance(e, (Seq, Alt)):
        r = e if not e.items else type(e)(tuple(_map_refs(i, f, memo) for i in e.items))
    elif isinstance(e, Repeat):
        r = Repeat(_map_refs(e.item, f, memo), e.min, e.max)
    elif isinstance(e, Nfa):
        r = Nfa(e.n_states, e.start, e.finals, tuple((a, b, _map_refs(x, f, memo)) for a, b, x in e.edges))
    else:
        r = e
    memo[id(e)] = (e, r)
    return r


def _subst_refs(e: Expr, f, memo: dict) -> Expr:
    """``e`` with ``Ref(n)`` replaced by ``f(n)`` where that is not None."""
    hit = memo.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    if isinstance(e, Ref):
        r = f(e.name)
        if r is None:
            r = e
    elif isinstance(e, Seq):
        r = e if not e.items else seq(*[_subst_refs(i, f, memo) for i in e.items])
    elif isinstance(e, Alt):
        r = e if not e.items else alt(*[_subst_refs(i, f, memo) for i in e.items])
    elif isinstance(e, Repeat):
        r = Repeat(_subst_refs(e.item, f, memo), e.min, e.max)
    elif isinstance(e, Nfa):
        r = Nfa(e.n_states, e.start, e.finals, tuple((a, b, _subst_refs(x, f, memo)) for a, b, x in e.edges))
    else:
        r = e
    memo[id(e)] = (e, r)
    return r


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
        if isinstance(e, Lex):
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
        if isinstance(e, Lex):
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
    :class:`~constrain.grammar.Nfa` expression.
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
                if not _is_nothing(head):
                    parts.append(seq(head, *items[k + 1:]))
            r = alt(*parts) if parts else NOTHING
        elif isinstance(e, Alt):
            parts = [p for p in (self.nonempty(i) for i in e.items) if not _is_nothing(p)]
            r = alt(*parts) if parts else NOTHING
        elif isinstance(e, Repeat):
            if e.max == 0:
                r = NOTHING
            elif self.an.nullable(e.item):
                inner = self.nonempty(e.item)
                r = NOTHING if _is_nothing(inner) else Repeat(inner, 1, e.max)
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
                if not _is_nothing(Si):
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
                if not _is_nothing(Si):
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
                r = ({k: seq(v, rest) for k, v in Lh.items()}, NOTHING if _is_nothing(Sh) else seq(Sh, rest), n)
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
            bodies[self.plus[a]] = _subst_refs(self.rules[a], sub, memo)
        for a in group:
            p = self.plus[a]
            bodies[p] = self.nonempty(bodies[p])
        order = [self.plus[a] for a in group]
        idx = {p: k + 1 for k, p in enumerate(order)}
        edges = []
        for p in order:
            L, S, n = self.decomp(bodies[p])
            assert not n
            if not _is_nothing(S):
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
