"""``decode.Agent``: the call-and-observe loop with a scripted model (each turn a fixed assistant
message), and once end to end on a tiny random model."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import decode
from decode.result import GenerationArgumentError
from decode.tools import tool_from_callable
from decode.tools.turn import tool_call_message
from tests import fakes

SEEN: list = []


def days_until(day: dt.date) -> int:
    """Days from 2024-01-01 to ``day``.

    Args:
        day: The day.
    """
    SEEN.append(day)
    return (day - dt.date(2024, 1, 1)).days


def divide(a: float, b: float) -> float:
    """a / b."""
    return a / b


def call(name: str, **args) -> tuple[str, dict]:
    return name, args


class Scripted(decode.Agent):
    """An Agent whose model replies with the scripted messages in order (and records its inputs)."""

    def __init__(self, script, **kw):
        super().__init__(None, None, tools=[days_until, divide], **kw)
        self.script, self.inputs, self.choices = list(script), [], []

    def _turn(self, messages, tool_choice):
        self.inputs.append([dict(m) for m in messages])
        self.choices.append(tool_choice)
        content, calls = self.script.pop(0)
        return tool_call_message(content, calls)


def tool_messages(messages):
    return [m for m in messages if m["role"] == "tool"]


def test_calls_run_converted_and_results_go_back():
    SEEN.clear()
    agent = Scripted([(None, [call("days_until", day="2024-02-01"), call("divide", a=1, b=4)]),
                      ("31 days; a quarter.", [])], system="Be exact.")
    res = agent.run("How long?")
    assert res.answer == "31 days; a quarter." and res.stop_reason == "answer" and res.steps == 2
    assert SEEN == [dt.date(2024, 2, 1)]  # the function got a date, not the string
    assert [(c.name, c.arguments, c.result, c.error) for c in res.calls] == [
        ("days_until", {"day": "2024-02-01"}, 31, None), ("divide", {"a": 1, "b": 4}, 0.25, None)]
    assert [m["role"] for m in res.messages] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    tools = tool_messages(res.messages)
    assert [t["content"] for t in tools] == ["31", "0.25"]
    assert [t["tool_call_id"] for t in tools] == [c["id"] for c in res.messages[2]["tool_calls"]]
    # the second turn saw both results
    assert [m["content"] for m in tool_messages(agent.inputs[1])] == ["31", "0.25"]
    assert set(res.timings) == {"generate_s", "tools_s", "total_s"} and res.timings["total_s"] >= 0


def test_a_raising_tool_and_bad_arguments_go_back_to_the_model():
    agent = Scripted([(None, [call("divide", a=1, b=0)]),
                      (None, [call("divide", a=1, b=2, c=3)]),
                      (None, [call("days_until", day="tomorrow")]),
                      (None, [call("multiply", a=1, b=2)]),
                      ("Done.", [])])
    res = agent.run("Divide.")
    assert res.answer == "Done." and res.steps == 5 and not any(c.ok for c in res.calls)
    errors = [t["content"] for t in tool_messages(res.messages)]
    assert errors[0].startswith("Error: ZeroDivisionError")
    assert errors[1] == "Error: invalid arguments for divide: c: Extra inputs are not permitted"
    assert errors[2].startswith("Error: invalid arguments for days_until: day: ")
    assert "no function named 'multiply'" in errors[3]
    assert res.calls[0].result is None and "division by zero" in res.calls[0].error


def test_max_steps_bounds_the_loop():
    agent = Scripted([(None, [call("divide", a=1, b=1)])] * 10, max_steps=3)
    res = agent.run("Loop forever.")
    assert res.stop_reason == "max_steps" and res.answer is None and res.steps == 3 and len(res.calls) == 3
    assert len(agent.script) == 7  # exactly three turns were asked for


@pytest.mark.parametrize("reset,choices", [(True, ["required", "auto", "auto"]),
                                           (False, ["required", "required", "required"])])
def test_tool_choice_resets_after_the_first_call(reset, choices):
    agent = Scripted([(None, [call("divide", a=1, b=1)])] * 2 + [("ok", [])],
                     tool_choice="required", reset_tool_choice=reset)
    res = agent.run("Go.")
    assert res.answer == "ok" and agent.choices == choices


def test_agent_arguments_are_checked():
    with pytest.raises(GenerationArgumentError, match="max_steps"):
        decode.Agent(None, None, tools=[divide], max_steps=0)
    with pytest.raises(GenerationArgumentError, match="at least one tool"):
        decode.Agent(None, None, tools=[])
    with pytest.raises(GenerationArgumentError, match="Python functions"):
        decode.Agent(None, None, tools=[{"type": "function", "function": {"name": "f"}}])
    with pytest.raises(GenerationArgumentError, match="question"):
        decode.Agent(None, None, tools=[divide]).run("")


def test_agent_on_a_random_model(smollm2_tokenizer):
    """Whatever a random model writes, every call reaches the function valid (the grammar), and
    the loop ends within max_steps."""
    calls = []

    def record(x: int, label: str = "a") -> str:
        """Record x."""
        calls.append((x, label))
        return "ok"

    model = fakes.make_tiny_model(49152, seed=2)
    model.config.max_position_embeddings = 2048
    agent = decode.Agent(model, smollm2_tokenizer, tools=[record], max_steps=2, tool_choice="required",
                         reset_tool_choice=False, max_new_tokens=24, seed=0)
    res = agent.run("Record 3.")
    assert res.stop_reason == "max_steps" and res.steps == 2  # "required" never answers
    assert res.calls and all(c.ok for c in res.calls) and len(calls) == len(res.calls)
    assert all(isinstance(x, int) and isinstance(lbl, str) for x, lbl in calls)
    tool_from_callable(record).validate(json.loads(res.messages[1]["tool_calls"][0]["function"]["arguments"]))
