"""The constraint of one assistant turn, from ``tools``, ``tool_choice``, ``parallel_tool_calls``
and ``response_format`` (OpenAI's meaning of each).

=================== ==========================================================================
``tool_choice``     the output is
=================== ==========================================================================
``"none"``          plain text (or the ``response_format`` JSON); no tool is offered
``"auto"``          free text without the trigger, or free text then the trigger and calls
                    (:class:`~decode.tools.triggered.Triggered`); with a ``response_format``,
                    the JSON content or the calls
``"required"``      the trigger and one or more calls (one, without ``parallel_tool_calls``)
a named function    the trigger and exactly one call of that function
=================== ==========================================================================

The calls are the envelope's grammar (:meth:`~decode.tools.envelopes.Envelope.region`): each
tool's name as one alternative, followed by arguments under that tool's own parameters schema.
"""

from __future__ import annotations

import json
from typing import Any

from ..constraints import Lark
from ..result import GenerationArgumentError
from .envelopes import Envelope
from .schemas import Tool
from .triggered import Triggered

__all__ = ["check_tool_choice", "response_schema", "turn_constraint"]


def check_tool_choice(tool_choice, tools: list[Tool]) -> str | Tool:
    """"none" / "auto" / "required", or the named :class:`Tool`; a clear error otherwise."""
    if tool_choice is None:
        tool_choice = "auto"
    if isinstance(tool_choice, str):
        if tool_choice in ("none", "auto", "required"):
            if tool_choice == "required" and not tools:
                raise GenerationArgumentError("tool_choice", '"required" needs at least one tool')
            return tool_choice
        name = tool_choice  # a bare function name, as a convenience
    elif isinstance(tool_choice, dict) and tool_choice.get("type") == "function" \
            and isinstance(tool_choice.get("function"), dict) and "name" in tool_choice["function"]:
        name = tool_choice["function"]["name"]
    else:
        raise GenerationArgumentError(
            "tool_choice", f'expected "none", "auto", "required" or {{"type": "function", "function": '
            f'{{"name": ...}}}}, got {tool_choice!r}')
    for t in tools:
        if t.name == name:
            return t
    raise GenerationArgumentError("tool_choice", f"no tool is named {name!r} (tools: {[t.name for t in tools]})")


def response_schema(response_format) -> dict | None:
    """The JSON schema of an OpenAI ``response_format`` (None: free text)."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict) or "type" not in response_format:
        raise GenerationArgumentError("response_format", f'expected {{"type": "json_schema", ...}}, '
                                      f'{{"type": "json_object"}} or {{"type": "text"}}, got {response_format!r}')
    kind = response_format["type"]
    if kind == "text":
        return None
    if kind == "json_object":  # any object: explicit, so that strict compiles keep it open
        return {"type": "object", "additionalProperties": True}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), (dict, bool)):
            raise GenerationArgumentError("response_format", 'json_schema needs {"name": ..., "schema": {...}}')
        return spec["schema"]
    raise GenerationArgumentError("response_format", f"unknown type {kind!r} (json_schema, json_object or text)")


def turn_constraint(envelope: Envelope, tools: list[Tool], choice: str | Tool, parallel: bool,
                    schema: dict | None) -> Any:
    """The constraint ``generate`` runs under for one assistant turn (None: unconstrained)."""
    if choice == "none" or not tools:
        return schema
    offered = [choice] if isinstance(choice, Tool) else tools
    region = envelope.region(offered, parallel=parallel and not isinstance(choice, Tool))
    if choice == "auto" and schema is None:
        return Triggered(envelope.trigger, Lark(region, start="calls"))
    trigger = json.dumps(envelope.trigger, ensure_ascii=True)
    if choice == "auto":  # the response_format JSON, or the calls
        return Lark(f"turn: %json{json.dumps(schema)} | {trigger} calls\n" + region, start="turn")
    return Lark(f"turn: {trigger} calls\n" + region, start="turn")
