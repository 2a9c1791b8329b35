"""``chat``: one assistant turn in the OpenAI chat format, tool calls constrained to be valid.

Why: a user of the OpenAI tools API expects ``messages`` + ``tools`` in and an assistant message
out, whose ``tool_calls[i].function.arguments`` is a JSON string that validates against that
tool's parameters. Here every call is generated under the turn's constraint
(:mod:`decode.tools.constraint`), so it parses and validates by construction; the message is then
read back with the family's envelope (:mod:`decode.tools.envelopes`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from ..result import GenerationArgumentError, GenerationError, ToolArgumentsError
from .constraint import check_tool_choice, response_schema, turn_constraint
from .envelopes import DEFAULT_SYSTEM_PROMPT, ENVELOPES, Envelope, detect_envelope, template_has_tools
from .schemas import Tool, as_tools

__all__ = ["Turn", "chat", "prepare_turn", "prompt_messages", "read_turn", "tool_call_message"]

_ROLES = ("system", "user", "assistant", "tool")


def _check_messages(messages) -> list[dict]:
    if not isinstance(messages, (list, tuple)) or not messages:
        raise GenerationArgumentError("messages", "must be a non-empty list of chat messages (dicts)")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise GenerationArgumentError("messages", f"message {i} must be a dict whose role is one of {_ROLES}: {m!r}")
    return list(messages)


def _arguments_dict(call: dict) -> dict:
    args = call.get("function", {}).get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            raise GenerationArgumentError("messages", f"tool call arguments are not JSON: {args!r}") from None
    return args


def prompt_messages(messages: list[dict], tools: list[Tool], envelope: Envelope, native: bool) -> list[dict]:
    """The messages the chat template sees. ``native`` (the template renders tools itself):
    the messages as they are, arguments as dicts (templates ``tojson`` them). Otherwise the tools
    go into the system prompt (:data:`DEFAULT_SYSTEM_PROMPT`, before the caller's own system text),
    earlier calls are written back in the envelope, and tool results become user turns."""
    out: list[dict] = []
    if native:
        for m in messages:
            if m["role"] == "assistant" and m.get("tool_calls"):
                m = {**m, "content": m.get("content") or "",
                     "tool_calls": [{**c, "function": {**c["function"], "arguments": _arguments_dict(c)}}
                                    for c in m["tool_calls"]]}
            out.append(m)
        return out
    names: dict[str, str] = {}  # call id -> function name, for tool results
    system = None
    if tools:
        system = DEFAULT_SYSTEM_PROMPT.format(tools="\n".join(json.dumps(t.openai(), ensure_ascii=False) for t in tools))
    rest = list(messages)
    if rest and rest[0]["role"] == "system":
        own = rest.pop(0).get("content") or ""
        system = own if system is None else own + "\n\n" + system
    if system is not None:
        out.append({"role": "system", "content": system})
    for m in rest:
        if m["role"] == "assistant" and m.get("tool_calls"):
            calls = [(c["function"]["name"], _arguments_dict(c)) for c in m["tool_calls"]]
            for c in m["tool_calls"]:
                names[c.get("id", "")] = c["function"]["name"]
            text = ((m.get("content") or "") + "\n").lstrip("\n") + envelope.render_calls(calls)
            out.append({"role": "assistant", "content": text})
        elif m["role"] == "tool":
            name = m.get("name") or names.get(m.get("tool_call_id", ""), "")
            content = m.get("content")
            content = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
            out.append({"role": "user", "content": envelope.render_result(name, content)})
        else:
            out.append({"role": m["role"], "content": m.get("content") or ""})
    # consecutive tool results (parallel calls) read as one user turn
    merged: list[dict] = []
    for m in out:
        if merged and m["role"] == "user" and merged[-1]["role"] == "user" \
                and m["content"].startswith("<tool_response>") and merged[-1]["content"].endswith("</tool_response>"):
            merged[-1] = {"role": "user", "content": merged[-1]["content"] + "\n" + m["content"]}
        else:
            merged.append(m)
    return merged


def _prompt(tokenizer, messages: list[dict], tools: list[Tool], envelope: Envelope, native: bool):
    """What ``generate`` gets: chat messages, or (a template that renders tools) the rendered text
    without the BOS the tokenizer adds again."""
    msgs = prompt_messages(messages, tools, envelope, native and bool(tools))
    if not (native and tools):
        return msgs
    text = tokenizer.apply_chat_template(msgs, tools=[t.openai() for t in tools], add_generation_prompt=True,
                                         tokenize=False)
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos):
        ids = tokenizer("x")["input_ids"]
        if ids and ids[0] == tokenizer.bos_token_id:
            text = text[len(bos):]
    return text


def tool_call_message(content: str | None, calls: list[tuple[str, dict]]) -> dict:
    """An OpenAI assistant message: ``content`` (None when empty) and ``tool_calls``."""
    msg: dict[str, Any] = {"role": "assistant", "content": content or None}
    if calls:
        msg["tool_calls"] = [{"id": "call_" + uuid.uuid4().hex[:24], "type": "function",
                              "function": {"name": n, "arguments": json.dumps(a, ensure_ascii=False)}}
                             for n, a in calls]
    elif content is None or content == "":
        msg["content"] = content or ""
    return msg


@dataclass(frozen=True)
class Turn:
    """One assistant turn, prepared: what ``generate`` runs (``prompt``, ``constraint``) and what
    reads its output back (``envelope``, the ``offered`` tools)."""

    prompt: Any
    constraint: Any
    envelope: Envelope
    offered: tuple


def prepare_turn(tokenizer, messages, *, tools=None, tool_choice="auto", parallel_tool_calls: bool = True,
                 response_format=None, envelope: str | Envelope | None = None) -> Turn:
    """The prompt and constraint of one turn (see :func:`chat` for the arguments); raises
    :class:`~decode.GenerationArgumentError` on bad arguments, before anything is compiled.
    Why apart from :func:`chat`: a server prepares the turn, decodes it in its own batch, and
    reads the output with :func:`read_turn`."""
    messages = _check_messages(messages)
    tools_list = as_tools(tools)
    choice = check_tool_choice(tool_choice, tools_list)
    schema = response_schema(response_format)
    if not isinstance(parallel_tool_calls, bool):
        raise GenerationArgumentError("parallel_tool_calls", f"must be True or False, got {parallel_tool_calls!r}")
    if isinstance(envelope, str):
        if envelope not in ENVELOPES:
            raise GenerationArgumentError("envelope", f"unknown envelope {envelope!r} (one of {sorted(ENVELOPES)})")
        envelope = ENVELOPES[envelope]
    env = envelope or detect_envelope(tokenizer)
    offered = [] if choice == "none" else tools_list
    prompt = _prompt(tokenizer, messages, offered, env, template_has_tools(tokenizer))
    constraint = turn_constraint(env, offered, choice, parallel_tool_calls, schema)
    return Turn(prompt=prompt, constraint=constraint, envelope=env, offered=tuple(offered))


def read_turn(turn: Turn, text: str, *, finished: bool = True) -> tuple[str | None, list[tuple[str, dict]]]:
    """``(content, calls)`` of a turn's output: calls parsed with the envelope and each validated
    against its tool. Raises :class:`~decode.GenerationError` naming the call that is not valid
    (possible only when the output stopped early: ``finished=False``)."""
    if not turn.offered:
        return text, []
    content, parsed = turn.envelope.parse(text)
    by_name = {t.name: t for t in turn.offered}
    calls: list[tuple[str, dict]] = []
    for c in parsed:
        problem = c.error
        if problem is None and c.name not in by_name:
            problem = f"unknown function {c.name!r}"
        if problem is None:
            try:
                by_name[c.name].validate(c.arguments)
            except ToolArgumentsError as e:
                problem = str(e)
        if problem is not None:
            raise GenerationError(f"the model's tool call is not valid ({problem})"
                                  + ("" if finished else "; the output stopped at max_new_tokens"),
                                  partial_text=text)
        calls.append((c.name, c.arguments))
    return content, calls


def chat(model, tokenizer, messages, *, tools=None, tool_choice="auto", parallel_tool_calls: bool = True,
         response_format=None, envelope: str | Envelope | None = None, return_result: bool = False,
         **generate_kwargs) -> dict:
    """One assistant turn: an OpenAI-format message (``role``, ``content``, ``tool_calls``).

    ``tools``: OpenAI tool dicts, Python functions (schema from the signature, type hints and
    docstring) or Pydantic model classes. ``tool_choice``: ``"none"`` (plain text, no tool
    offered), ``"auto"`` (free text; a call may start at the envelope's trigger), ``"required"``
    (one or more calls, no text) or ``{"type": "function", "function": {"name": ...}}`` (exactly
    that call). ``parallel_tool_calls=False``: at most one call. ``response_format``:
    ``{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}`` or
    ``{"type": "json_object"}``: the content is JSON under that schema. ``envelope``:
    ``"hermes"``, ``"llama3"`` or ``"mistral"`` (default: read from the chat template).

    Every call's ``arguments`` is a JSON string valid under its tool's parameters (the output is
    generated under that grammar). ``generate_kwargs`` go to :func:`decode.generate`
    (``max_new_tokens``, ``temperature``, ``seed``, ...); ``finish_within_budget`` defaults to
    True, so a call that reaches ``max_new_tokens`` is completed by the grammar. Raises
    :class:`~decode.GenerationError` when a call was left unfinished anyway.
    ``return_result=True`` returns ``(message, GenerationResult)``.
    """
    from ..loop import generate

    turn = prepare_turn(tokenizer, messages, tools=tools, tool_choice=tool_choice,
                        parallel_tool_calls=parallel_tool_calls, response_format=response_format, envelope=envelope)
    generate_kwargs.setdefault("finish_within_budget", True)
    res = generate(model, tokenizer, turn.prompt, turn.constraint, **generate_kwargs)
    if not turn.offered:
        msg = {"role": "assistant", "content": res.text}
        return (msg, res) if return_result else msg
    try:
        content, calls = read_turn(turn, res.text, finished=res.finished)
    except GenerationError as e:
        raise GenerationError(str(e), partial_text=res.text, result=res) from None
    msg = tool_call_message(content, calls)
    return (msg, res) if return_result else msg
