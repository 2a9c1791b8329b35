"""``Triggered(trigger, constraint)``: free text, then a constrained region that starts at the
first occurrence of a trigger string.

Why: a chat model that *may* call a tool (OpenAI's ``tool_choice="auto"``) writes free text, and
once it writes the envelope's opening (``<tool_call>``) everything after must be a valid call.
The language is, exactly,

    { x : x does not contain T }  U  { x T y : x T contains T only as a suffix, y in R }

so the region begins at the *first* occurrence of the trigger ``T`` (for a trigger that
overlaps itself, ``"aa"``, the free text ``"a"`` cannot be followed by it: ``"aaa"`` starts the
region one character earlier). It is written as a Lark grammar whose free-text terminals carry
a negative lookahead, which :mod:`constrain.frontends.lark` compiles exactly (lookarounds are
evaluated inside the terminal's own text), so no token that makes the output leave this
language is ever allowed. llguidance's lazy grammars and XGrammar's structural tags serve the
same purpose in their engines.

A ``Triggered`` is a constraint like ``Regex`` or ``Lark``: :func:`decode.constraints.as_compiled`
reads any object with a ``to_lark()`` method as the ``Lark`` it returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..constraints import Lark, constraint_kind, is_pydantic_class
from ..result import GenerationArgumentError

__all__ = ["Triggered", "regex_literal"]

#: names the generated grammar adds; a Lark region must not define them
START = "triggered_start"
TEXT = "TRIGGERED_TEXT"
PREFIX = "TRIGGERED_PREFIX"
REGION = "triggered_region"
REGION_RE = "TRIGGERED_REGION_RE"


def regex_literal(text: str) -> str:
    """``text`` as a Python regex that matches it literally, safe inside Lark's ``/.../``:
    ASCII letters and digits as themselves, every other character as ``\\uXXXX`` /
    ``\\UXXXXXXXX`` (no slash, quote or newline can end the literal early)."""
    out = []
    for ch in text:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def _region_lark(constraint) -> tuple[str, str]:
    """(grammar text defining the region, the region's start rule) for a JSON schema,
    ``Regex`` or ``Lark`` constraint."""
    kind = constraint_kind(constraint)
    if kind == "json":
        if is_pydantic_class(constraint):
            schema = constraint.model_json_schema()
        elif isinstance(constraint, str):
            try:
                schema = json.loads(constraint)
            except json.JSONDecodeError as e:
                raise GenerationArgumentError("constraint", f"Triggered: a str region must be a JSON schema ({e})") from None
        else:
            schema = constraint
        return f"{REGION}: %json{json.dumps(schema)}\n", REGION
    if kind == "regex":
        if "/" in constraint.pattern or "\n" in constraint.pattern:
            # Lark's /.../ literal cannot hold them unescaped; \x2f and \n spell them safely
            pattern = constraint.pattern.replace("/", "\\x2f").replace("\n", "\\n")
        else:
            pattern = constraint.pattern
        return f"{REGION}: {REGION_RE}\n{REGION_RE}: /{pattern}/\n", REGION
    if kind == "lark":
        lark = constraint if isinstance(constraint, Lark) else constraint.to_lark()
        text = lark.text
        if "%ignore" in text:
            raise GenerationArgumentError(
                "constraint", "Triggered: a Lark region cannot use %ignore (it would also apply to the "
                "free text before the trigger); write the whitespace into its rules")
        for name in (START, TEXT, PREFIX, REGION, REGION_RE):
            if name in text:
                raise GenerationArgumentError("constraint", f"Triggered: a Lark region cannot use the name {name}")
        return text + "\n", lark.start
    raise GenerationArgumentError(
        "constraint", f"Triggered: the region must be a JSON schema, Pydantic class, decode.Regex or "
        f"decode.Lark, got {type(constraint).__name__}")


@dataclass(frozen=True)
class Triggered:
    """Free text not containing ``trigger``; or free text, the trigger, then ``constraint``.

    ``constraint``: a JSON schema (dict, JSON text, Pydantic class), ``decode.Regex`` or
    ``decode.Lark`` (without ``%ignore``). ``require_trigger=True`` drops the free-text-only
    branch: the output must reach the trigger (free text before it is still allowed).
    """

    trigger: str
    constraint: Any
    require_trigger: bool = False

    def __post_init__(self):
        if not isinstance(self.trigger, str) or not self.trigger:
            raise GenerationArgumentError("trigger", f"must be a non-empty string, got {self.trigger!r}")
        if isinstance(self.constraint, Triggered):
            raise GenerationArgumentError("constraint", "Triggered regions cannot nest")
        if self.constraint is None:
            raise GenerationArgumentError("constraint", "Triggered needs a region constraint")
        _region_lark(self.constraint)  # refuse a bad region when it is made, not at first use

    def to_lark(self) -> Lark:
        """The exact Lark grammar of this language (start rule ``triggered_start``)."""
        region, region_start = _region_lark(self.constraint)
        t = regex_literal(self.trigger)
        free = "" if self.require_trigger else f"[{TEXT}] | "
        text = (
            f"{START}: {free}{PREFIX} {region_start}\n"
            f"{TEXT}: /(?:(?!{t})[\\s\\S])+/\n"
            f"{PREFIX}: /(?:(?!{t})[\\s\\S])*{t}/\n"
            + region
        )
        return Lark(text, start=START)
