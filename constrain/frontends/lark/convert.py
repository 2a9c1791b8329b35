"""Lark grammars -> grammar IR, compiled to the same token automata as every other front-end.

The grammar text is read by the ``lark`` package's own loader (:class:`lark.load_grammar.
GrammarBuilder`: ``%import`` -- ``common.lark`` and our shipped grammars --, ``%override``,
``%extend``, ``%declare``, ``%ignore``, templates, terminal composition), so every grammar Lark
accepts is read exactly as Lark reads it. We then map, keeping the EBNF structure (repetition
stays a loop in the rule automata instead of Lark's recursive helper rules):

* rules -> IR rules; ``?rule``, ``_rule``, ``!rule`` and ``-> alias`` only shape Lark's parse
  trees, so they are dropped; ``x*``, ``x+``, ``x?``, ``[x]``, ``x~n``, ``x~n..m``, groups and
  alternatives map to :func:`~constrain.ir.star`, :func:`~constrain.ir.plus`,
  :func:`~constrain.ir.opt`, :class:`~constrain.ir.Repeat`, ...
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
* A terminal is every string its pattern matches in full, while Lark's Earley lexer, at each
  position, takes the regex's own match (Python's leftmost-first backtracking: the first
  alternative that matches, greedy quantifiers as far as they go) and, with
  ``dynamic_complete``, the matches of that pattern on shorter pieces of the text. So where
  Python's matching never *ends* on a string the pattern matches in full, Lark has no such
  token and we do: alternation inside one regex (``/a|ab/`` on ``ab``), a greedy part that
  leaves an optional tail nothing to match (``/a+(ab)?/`` on ``aab``; the composed
  ``T: "x" "a"? "ab"?`` on ``xab``), and composed terminals with a regex alternative (Lark
  sorts the alternatives of a composed terminal longest-first, which it can only do for
  strings: ``T: /b+/ | "bc"`` on ``bc``). Write such terminals so that the greedy match is
  the one you mean (longer alternatives first, no optional tail a greedy part can eat), or
  split them into rules. Elsewhere the verdicts agree with Lark's (session 20's differential
  fuzzing: 243k texts over random grammars without these cases, no other disagreement).
* The ``i`` flag folds case as Python's ``re`` does, Unicode included (``"select"i`` also
  matches ``ſelect``, with U+017F); write ``"SELECT" | "select"`` for ASCII-only keywords.
* A terminal that matches the empty string is a :class:`GrammarError` naming it.
* ``%ignore X, Y``: runs of ignored terminals may appear before any terminal and at the end of
  the text. They are folded into the lexemes (every lexeme ``T`` becomes ``(X|Y)* T``, plus one
  trailing ``(X|Y)+`` lexeme at the end of the start rule), exactly as the JSON front-end folds
  whitespace, so the parser never sees them. One difference from Lark: a run of ignored
  text may be split anywhere, so a terminal may start inside it (``start: "a" " " "b"`` with
  ``%ignore WS`` takes ``"a\\n b"``), while Lark's lexer takes the ignored terminal's greedy
  match whole (``WS`` eats ``"\\n "``) and rejects that text.
* Where Lark's ``lexer="dynamic"`` (greedy regex match at each position) rejects a text that
  splits into terminals in a non-greedy way (``start: NAME NAME`` on ``"abc"``), we accept it,
  as ``dynamic_complete`` does. Grammars meant for generation should separate such terminals
  explicitly (the shipped ``sql.lark`` requires whitespace between words).

Errors
------
Everything raises :class:`~constrain.errors.GrammarError` with the line (Lark's message for
syntax errors, the defining line for rules and terminals) and the rule or terminal name.

Left recursion is removed by :func:`constrain.ir.left_recursion.eliminate_left_recursion`;
``%json{}``/``%special{}`` are pre-processed by :mod:`.extensions`; terminals become DFAs in
:mod:`.terminals`. The compile entries live in :mod:`constrain.compiler`.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any, Iterable

from ...errors import ConstraintError, GrammarError, OptionError
from ...ir import (EMPTY, NOTHING, Alt, Expr, Grammar, Lex, Ref, Repeat, Seq, alt, lexeme, opt, plus, seq, star)
from ...ir.grammar import collect_refs, map_refs
from ...ir.left_recursion import eliminate_left_recursion
from ...options import DEFAULT, JsonOptions
from ..json_schema import schema_to_grammar
from .extensions import map_line, preprocess
from .terminals import pattern_signature, terminal_dfa

__all__ = ["JSON_BLOCK_OPTIONS", "lark_to_grammar"]

_GRAMMARS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "grammars")


def lark_to_grammar(text: str, start: str = "start", *, import_paths: Iterable[str] = (),
                    json_whitespace: str = DEFAULT, json_max_whitespace: int | None = DEFAULT,
                    json_strict: bool = DEFAULT, source: str = "<grammar>",
                    json_options: "dict | JsonOptions | None" = None) -> Grammar:
    """The IR :class:`~constrain.ir.Grammar` of a Lark grammar (left recursion removed).

    ``%json{...}`` blocks are compiled with ``json_options``: a :class:`JsonOptions` (the
    ``json_*`` keywords passed replace its values) or a dict of some of its fields (which
    replace the ``json_*`` keywords, as they always did).
    """
    base = json_options if isinstance(json_options, JsonOptions) else None
    extra = {} if base is not None else dict(json_options or {})
    unknown = sorted(set(extra) - set(JSON_BLOCK_OPTIONS))
    if unknown:
        raise OptionError(f"json_options: unknown option(s) {unknown}; expected some of {list(JSON_BLOCK_OPTIONS)}")
    opts = JsonOptions.build(base, strict=json_strict, whitespace=json_whitespace, max_whitespace=json_max_whitespace)
    if extra:
        opts = opts.replace(**extra)
    return _Converter(text, start, list(import_paths), opts.as_dict(), source).convert()


#: The ``schema_to_grammar`` options a ``%json{...}`` block takes (``json_options`` keys).
JSON_BLOCK_OPTIONS = JsonOptions.names()


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
        return None if line is None else map_line(line, self.shifts)

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
        msg = _LINE_RE.sub(lambda m: f"line {map_line(int(m.group(1)), self.shifts)}", msg)

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

        text, self.ext, self.shifts = preprocess(self.text)
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
        self._ignore_sig = "|".join(sorted(pattern_signature(self.patterns[n]) for n in self.ignore_names))
        self._ignore_dfa = None
        if self.ignore_names:
            from ...automata import ByteDFA

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
            collect_refs(body, refs)
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
        from ...automata import ByteDFA

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
                lx = lexeme(f"lark:{pattern_signature(pat)}", lambda: dfa, disp)
            else:
                lx = lexeme(f"lark:{self._ignore_sig}:{pattern_signature(pat)}", lambda: ig.star().concat(dfa), disp)
            e = Lex(lx)
        self._term_cache[name] = e
        return e

    def _declare_line(self, name: str) -> int | None:
        for k, line in enumerate(self.text.split("\n"), 1):
            if line.lstrip().startswith("%declare") and re.search(rf"\b{re.escape(name)}\b", line):
                return k
        return None

    def _external(self, name: str) -> Expr:
        from ...automata import ByteDFA

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
        k = len(self._json_roots)
        prefix = f"%json{k}:"
        try:
            sg = schema_to_grammar(ext.value, **self.json_options)
        except ConstraintError as e:
            raise GrammarError(f"%json block at line {ext.line}: {e}") from e
        memo: dict = {}
        for rname, body in sg.rules.items():
            self.rules[prefix + rname] = map_refs(body, lambda n: prefix + n, memo)
            self.origins[prefix + rname] = f"%json block at line {ext.line}: {sg.origins.get(rname, rname)}"
        root = prefix + sg.start
        self._json_roots[name] = root
        if ig is None:
            return Ref(root)
        return seq(opt(Lex(self._ignore_plus())), Ref(root))
