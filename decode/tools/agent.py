"""``Agent``: the loop that lets a local model call Python functions until it answers.

Why: calling a tool is half of an agent; the other half runs it and feeds the result back. Each
step is one :func:`~decode.tools.turn.chat` turn (so every call is schema-valid by
construction); each call's arguments are then validated *and converted* by the tool's Pydantic
model before the function runs (a string becomes a ``date``, a dict a nested model). Nothing a
tool does stops the loop: a raised exception, unknown arguments or an unknown function go back
to the model as the tool message (``"Error: ..."``) so it can correct itself, and ``max_steps``
bounds the number of model turns.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..result import GenerationArgumentError, ToolArgumentsError
from .schemas import Tool, as_tools

__all__ = ["Agent", "AgentResult", "ToolCallRecord", "result_text"]


@dataclass
class ToolCallRecord:
    """One call the model made: its id, function name, arguments (as the model wrote them, a dict;
    None when they were not JSON), the function's return value or the error text, and the
    seconds the function ran."""

    id: str
    name: str
    arguments: dict | None
    result: Any = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class AgentResult:
    """What :meth:`Agent.run` returns.

    ``answer``: the final assistant text (None when ``max_steps`` ran out first); ``messages``:
    the whole transcript in OpenAI format (system, user, assistant with ``tool_calls``, tool);
    ``calls``: every tool call in order; ``steps``: model turns taken; ``stop_reason``:
    ``"answer"`` or ``"max_steps"``; ``timings``: ``generate_s`` (model turns), ``tools_s``
    (functions) and ``total_s``.
    """

    answer: str | None
    messages: list[dict]
    calls: list[ToolCallRecord] = field(default_factory=list)
    steps: int = 0
    stop_reason: str = "answer"
    timings: dict = field(default_factory=dict)


def result_text(value: Any) -> str:
    """A tool's return value as the tool message's content (JSON where it is not a string)."""
    if isinstance(value, str):
        return value

    def default(o):
        if hasattr(o, "model_dump"):
            return o.model_dump(mode="json")
        if hasattr(o, "value") and hasattr(type(o), "__members__"):  # an Enum member
            return o.value
        return str(o)

    return json.dumps(value, ensure_ascii=False, default=default)


class Agent:
    """A model with Python functions it may call: ``Agent(model, tokenizer, tools=[f, g]).run(q)``.

    ``tools``: Python functions (schemas from their signatures and docstrings, as for
    :func:`decode.chat`). ``system``: the caller's system prompt (the tool list is added to it
    for templates without tool support). ``max_steps``: at most this many model turns.
    ``tool_choice`` (as in :func:`decode.chat`) holds until the first call; with
    ``reset_tool_choice`` (the default, as in OpenAI's Agents SDK) later turns are ``"auto"``, so
    ``tool_choice="required"`` makes a model that rarely calls on its own (SmolLM2-135M) start
    with a call and still lets it answer. ``generate_kwargs`` (``temperature``,
    ``max_new_tokens``, ``seed``, ...) go to every turn.
    """

    def __init__(self, model, tokenizer, tools, system: str | None = None, max_steps: int = 8, *,
                 tool_choice="auto", parallel_tool_calls: bool = True, reset_tool_choice: bool = True,
                 **generate_kwargs):
        self.model, self.tokenizer = model, tokenizer
        self.tools: list[Tool] = as_tools(tools)
        if not self.tools:
            raise GenerationArgumentError("tools", "an Agent needs at least one tool")
        for t in self.tools:
            if t.function is None:
                raise GenerationArgumentError("tools", f"Agent tools must be Python functions; {t.name!r} has no "
                                              "function to run (use decode.chat for schema-only tools)")
        if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
            raise GenerationArgumentError("max_steps", f"must be an int >= 1, got {max_steps!r}")
        if system is not None and not isinstance(system, str):
            raise GenerationArgumentError("system", f"must be a string, got {type(system).__name__}")
        self.system, self.max_steps = system, max_steps
        self.tool_choice, self.parallel_tool_calls = tool_choice, parallel_tool_calls
        self.reset_tool_choice = reset_tool_choice
        self.generate_kwargs = generate_kwargs
        self._by_name = {t.name: t for t in self.tools}

    def _turn(self, messages: list[dict], tool_choice) -> dict:
        """One assistant message (a separate method: the one place a test scripts the model)."""
        from .turn import chat

        return chat(self.model, self.tokenizer, messages, tools=self.tools, tool_choice=tool_choice,
                    parallel_tool_calls=self.parallel_tool_calls, **self.generate_kwargs)

    def _run_call(self, call: dict) -> ToolCallRecord:
        fn = call.get("function", {})
        name, raw = fn.get("name", ""), fn.get("arguments", "{}")
        record = ToolCallRecord(id=call.get("id", ""), name=name, arguments=None)
        try:
            record.arguments = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as e:
            record.error = f"the arguments are not JSON ({e})"
            return record
        tool = self._by_name.get(name)
        if tool is None:
            record.error = f"there is no function named {name!r} (functions: {sorted(self._by_name)})"
            return record
        t0 = time.perf_counter()
        try:
            record.result = tool(record.arguments)  # validated and converted first (ToolArgumentsError)
        except ToolArgumentsError as e:
            record.error = str(e)
        except Exception as e:  # noqa: BLE001 - a tool's failure goes back to the model
            record.error = f"{type(e).__name__}: {e}"
        record.seconds = time.perf_counter() - t0
        return record

    def run(self, question: str) -> AgentResult:
        """Ask ``question``; run the model's calls and feed their results back until it answers
        without calling, or ``max_steps`` model turns have run."""
        if not isinstance(question, str) or not question.strip():
            raise GenerationArgumentError("question", "must be a non-empty string")
        t_start = time.perf_counter()
        messages: list[dict] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system})
        messages.append({"role": "user", "content": question})
        result = AgentResult(answer=None, messages=messages, stop_reason="max_steps")
        generate_s = tools_s = 0.0
        choice = self.tool_choice
        for _ in range(self.max_steps):
            t0 = time.perf_counter()
            msg = self._turn(messages, choice)
            generate_s += time.perf_counter() - t0
            messages.append(msg)
            result.steps += 1
            if not msg.get("tool_calls"):
                result.answer, result.stop_reason = msg.get("content") or "", "answer"
                break
            if self.reset_tool_choice:
                choice = "auto"
            for call in msg["tool_calls"]:
                rec = self._run_call(call)
                tools_s += rec.seconds
                result.calls.append(rec)
                content = result_text(rec.result) if rec.ok else f"Error: {rec.error}"
                messages.append({"role": "tool", "tool_call_id": rec.id, "name": rec.name, "content": content})
        result.timings = {"generate_s": generate_s, "tools_s": tools_s, "total_s": time.perf_counter() - t_start}
        return result
