"""``decode.chat``: tool_choice / parallel_tool_calls / response_format semantics, envelopes,
prompts; the turn constraints on the SmolLM2 vocabulary and whole turns on a tiny random model
(whose calls must still parse and validate: the grammar alone guarantees it)."""

from __future__ import annotations

import json

import jsonschema
import pytest

import decode
from decode.constraints import as_compiled
from decode.result import GenerationArgumentError
from decode.tools import ENVELOPES, as_tool, detect_envelope
from decode.tools.constraint import check_tool_choice, response_schema, turn_constraint
from decode.tools.envelopes import template_has_tools
from decode.tools.turn import prompt_messages
from tests import fakes


def get_weather(city: str, days: int = 1) -> str:
    """Weather forecast.

    Args:
        city: The city.
        days: How many days.
    """
    return f"sunny in {city} for {days} days"


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


TOOLS = [as_tool(get_weather), as_tool(add)]
W = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
A = '{"name": "add", "arguments": {"a": 1, "b": 2}}'


@pytest.fixture(scope="module")
def accepts(smollm2_vocab):
    def run(constraint, text: str) -> bool:
        c = as_compiled(constraint, smollm2_vocab, **decode.GENERATION_JSON_OPTIONS)
        m = c.matcher()
        return all(m.advance(t) for t in smollm2_vocab.encode(text)) and m.is_accepting()
    return run


def constraint_for(choice, parallel=True, schema=None, envelope="hermes"):
    return turn_constraint(ENVELOPES[envelope], TOOLS, check_tool_choice(choice, TOOLS), parallel, schema)


def test_tool_choice_languages(accepts):
    auto, req = constraint_for("auto"), constraint_for("required")
    one = constraint_for("auto", parallel=False)
    named = constraint_for({"type": "function", "function": {"name": "add"}})
    text = "The weather is fine."
    call_w, call_a = f"<tool_call>\n{W}\n</tool_call>", f"<tool_call>\n{A}\n</tool_call>"
    assert accepts(auto, text) and accepts(auto, "Let me look." + call_w) and accepts(auto, call_w + "\n" + call_a)
    assert not accepts(auto, call_w + " and some text after")
    assert not accepts(req, text) and accepts(req, call_w) and accepts(req, call_a + call_w)
    assert not accepts(req, "Sure." + call_w)  # required: the calls start at once
    assert accepts(one, call_w) and not accepts(one, call_w + call_a)  # parallel_tool_calls=False
    assert accepts(named, call_a) and not accepts(named, call_w) and not accepts(named, call_a + call_a)
    # arguments follow the named tool's own schema, not another's
    assert not accepts(req, '<tool_call>{"name": "add", "arguments": {"city": "Paris"}}</tool_call>')
    assert not accepts(req, '<tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>')
    assert not accepts(req, '<tool_call>{"name": "nope", "arguments": {}}</tool_call>')
    assert constraint_for("none") is None


def test_response_format(accepts):
    schema = response_schema({"type": "json_schema", "json_schema": {"name": "r", "schema": {
        "type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}}})
    with_tools = constraint_for("auto", schema=schema)
    assert accepts(with_tools, '{"answer": 3}') and accepts(with_tools, f"<tool_call>{A}</tool_call>")
    assert not accepts(with_tools, "three") and not accepts(with_tools, '{"answer": "3"}')
    assert constraint_for("none", schema=schema) == schema
    # json_object is any object, also under generation's strict options (a bare {"type": "object"}
    # compiled strict allows only {})
    any_object = response_schema({"type": "json_object"})
    assert accepts(any_object, '{"a": 1, "b": [true, {"c": null}]}') and accepts(any_object, "{}")
    assert not accepts(any_object, "[1]") and not accepts(any_object, '"x"')
    assert response_schema({"type": "text"}) is None and response_schema(None) is None
    with pytest.raises(GenerationArgumentError, match="response_format"):
        response_schema({"type": "xml"})
    with pytest.raises(GenerationArgumentError, match="response_format"):
        response_schema({"type": "json_schema", "json_schema": {"name": "r"}})


@pytest.mark.parametrize("name", ["llama3", "mistral"])
def test_other_envelopes(accepts, name):
    env = ENVELOPES[name]
    calls = [("add", {"a": 1, "b": 2}), ("get_weather", {"city": "Rome"})]
    text = env.render_calls(calls)
    assert accepts(constraint_for("required", envelope=name), text)
    assert not accepts(constraint_for("required", parallel=False, envelope=name), text)
    assert accepts(constraint_for("auto", envelope=name), "No call needed.")
    content, parsed = env.parse(text)
    assert content == "" and [(c.name, c.arguments) for c in parsed] == calls


def test_envelope_detection_and_parsing(smollm2_tokenizer):
    class T:
        def __init__(self, template):
            self.chat_template = template

    assert detect_envelope(T("{% if tools %}<tool_call>{% endif %}")).name == "hermes"
    assert template_has_tools(T("{% for t in tools %}{{ t }}{% endfor %}<tool_call>"))
    assert detect_envelope(T("{% if tools %}[TOOL_CALLS]{% endif %}")).name == "mistral"
    assert detect_envelope(T("Environment: ipython {{ tools }}")).name == "llama3"
    assert detect_envelope(smollm2_tokenizer).name == "hermes" and not template_has_tools(smollm2_tokenizer)
    content, calls = ENVELOPES["hermes"].parse('Hi <tool_call>{"name": "add", "arguments": {"a": 1}</tool_call>')
    assert content == "Hi" and calls[0].error  # broken JSON: reported, not raised


def test_prompt_without_template_tools_lists_them_and_writes_history_back():
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "5"}]
    out = prompt_messages(msgs, TOOLS, ENVELOPES["hermes"], native=False)
    assert out[0]["role"] == "system" and out[0]["content"].startswith("Be brief.")
    assert '"name": "get_weather"' in out[0]["content"] and "<tool_call>" in out[0]["content"]
    assert out[2] == {"role": "assistant",
                      "content": '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>'}
    assert out[3]["role"] == "user" and json.loads(out[3]["content"].split("\n")[1]) == {"name": "add", "content": "5"}


def test_chat_arguments_are_checked(tiny):
    model, tok = tiny
    msgs = [{"role": "user", "content": "hi"}]
    with pytest.raises(GenerationArgumentError, match="tool_choice"):
        decode.chat(model, tok, msgs, tools=[add], tool_choice="sometimes")
    with pytest.raises(GenerationArgumentError, match="no tool is named"):
        decode.chat(model, tok, msgs, tools=[add], tool_choice={"type": "function", "function": {"name": "sub"}})
    with pytest.raises(GenerationArgumentError, match="required"):
        decode.chat(model, tok, msgs, tools=None, tool_choice="required")
    with pytest.raises(GenerationArgumentError, match="messages"):
        decode.chat(model, tok, [{"role": "robot", "content": "x"}], tools=[add])
    with pytest.raises(GenerationArgumentError, match="envelope"):
        decode.chat(model, tok, msgs, tools=[add], envelope="xml")


@pytest.fixture(scope="module")
def tiny(smollm2_tokenizer):
    model = fakes.make_tiny_model(49152, seed=1)
    model.config.max_position_embeddings = 2048  # the tool list makes long prompts
    return model, smollm2_tokenizer


def _valid(msg: dict) -> list[tuple[str, dict]]:
    """The calls of ``msg``, each checked the way an OpenAI client would."""
    assert msg["role"] == "assistant"
    out = []
    for c in msg.get("tool_calls", []):
        assert c["type"] == "function" and c["id"].startswith("call_")
        tool = {t.name: t for t in TOOLS}[c["function"]["name"]]
        args = json.loads(c["function"]["arguments"])
        jsonschema.validate(args, tool.parameters)
        out.append((tool.name, args))
    return out


def test_random_model_calls_still_validate(tiny):
    """A random-weight model writes whatever the mask allows: every call must still be valid."""
    model, tok = tiny
    msgs = [{"role": "user", "content": "What is the weather in Paris?"}]
    req = decode.chat(model, tok, msgs, tools=[get_weather, add], tool_choice="required", seed=0, max_new_tokens=40)
    assert len(_valid(req)) >= 1 and req["content"] is None
    named = decode.chat(model, tok, msgs, tools=[get_weather, add], seed=0, max_new_tokens=32,
                        tool_choice={"type": "function", "function": {"name": "add"}})
    assert [n for n, _ in _valid(named)] == ["add"]
    one = decode.chat(model, tok, msgs, tools=[get_weather, add], tool_choice="required", seed=3,
                      parallel_tool_calls=False, max_new_tokens=32)
    assert len(_valid(one)) == 1
    none = decode.chat(model, tok, msgs, tools=[get_weather, add], tool_choice="none", seed=0, max_new_tokens=8)
    assert "tool_calls" not in none and isinstance(none["content"], str)
    fmt = decode.chat(model, tok, msgs, tools=[get_weather], tool_choice="none", seed=0, max_new_tokens=16,
                      response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": {
                          "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}})
    assert isinstance(json.loads(fmt["content"])["ok"], bool)


def test_a_template_with_tool_support_renders_the_tools_itself():
    from decode.tools.turn import _prompt

    tok = fakes.make_tiny_tokenizer()
    tok.chat_template = (
        "{% if tools %}[{{ tools | map(attribute='function') | map(attribute='name') | join(',') }}]{% endif %}"
        "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}"
        "{% for c in m.get('tool_calls', []) %}<tool_call>{{ c['function']['arguments'] | tojson }}</tool_call>"
        "{% endfor %}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")
    assert template_has_tools(tok) and detect_envelope(tok).name == "hermes"
    msgs = [{"role": "user", "content": "2+3?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "5"}]
    text = _prompt(tok, msgs, TOOLS, ENVELOPES["hermes"], native=True)
    # the template listed the tools, and got the arguments as a dict (not a JSON string to re-encode)
    assert text == '[get_weather,add]<user>2+3?<assistant><tool_call>{"a": 2, "b": 3}</tool_call><tool>5<assistant>'
