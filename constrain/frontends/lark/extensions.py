"""Lark extensions, pre-processed before Lark sees the grammar text.

* ``%json{ <JSON Schema object> }`` as a rule element: the JSON texts valid under the schema
  (:func:`constrain.frontends.json_schema.schema_to_grammar`, rules merged under a prefix), e.g.
  ``call: "<tool_call>" %json{"type": "object"} "</tool_call>"``. Whitespace inside the JSON
  follows ``json_whitespace`` / ``json_max_whitespace``; the grammar's ``%ignore`` applies
  around the JSON value as around any terminal. ``json_options`` passes any other
  ``schema_to_grammar`` option (``canonical_strings``, ``max_newlines``, ...) to every block;
  ``decode.generate`` passes its ``GENERATION_JSON_OPTIONS`` there.
* ``%special{"<|im_end|>"}`` as a rule element: a special token, by its text. **Limitation:**
  the token layer matches text only, so this is currently a lexeme whose bytes are the token's
  text -- the model may produce it by spelling it with ordinary tokens, and the special token
  id itself (whose bytes are ``None`` in :class:`~constrain.tokens.Vocabulary`) is never
  allowed. Wiring it to the real special-token id needs support in the token layer.

``%json``/``%special`` blocks may only appear in rules (not in terminal definitions);
``start`` is one rule name (Lark's list of start rules is not supported).

"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ...errors import GrammarError

__all__ = ["ExtensionBlock", "map_line", "preprocess"]


@dataclass
class ExtensionBlock:
    """One ``%json{...}`` or ``%special{...}`` block, replaced in the text by a declared terminal."""

    kind: str  # "json" or "special"
    value: Any
    line: int


_EXT_RE = re.compile(r"%(json|special)\s*\{")


def preprocess(text: str) -> tuple[str, dict[str, ExtensionBlock], list[tuple[int, int]]]:
    """Replace ``%json{...}`` / ``%special{...}`` by declared terminals.

    Lark comments, strings and regexps are skipped, so the markers only count in rule bodies.
    Returns the new text, the externals by terminal name, and ``(line in the new text, newlines
    swallowed)`` for every block that spanned several lines (to map error lines back).
    """
    out: list[str] = []
    ext: dict[str, ExtensionBlock] = {}
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
                    ext[name] = ExtensionBlock(kind, value, line)
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


def map_line(line: int, shifts: list[tuple[int, int]]) -> int:
    """A line of the pre-processed text -> the line of the original text."""
    return line + sum(nl for at, nl in shifts if at < line)
