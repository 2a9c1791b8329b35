"""``string``: ``pattern``, ``format``, ``minLength``/``maxLength``, and the boolean structure of
string-only schemas (``anyOf``/``oneOf``/``not``/``if`` computed exactly on automata)."""

from __future__ import annotations

from typing import Any

from ...errors import CompileBudgetError, RegexError, SchemaError, UnsupportedSchemaError
from ...ir import Expr, Lex, NOTHING, alt
from . import formats
from .ir import NOT, PATTERNS, STR_MINUS, XOF
from .keywords import ANNOTATIONS, STRING_NEUTRAL
from .lexemes import ANY_STRING, hoist_cap, string_spec
from .values import canon


class StringsMixin:
    """``string`` with ``pattern``/``format``/lengths, and string-only boolean structure on automata."""

    def string(self, s: dict, ptr: str, excluded: list[str] = (), excluded_patterns: list[str] = ()) -> Expr:
        patterns = []
        if "pattern" in s:
            if not isinstance(s["pattern"], str):
                raise SchemaError(f"pattern at {ptr} must be a string")
            patterns.append(s["pattern"])
        patterns += s.get(PATTERNS, [])
        parts: list = [(None, None)]
        fmt = s.get("format")
        if fmt is not None:
            fp = self.format_parts(fmt, ptr)
            if fp is not None:
                parts = fp  # [(regex, length cap)]: hostname's 253, idn-hostname's union
        if len(parts) > 1:
            # a union of capped languages: one string lexeme per part
            subs = [self._string_part(s, ptr, excluded, excluded_patterns, patterns, rx, cap) for rx, cap in parts]
            subs = [e for e in subs if e is not NOTHING]
            return alt(*subs) if subs else NOTHING
        return self._string_part(s, ptr, excluded, excluded_patterns, patterns, *parts[0])

    def _string_part(self, s: dict, ptr: str, excluded, excluded_patterns, patterns: list, fmt_rx, fmt_cap) -> Expr:
        full = formats.regexes(fmt_rx)
        lo = s.get("minLength", 0)
        hi = s.get("maxLength")
        lo = int(lo)
        hi = formats.capped(None if hi is None else int(hi), fmt_cap)
        if hi is not None and lo > hi:
            return NOTHING
        try:
            minus = s.get(STR_MINUS, [])
            if minus:
                base = string_spec(tuple(patterns), tuple(full), lo, hi, tuple(excluded), tuple(excluded_patterns))
                lx = self.L.string_expr(("minus", base, ("or", list(minus))))
            else:
                lx = self.L.string(tuple(patterns), tuple(full), lo, hi, tuple(excluded), tuple(excluded_patterns))
            lx.dfa  # build now so errors point at the schema
        except RegexError as e:
            raise UnsupportedSchemaError("pattern", ptr, str(e)) from e
        except CompileBudgetError as e:
            raise e.locate("pattern" if patterns else "format" if fmt_rx else "maxLength" if hi is not None
                           else "minLength", ptr)
        if lx.dfa.is_empty():
            return NOTHING
        return Lex(lx)

    def string_content_expr(self, s: Any, ptr: str, superset: bool = False):
        """The content expression of a schema that only admits strings, else None.

        ``superset=True``: the expression to *subtract* (another ``oneOf`` branch): a format
        this engine narrows (docs/json_schema.md: hostname refuses A-labels, date-time most
        leap seconds...) must be replaced by a language containing all of its valid strings
        (:func:`.formats.format_superset_parts`), else subtracting it would let through the
        strings it refuses but JSON Schema accepts; None where there is no such superset."""
        if not isinstance(s, dict):
            return None
        allowed = {"type", "pattern", PATTERNS, "format", "minLength", "maxLength", "enum", "const"}
        if set(s) - ANNOTATIONS - allowed:
            return None
        if "enum" in s or "const" in s:
            vals = s["enum"] if "enum" in s else [s["const"]]
            if "enum" in s and "const" in s:
                vals = [v for v in vals if canon(v) == canon(s["const"])]
            if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                return None
            if "type" in s and "string" not in self._types(s):
                return ("or", [])  # the values are strings, the type is not
            rest = {k: v for k, v in s.items() if k in allowed - {"enum", "const", "type"}}
            if rest:
                vals = self._values_valid(vals, dict(rest, type="string"), "enum", ptr)
            return ("or", [("lit", v) for v in dict.fromkeys(vals)])
        if s.get("type") != "string":
            return None
        fmt = s.get("format")
        parts: list = [(None, None)]
        if fmt is not None:
            fp = self.format_parts(fmt, ptr)
            if fp is not None:
                parts = fp  # [(regex, length cap)]: hostname's 253, idn-hostname's union
                if superset:
                    parts = formats.format_superset_parts(fmt)
                    if parts is None:
                        return None
        pats = ([s["pattern"]] if "pattern" in s else []) + list(s.get(PATTERNS, []))
        specs = [string_spec(pats, formats.regexes(rx), s.get("minLength", 0), formats.capped(s.get("maxLength"), cap))
                 for rx, cap in parts]
        return specs[0] if len(specs) == 1 else ("or", specs)

    def _one_of_strings(self, branches: list, ptr: str):
        """Exact oneOf when string branches can be combined on automata and the rest are disjoint."""
        strs, others, supers = [], [], []
        for b in branches:
            e = self.string_content_expr(b, ptr)
            if e is not None:
                strs.append(e)
                # the form to subtract differs only where the branch has a format
                supers.append(self.string_content_expr(b, ptr, superset=True) if "format" in b else e)
            elif b is False:
                continue
            else:
                others.append(b)
        if len(strs) < 2 and not (strs and others):
            return None
        for o in others:
            if not isinstance(o, dict) or "string" in self._types(o) and not ("enum" in o or "const" in o):
                return None
            if "enum" in o or "const" in o:
                vals = o["enum"] if "enum" in o else [o["const"]]
                if any(isinstance(v, str) for v in vals):
                    return None
        if len(others) > 1 and not self._disjoint(others):
            return None
        if any(x is None for x in supers):
            return None  # a narrowed format with no superset to subtract: not exact here
        branches = [("minus", e, ("or", [x for j, x in enumerate(supers) if j != i])) for i, e in enumerate(strs)]
        try:
            try:
                lx = self.L.string_expr(("or", branches))
                lexes = [] if lx.dfa.is_empty() else [lx]
            except CompileBudgetError:
                # a long length bound (hostname's 253) multiplied into the product: one lexeme
                # per branch (they are disjoint), each bound counted outside its product
                lexes = self._counted_branches(branches)
                if lexes is None:
                    raise
        except RegexError as err:
            raise UnsupportedSchemaError("pattern", ptr, str(err)) from err
        parts = [Lex(lx) for lx in lexes]
        parts += [self.node(o, ptr) for o in others]
        return alt(*parts) if parts else NOTHING

    def _counted_branches(self, branches: list) -> list | None:
        """The lexemes of ``("minus", branch, others)`` expressions with their long length
        bounds hoisted out of the products (:func:`.lexemes.hoist_cap`), or None where one
        cannot be."""
        out = []
        for b in branches:
            h = hoist_cap(b)
            if h is None:
                return None
            content, hi = h
            lx = self.L.string_expr(content) if hi is None else self.L.counted_expr(content, hi)
            if not lx.dfa.is_empty():
                out.append(lx)
        return out

    def _string_restrict(self, schema: Any, ptr: str, depth: int = 0):
        """The string content expression of the strings valid under ``schema`` (keywords of
        other types hold vacuously for strings), or None. `format` gives up (see complement)."""
        if depth > 12:
            return None
        if schema is True:
            return ANY_STRING
        if schema is False:
            return ("or", [])
        if not isinstance(schema, dict):
            return None
        s = self.normalize(schema, ptr)
        if s is True or s is False:
            return self._string_restrict(s, ptr, depth + 1)
        parts = []
        spec_keys = {}
        for k, v in s.items():
            if k in ANNOTATIONS or k.startswith("x-") or k in STRING_NEUTRAL:
                continue
            if k == "type":
                if "string" not in self._types(s):
                    return ("or", [])
            elif k in ("pattern", "minLength", "maxLength", PATTERNS):
                spec_keys[k] = v
            elif k in ("enum", "const"):
                vals = v if k == "enum" else [v]
                if not isinstance(vals, list):
                    return None
                parts.append(("or", [("lit", x) for x in dict.fromkeys(x for x in vals if isinstance(x, str))]))
            elif k in ("anyOf", "oneOf", XOF):
                groups = v if k == XOF else [(k, v)]
                for kind, branches in groups:
                    if not isinstance(branches, list):
                        return None
                    es = [self._string_restrict(b, f"{ptr}/{kind}/{i}", depth + 1) for i, b in enumerate(branches)]
                    if any(e is None for e in es):
                        return None
                    if kind == "anyOf":
                        parts.append(("or", es))
                    else:
                        parts.append(("or", [("minus", e, ("or", [x for j, x in enumerate(es) if j != i]))
                                             for i, e in enumerate(es)]))
            elif k in ("not", NOT):
                for n in (v if k == NOT else [v]):
                    e = self._string_restrict(n, f"{ptr}/not", depth + 1)
                    if e is None:
                        return None
                    parts.append(("minus", ANY_STRING, e))
            elif k == "if":
                ci = self._string_restrict(v, f"{ptr}/if", depth + 1)
                ct = self._string_restrict(s.get("then", True), f"{ptr}/then", depth + 1)
                ce = self._string_restrict(s.get("else", True), f"{ptr}/else", depth + 1)
                if ci is None or ct is None or ce is None:
                    return None
                parts.append(("or", [("and", [ci, ct]), ("minus", ce, ci)]))
            elif k in ("then", "else"):
                continue
            else:
                return None  # format, internal keywords, unknown validation keywords
        if spec_keys or not parts:
            pats = ([spec_keys["pattern"]] if "pattern" in spec_keys else []) + list(spec_keys.get(PATTERNS, []))
            parts.append(string_spec(tuple(pats), (), spec_keys.get("minLength", 0), spec_keys.get("maxLength")))
        return parts[0] if len(parts) == 1 else ("and", parts)
