"""SmolLM2 calling a real Python function through ``decode.Agent`` and ``decode.chat`` (slow)."""

from __future__ import annotations

import json

import pytest

import decode

pytestmark = [pytest.mark.slow, pytest.mark.model]


@pytest.fixture(scope="module")
def smol():
    return decode.load_default_model(progress=lambda m: None)


def test_smollm2_agent_calls_a_real_function(smol):
    model, tok = smol
    seen = []

    def multiply(a: int, b: int) -> int:
        """Multiply two integers.

        Args:
            a: The first factor.
            b: The second factor.
        """
        seen.append((a, b))
        return a * b

    agent = decode.Agent(model, tok, tools=[multiply], tool_choice="required", max_steps=3,
                         temperature=0, max_new_tokens=96)
    res = agent.run("What is 17 times 23?")
    assert res.calls and all(c.ok for c in res.calls)
    assert seen and all(isinstance(a, int) and isinstance(b, int) for a, b in seen)
    assert (17, 23) in seen or (23, 17) in seen  # greedy SmolLM2 reads the numbers off the question
    results = [m["content"] for m in res.messages if m["role"] == "tool"]
    assert "391" in results  # the function ran and its result went back to the model
    assert res.steps >= 2  # and the model was asked again with it


def test_smollm2_chat_weather_call_is_schema_valid(smol):
    model, tok = smol
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"], "additionalProperties": False}}}]
    msg = decode.chat(model, tok, [{"role": "user", "content": "What is the weather in Paris, in celsius?"}],
                      tools=tools, tool_choice="required", temperature=0, max_new_tokens=64)
    assert len(msg["tool_calls"]) >= 1
    args = json.loads(msg["tool_calls"][0]["function"]["arguments"])
    assert set(args) == {"city", "unit"} and args["unit"] in ("celsius", "fahrenheit")
    assert "paris" in args["city"].lower()
