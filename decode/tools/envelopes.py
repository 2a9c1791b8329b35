"""Envelopes: how one model family writes tool calls, reads them back, and is told about tools.

Why: the constraint and the parser must agree with what the model was trained to write, and
that differs by family. An :class:`Envelope` says, for one family, the trigger that opens the
calls, the grammar of the calls after it (tool names as alternatives, each one's arguments
under its own parameters schema, several calls when parallel calls are allowed), how a call is
written back into the history, and how calls are parsed from text. The family is read from the
chat template where it has tool support; a template without it (SmolLM2) gets the Hermes
envelope and a system prompt listing the tools (:data:`DEFAULT_SYSTEM_PROMPT`).

======== ======================================================= ===============================
family   calls                                                    chosen when the template has
======== ======================================================= ===============================
hermes   ``<tool_call>\\n{"name": f, "arguments": {...}}\\n</tool_call>``  ``<tool_call>`` (Hermes, Qwen) or no tool support
llama3   ``{"name": f, "parameters": {...}}``, ``; ``-separated    ``<|python_tag|>`` / ``ipython``
mistral  ``[TOOL_CALLS][{"name": f, "arguments": {...}}, ...]``    ``[TOOL_CALLS]``
======== ======================================================= ===============================

Mistral's ``[TOOL_CALLS]`` is a special token; the token layer matches text only, so the
constraint lets the model spell it with ordinary tokens and never allows the special id (the
``%special`` limitation of :mod:`constrain.frontends.lark.extensions`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .schemas import Tool

__all__ = ["DEFAULT_SYSTEM_PROMPT", "ENVELOPES", "Envelope", "ParsedCall", "detect_envelope", "template_has_tools"]


#: the system prompt given to a model whose chat template has no tool support ({tools}: one JSON
#: tool dict per line); the Hermes function-calling prompt, shortened
DEFAULT_SYSTEM_PROMPT = (
    "You are a function calling AI model. You are provided with function signatures within "
    "<tools></tools> XML tags. You may call one or more functions to assist with the user query. "
    "Don't make assumptions about what values to plug into functions. Here are the available tools:\n"
    "<tools>\n{tools}\n</tools>\n"
    "For each function call return a JSON object with the function name and arguments within "
    "<tool_call></tool_call> XML tags:\n"
    "<tool_call>\n{{\"name\": <function-name>, \"arguments\": <args-json-object>}}\n</tool_call>"
)


@dataclass(frozen=True)
class ParsedCall:
    """One call read back from text: the name, the arguments (a dict, or None when they did not
    parse) and what went wrong (None when nothing did)."""

    name: str | None
    arguments: dict | None
    error: str | None = None


def _lark_string(s: str) -> str:
    """``s`` as a Lark string literal (JSON escaping is valid Lark escaping for these)."""
    return json.dumps(s, ensure_ascii=True)


@dataclass(frozen=True)
class Envelope:
    """One family's tool-call syntax. ``trigger`` opens the calls; ``call_prefix`` is the text of a
    call object before its name (``{"name": ``), ``arguments_key`` the key of its arguments."""

    name: str
    trigger: str
    arguments_key: str = "arguments"

    # ------------------------------------------------------------------ the grammar

    def _call_rules(self, tools: list[Tool]) -> str:
        """``call`` -> one alternative per tool: its name, then its arguments schema."""
        alts, rules = [], []
        for i, t in enumerate(tools):
            head = '{"name": ' + json.dumps(t.name) + ', "' + self.arguments_key + '": '
            rules.append(f"call_{i}: {_lark_string(head)} %json{json.dumps(t.parameters)} \"}}\"\n")
            alts.append(f"call_{i}")
        return "call: " + " | ".join(alts) + "\n" + "".join(rules)

    def region(self, tools: list[Tool], parallel: bool) -> str:
        """Lark text whose start rule ``calls`` is everything after the trigger: one call, or
        (``parallel``) one or more."""
        if not tools:
            raise ValueError("an envelope region needs at least one tool")
        def more(group: str) -> str:  # the second and later calls, when allowed
            return f" ({group})*" if parallel else ""

        if self.name == "hermes":
            body = ('calls: SEP? call SEP? "</tool_call>"' + more('SEP? "<tool_call>" SEP? call SEP? "</tool_call>"')
                    + '\nSEP: /[ \\n]{1,2}/\n')
            return body + self._call_rules(tools)
        if self.name == "mistral":
            return 'calls: " "? "[" call' + more('", " call') + ' "]"\n' + self._call_rules(tools)
        if self.name == "llama3":
            # the trigger is the call object's opening '{"name": ', so the first call starts after it
            rules = self._call_rules(tools)
            firsts = []
            for i, t in enumerate(tools):
                rest = json.dumps(t.name) + ', "' + self.arguments_key + '": '
                firsts.append(f"first_{i}: {_lark_string(rest)} %json{json.dumps(t.parameters)} \"}}\"\n")
            return ('calls: first' + more('"; " call') + '\nfirst: ' + " | ".join(f"first_{i}" for i in range(len(tools)))
                    + "\n" + "".join(firsts) + rules)
        raise AssertionError(self.name)

    # ------------------------------------------------------------------ writing calls back

    def render_calls(self, calls: list[tuple[str, dict]]) -> str:
        """The text the model would have written for ``calls`` ((name, arguments) pairs)."""
        objs = [{"name": n, self.arguments_key: a} for n, a in calls]
        if self.name == "hermes":
            return "\n".join(f"<tool_call>\n{json.dumps(o, ensure_ascii=False)}\n</tool_call>" for o in objs)
        if self.name == "mistral":
            return "[TOOL_CALLS]" + json.dumps(objs, ensure_ascii=False)
        return "; ".join(json.dumps(o, ensure_ascii=False) for o in objs)

    def render_result(self, name: str, content: str) -> str:
        """A tool's result as the user-turn text of a template without tool support."""
        return f"<tool_response>\n{json.dumps({'name': name, 'content': content}, ensure_ascii=False)}\n</tool_response>"

    # ------------------------------------------------------------------ reading calls

    def split(self, text: str) -> tuple[str, str | None]:
        """(free text before the first trigger, the text from the trigger on; None without one)."""
        i = text.find(self.trigger)
        if i < 0:
            return text, None
        return text[:i], text[i:]

    def parse(self, text: str) -> tuple[str, list[ParsedCall]]:
        """(content, calls) of a model's output. Lenient (an unconstrained output may be broken):
        each call that does not parse is a :class:`ParsedCall` with ``error`` set."""
        content, rest = self.split(text)
        if rest is None:
            return content.strip(), []
        dec = json.JSONDecoder()
        calls: list[ParsedCall] = []
        if self.name == "hermes":
            for block in re.split(re.escape(self.trigger), rest)[1:]:
                end = block.find("</tool_call>")
                body = (block if end < 0 else block[:end]).strip()
                calls.append(self._call_of(body, dec, closed=end >= 0))
        elif self.name == "mistral":
            body = rest[len(self.trigger):].strip()
            try:
                arr, _ = dec.raw_decode(body)
            except json.JSONDecodeError as e:
                calls.append(ParsedCall(None, None, f"the calls are not a JSON array ({e})"))
            else:
                if not isinstance(arr, list):
                    arr = [arr]
                calls.extend(self._call_of(json.dumps(o), dec) for o in arr)
        else:  # llama3: the trigger is the start of the first call object
            pos = 0
            while pos < len(rest):
                try:
                    obj, end = dec.raw_decode(rest, pos)
                except json.JSONDecodeError as e:
                    calls.append(ParsedCall(None, None, f"a call is not a JSON object ({e})"))
                    break
                calls.append(self._call_of(json.dumps(obj), dec))
                m = re.compile(r"\s*;\s*").match(rest, end)
                if not m:
                    break
                pos = m.end()
        return content.strip(), calls

    def _call_of(self, body: str, dec, closed: bool = True) -> ParsedCall:
        try:
            obj, end = dec.raw_decode(body)
        except json.JSONDecodeError as e:
            return ParsedCall(None, None, f"the call is not JSON ({e})")
        if body[end:].strip():
            return ParsedCall(None, None, f"text after the call's JSON: {body[end:].strip()[:40]!r}")
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            return ParsedCall(None, None, "the call is not an object with a string 'name'")
        args = obj.get(self.arguments_key, obj.get("arguments", obj.get("parameters")))
        if isinstance(args, str):  # some models write the arguments as a JSON string
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                pass
        if not isinstance(args, dict):
            return ParsedCall(obj["name"], None, f"the arguments of {obj['name']!r} are not a JSON object")
        return ParsedCall(obj["name"], args, None if closed else "the call is not closed")


ENVELOPES = {
    "hermes": Envelope("hermes", "<tool_call>"),
    "llama3": Envelope("llama3", '{"name": ', arguments_key="parameters"),
    "mistral": Envelope("mistral", "[TOOL_CALLS]"),
}


def _template_text(tokenizer) -> str:
    t = getattr(tokenizer, "chat_template", None)
    if isinstance(t, dict):
        t = t.get("tool_use") or t.get("default") or " ".join(t.values())
    return t or ""


def detect_envelope(tokenizer) -> Envelope:
    """The family's envelope, read from the chat template; Hermes when it names none."""
    t = _template_text(tokenizer)
    if "[TOOL_CALLS]" in t:
        return ENVELOPES["mistral"]
    if "<|python_tag|>" in t or "Environment: ipython" in t:
        return ENVELOPES["llama3"]
    return ENVELOPES["hermes"]


def template_has_tools(tokenizer) -> bool:
    """Whether the chat template renders a ``tools`` list itself (else we write the system prompt)."""
    t = _template_text(tokenizer)
    return bool(re.search(r"\btools\b", t)) and ("tool_call" in t or "TOOL_CALLS" in t or "ipython" in t)
