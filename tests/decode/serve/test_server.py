"""``structgen serve`` on a free local port, driven with the official ``openai`` client (tiny
random model over SmolLM2's tokenizer): structured outputs validate, tool calls validate,
streams reassemble to the non-stream text, bad input is a 400 naming what is wrong and the
server keeps serving, and a bounded load test (32 clients x 4 requests, different schemas)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import httpx
import jsonschema
import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from decode.serve.app import ServeConfig, ServerThread, create_app  # noqa: E402

SCHEMAS = [
    {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer",
     "minimum": 0, "maximum": 120}}, "required": ["name", "age"], "additionalProperties": False},
    {"type": "object", "properties": {"ok": {"type": "boolean"}, "tags": {"type": "array", "items": {"enum": ["a", "b"]},
     "maxItems": 3}}, "required": ["ok", "tags"], "additionalProperties": False},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 4},
    {"type": "object", "properties": {"when": {"type": "string", "format": "date"}, "n": {"type": "number"}},
     "required": ["when"], "additionalProperties": False},
    {"enum": ["red", "green", "blue"]},
    {"type": "object", "properties": {"id": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{3}$"}}, "required": ["id"],
     "additionalProperties": False},
    {"type": "object", "properties": {"p": {"type": "object", "properties": {"x": {"type": "integer"}},
     "required": ["x"], "additionalProperties": False}}, "required": ["p"], "additionalProperties": False},
    {"type": "string", "maxLength": 10},
]
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city.",
     "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20},
                                                      "days": {"type": "integer", "minimum": 1, "maximum": 7}},
                    "required": ["city"], "additionalProperties": False}}},
    {"type": "function", "function": {"name": "add", "description": "Add two integers.",
     "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                    "required": ["a", "b"], "additionalProperties": False}}},
]
USER = [{"role": "user", "content": "Answer in JSON."}]


@pytest.fixture(scope="module")
def server(smol_model, smollm2_tokenizer):
    app = create_app(smol_model, smollm2_tokenizer, ServeConfig(model_id="tiny", aliases=("default",), max_batch=8,
                                                                default_max_tokens=48, compile_budget_s=3.0))
    with ServerThread(app) as srv:
        srv.state = app.state.structgen
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)


def fmt(schema):
    return {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}}


def test_models_and_health(server, client):
    assert [m.id for m in client.models.list().data] == ["tiny", "default"]
    r = httpx.get(f"http://{server.host}:{server.port}/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["max_batch"] == 8


@pytest.mark.parametrize("schema", SCHEMAS[:4])
def test_json_schema_response_validates(client, schema):
    r = client.chat.completions.create(model="tiny", messages=USER, response_format=fmt(schema), max_tokens=40,
                                       temperature=0.8, seed=1)
    ch = r.choices[0]
    assert ch.finish_reason == "stop"  # finish_within_budget: the grammar closes what the budget cuts
    jsonschema.validate(json.loads(ch.message.content), schema)
    assert r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 0


def test_json_object_and_n_choices(client):
    r = client.chat.completions.create(model="default", messages=USER, response_format={"type": "json_object"},
                                       max_tokens=24, temperature=1.0, seed=3, n=3)
    assert [c.index for c in r.choices] == [0, 1, 2]
    for c in r.choices:
        assert isinstance(json.loads(c.message.content), dict)
    assert len({c.message.content for c in r.choices}) > 1  # seed + index: different draws
    again = client.chat.completions.create(model="default", messages=USER, response_format={"type": "json_object"},
                                           max_tokens=24, temperature=1.0, seed=3, n=3)
    assert [c.message.content for c in again.choices] == [c.message.content for c in r.choices]


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "add"}}])
def test_tools_give_schema_valid_calls(client, choice):
    r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "What is 2 plus 3?"}],
                                       tools=TOOLS, tool_choice=choice, max_tokens=60, temperature=0.7, seed=4)
    ch = r.choices[0]
    assert ch.finish_reason == "tool_calls" and ch.message.tool_calls
    by_name = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
    for call in ch.message.tool_calls:
        assert call.type == "function" and call.id.startswith("call_")
        jsonschema.validate(json.loads(call.function.arguments), by_name[call.function.name])
    if isinstance(choice, dict):
        assert {c.function.name for c in ch.message.tool_calls} == {"add"}


def test_tool_calls_stream(client):
    kw = dict(model="tiny", messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=TOOLS,
              tool_choice="required", max_tokens=60, temperature=0)
    full = client.chat.completions.create(**kw).choices[0].message.tool_calls
    calls, finish = {}, None
    for chunk in client.chat.completions.create(stream=True, **kw):
        for ch in chunk.choices:
            for tc in ch.delta.tool_calls or []:
                c = calls.setdefault(tc.index, {"name": "", "arguments": ""})
                c["name"] += tc.function.name or ""
                c["arguments"] += tc.function.arguments or ""
            finish = ch.finish_reason or finish
    assert finish == "tool_calls"
    assert [(c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())] == \
        [(c.function.name, json.loads(c.function.arguments)) for c in full]


def test_tool_results_round_trip(client):
    """The second turn of a tool call as an OpenAI client sends it: the assistant's tool_calls
    (arguments as a JSON string, content null) and the tool's result; the model may call again."""
    first = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "2 plus 3?"}],
                                           tools=TOOLS, tool_choice={"type": "function", "function": {"name": "add"}},
                                           max_tokens=40, temperature=0)
    call = first.choices[0].message.tool_calls[0]
    messages = [{"role": "user", "content": "2 plus 3?"}, first.choices[0].message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": call.id, "content": "5"}]
    r = client.chat.completions.create(model="tiny", messages=messages, tools=TOOLS, tool_choice="auto",
                                       max_tokens=30, temperature=0)
    ch = r.choices[0]
    assert ch.finish_reason in ("stop", "length", "tool_calls")
    for c in ch.message.tool_calls or []:
        params = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}[c.function.name]
        jsonschema.validate(json.loads(c.function.arguments), params)
    assert ch.message.content or ch.message.tool_calls


@pytest.mark.parametrize("schema", [None, SCHEMAS[0]])
def test_stream_reassembles_to_the_same_text(client, schema):
    kw = dict(model="tiny", messages=USER, max_tokens=30, temperature=0)
    if schema is not None:
        kw["response_format"] = fmt(schema)
    full = client.chat.completions.create(**kw)
    parts, finish, usage, roles = [], None, None, []
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw):
        if chunk.usage is not None:
            usage = chunk.usage
        for ch in chunk.choices:
            roles += [ch.delta.role] if ch.delta.role else []
            parts.append(ch.delta.content or "")
            finish = ch.finish_reason or finish
    assert roles == ["assistant"]
    assert "".join(parts) == full.choices[0].message.content
    assert sum(1 for p in parts if p) > 2
    assert finish == full.choices[0].finish_reason
    assert usage.completion_tokens == full.usage.completion_tokens


def test_completions_endpoint(client):
    r = client.completions.create(model="tiny", prompt=["Once upon a time", "Numbers:"], max_tokens=8,
                                  temperature=0, n=2)
    assert len(r.choices) == 4 and all(c.finish_reason == "length" for c in r.choices)
    assert r.choices[0].text == r.choices[1].text  # greedy, same prompt
    parts = [c.choices[0].text for c in client.completions.create(model="tiny", prompt="Once upon a time",
                                                                   max_tokens=8, temperature=0, stream=True)]
    assert "".join(parts) == r.choices[0].text
    j = client.completions.create(model="tiny", prompt="x", max_tokens=30, temperature=0,
                                  extra_body={"response_format": fmt(SCHEMAS[2])})
    jsonschema.validate(json.loads(j.choices[0].text), SCHEMAS[2])


def test_stop_strings(client):
    base = client.completions.create(model="tiny", prompt="Once upon a time", max_tokens=20, temperature=0)
    stop = base.choices[0].text[8:11]
    r = client.completions.create(model="tiny", prompt="Once upon a time", max_tokens=20, temperature=0, stop=[stop])
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].text == base.choices[0].text[:base.choices[0].text.find(stop)]


def _bad(client, **kw):
    kw.setdefault("model", "tiny")
    kw.setdefault("messages", USER)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(**kw)
    assert e.value.status_code == 400
    return e.value.body


def test_bad_schemas_are_400s_naming_the_problem(client, server):
    body = _bad(client, response_format=fmt({"type": "object", "properties": {
        "xs": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}}}))
    assert body["code"] == "unsupported_schema" and "uniqueItems" in body["message"]
    assert "#/properties/xs" in body["message"] and body["param"] == "response_format"
    body = _bad(client, response_format=fmt({"$ref": "#/definitions/nope"}))
    assert body["code"] == "invalid_schema" and "nope" in body["message"]
    body = _bad(client, response_format=fmt({"type": "string", "maxLength": "ten"}))
    assert body["code"] == "invalid_schema" and "maxLength" in body["message"]
    body = _bad(client, response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert body["param"] == "response_format"
    bad_tool = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
        "a": {"type": "array", "uniqueItems": True, "items": {"type": "number"}}}}}}]
    body = _bad(client, tools=bad_tool, tool_choice="required")
    assert body["code"] == "unsupported_schema" and body["param"] == "tools"
    assert body["message"].startswith("tools[0] (f) parameters: unsupported keyword 'uniqueItems' at '#/properties/a'")
    # over the compile budget: a 400 within it (the fixture's budget is 3 s)
    t0 = time.perf_counter()
    body = _bad(client, response_format=fmt({"type": "string", "pattern": "^a{1,100000}$"}))
    assert body["code"] == "compile_budget_exceeded" and time.perf_counter() - t0 < 3.0
    assert server.state.engine.alive


@pytest.mark.parametrize("kw, param", [
    (dict(model="gpt-4o"), "model"),
    (dict(temperature=5), "temperature"),
    (dict(top_p=0), "top_p"),
    (dict(n=0), "n"),
    (dict(max_tokens=0), "max_tokens"),
    (dict(max_tokens=100000), "max_tokens"),
    (dict(messages=[]), "messages"),
    (dict(messages=[{"role": "robot", "content": "hi"}]), "messages[0]"),
    (dict(stop=["a", "b", "c", "d", "e"]), "stop"),
    (dict(logprobs=True), "logprobs"),
    (dict(tool_choice="required"), "tool_choice"),
    (dict(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}}), "tool_choice"),
    (dict(response_format={"type": "xml"}), "response_format"),
])
def test_bad_parameters_are_400s(client, kw, param):
    body = _bad(client, **kw)
    assert body["param"] == param, body
    assert body["type"] == "invalid_request_error" and body["message"]


def test_malformed_bodies(server, client):
    url = f"http://{server.host}:{server.port}/v1/chat/completions"
    for content in (b"{not json", b"[1, 2]", b'"x"'):
        r = httpx.post(url, content=content, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["message"]
    r = httpx.get(f"http://{server.host}:{server.port}/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # still serving
    ok = client.chat.completions.create(model="tiny", messages=USER, max_tokens=4, temperature=0)
    assert ok.choices[0].finish_reason == "length"


def test_compiled_constraints_are_shared(server, client):
    cache = server.state.cache
    schema = {"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"],
              "additionalProperties": False}
    client.chat.completions.create(model="tiny", messages=USER, response_format=fmt(schema), max_tokens=12)
    hits, n = cache.hits, len(cache)
    client.chat.completions.create(model="tiny", messages=USER, response_format=fmt(schema), max_tokens=12)
    assert cache.hits == hits + 1 and len(cache) == n
    assert 0 < cache.nbytes <= cache.max_bytes


def test_load_32_clients(server):
    """32 concurrent clients x 4 requests, 8 schemas and plain text mixed: no errors, every output
    valid, every request answered; prints p50/p99 latency."""
    async def run():
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120,
                                    http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=64)))
        lat, bad = [], []

        async def one(c: int, k: int):
            schema = SCHEMAS[(c + k) % len(SCHEMAS)] if (c + k) % 5 else None
            kw = {"response_format": fmt(schema)} if schema is not None else {}
            t0 = time.perf_counter()
            r = await client.chat.completions.create(model="tiny", messages=USER, max_tokens=16,
                                                     temperature=0.8, seed=c * 10 + k, **kw)
            lat.append(time.perf_counter() - t0)
            text = r.choices[0].message.content
            if schema is not None:
                try:
                    jsonschema.validate(json.loads(text), schema)
                except Exception as e:  # noqa: BLE001
                    bad.append((schema, text, e))

        async def user(c: int):
            for k in range(4):
                await one(c, k)

        await asyncio.wait_for(asyncio.gather(*(user(c) for c in range(32))), timeout=300)
        await client.close()
        return lat, bad

    t0 = time.perf_counter()
    lat, bad = asyncio.run(run())
    wall = time.perf_counter() - t0
    assert not bad
    assert len(lat) == 128
    q = statistics.quantiles(lat, n=100)
    print(f"\nload: 128 requests in {wall:.1f} s, p50 {q[49] * 1e3:.0f} ms, p99 {q[98] * 1e3:.0f} ms, "
          f"max rows in a step {server.state.engine.stats['max_rows']}")
    assert server.state.engine.stats["max_rows"] == 8  # they were batched
    assert server.state.engine.alive


def test_cli_serve_arguments(run, monkeypatch):
    """``structgen serve`` passes its flags to decode.serve.app.serve; bad flags are exit 2."""
    seen = {}
    monkeypatch.setattr("decode.serve.app.serve", lambda model, **kw: seen.update(model=model, **kw))
    rc, _, err = run("serve", "--max-batch", "4", "--port", "9001", "--threads", "1", "--compile-budget", "2.5")
    assert rc == 0, err
    assert (seen["model"], seen["max_batch"], seen["port"], seen["threads"], seen["compile_budget_s"],
            seen["host"]) == ("default", 4, 9001, 1, 2.5, "127.0.0.1")
    rc, _, err = run("serve", "--max-batch", "0")
    assert rc == 2 and "--max-batch" in err
    rc, _, err = run("serve", "--port", "70000")
    assert rc == 2 and "--port" in err
