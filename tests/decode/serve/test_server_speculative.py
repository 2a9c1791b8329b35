"""``structgen serve --speculative`` over HTTP with the official ``openai`` client (tiny random model
over SmolLM2's tokenizer): the server default and the per-request ``speculative`` field, greedy
outputs token-identical to the plain path for concurrent requests with different schemas,
streams that reassemble, ``usage.speculative`` (drafted / accepted, as vLLM counts them), 400s
for what speculative decoding does not take, and the CLI flags."""

from __future__ import annotations

import asyncio
import json

import httpx
import jsonschema
import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from decode import Speculation  # noqa: E402
from decode.serve.app import ServeConfig, ServerThread, create_app  # noqa: E402
from tests.decode.serve import test_server as plain_server  # noqa: E402
# the openai client fixture (it reads this module's ``server``) and the response_format helper
from tests.decode.serve.test_server import client, fmt  # noqa: E402,F401

# four of the plain server tests' schemas (an object with bounds, an array of enums inside an
# object, an array of integers, nested objects) and free text
SCHEMAS = [plain_server.SCHEMAS[i] for i in (0, 1, 2, 6)] + [None]
USER = [{"role": "user", "content": 'Answer in JSON, e.g. {"name": "Ann", "age": 3}.'}]


@pytest.fixture(scope="module")
def server(smol_model, smollm2_tokenizer):
    config = ServeConfig(model_id="tiny", max_batch=4, default_max_tokens=40, compile_budget_s=3.0,
                         speculative=Speculation(max_draft=4))
    app = create_app(smol_model, smollm2_tokenizer, config)
    with ServerThread(app) as srv:
        srv.state = app.state.structgen
        yield srv


def _kw(schema, **kw):
    kw = {"model": "tiny", "messages": USER, "max_tokens": 30, "temperature": 0, **kw}
    if schema is not None:
        kw["response_format"] = fmt(schema)
    return kw


def test_concurrent_greedy_requests_match_the_plain_path(server):
    """Five concurrent requests, four schemas and free text, batched together: each one's
    speculative answer (the server default) is the plain one's, and usage reports the drafts."""
    async def run(extra):
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120)
        try:
            return await asyncio.gather(*(client.chat.completions.create(**_kw(s, extra_body=extra))
                                          for s in SCHEMAS))
        finally:
            await client.close()

    before = dict(server.state.engine.stats)
    spec = asyncio.run(run({}))
    plain = asyncio.run(run({"speculative": False}))
    stats = server.state.engine.stats
    assert stats["speculative_rows"] - before["speculative_rows"] == len(SCHEMAS)
    assert stats["max_rows"] >= 3  # they were batched
    for s, a, b in zip(SCHEMAS, spec, plain):
        assert a.choices[0].message.content == b.choices[0].message.content
        assert a.choices[0].finish_reason == b.choices[0].finish_reason
        assert a.usage.completion_tokens == b.usage.completion_tokens
        if s is not None:
            jsonschema.validate(json.loads(a.choices[0].message.content), s)
        u = a.usage.model_extra["speculative"]
        assert u["draft_tokens"] >= u["accepted_tokens"] >= 0 and u["forward_passes"] >= 1
        assert "speculative" not in (b.usage.model_extra or {})
    passes = sum(a.usage.model_extra["speculative"]["forward_passes"] for a in spec)
    assert passes < sum(a.usage.completion_tokens for a in spec)


def test_per_request_object_and_stream(client, server):
    """``{"max_draft": 2}`` in the body; the stream's deltas add up to the non-stream text, and its
    usage chunk carries the speculative counts."""
    kw = _kw(SCHEMAS[0], extra_body={"speculative": {"max_draft": 2, "drafts": ["grammar", "ngram"]}})
    full = client.chat.completions.create(**kw)
    parts, usage = [], None
    for chunk in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw):
        usage = chunk.usage or usage
        parts += [c.delta.content or "" for c in chunk.choices]
    assert "".join(parts) == full.choices[0].message.content and sum(1 for p in parts if p) > 2
    assert usage.model_extra["speculative"] == full.usage.model_extra["speculative"]
    plain = client.chat.completions.create(**_kw(SCHEMAS[0], extra_body={"speculative": False}))
    assert full.choices[0].message.content == plain.choices[0].message.content


def test_completions_with_stop_and_n(client):
    base = client.completions.create(model="tiny", prompt="Once upon a time", max_tokens=24, temperature=0,
                                     extra_body={"speculative": False})
    stop = base.choices[0].text[9:12]
    r = client.completions.create(model="tiny", prompt="Once upon a time", max_tokens=24, temperature=0, stop=[stop],
                                  n=2)
    assert [c.finish_reason for c in r.choices] == ["stop", "stop"]
    assert r.choices[0].text == r.choices[1].text == base.choices[0].text[:base.choices[0].text.find(stop)]
    assert r.usage.model_extra["speculative"]["forward_passes"] >= 2


def test_sampled_seeded_requests_repeat(client):
    kw = _kw(SCHEMAS[1], temperature=0.9, seed=5, n=2)
    a = client.chat.completions.create(**kw)
    b = client.chat.completions.create(**kw)
    assert [c.message.content for c in a.choices] == [c.message.content for c in b.choices]
    for c in a.choices:
        jsonschema.validate(json.loads(c.message.content), SCHEMAS[1])


def test_penalties_and_bad_fields(client, server):
    """The server default gives way to the penalties (a plain row); asking for both is a 400, as
    are unknown or out-of-range fields."""
    r = client.chat.completions.create(**_kw(None, frequency_penalty=0.5))
    assert "speculative" not in (r.usage.model_extra or {})
    for extra, word in (({"speculative": True}, "penalty"), ({"speculative": {"siblings": 2}}, "unknown"),
                        ({"speculative": {"max_draft": 0}}, "max_draft"), ({"speculative": "yes"}, "true, false"),
                        ({"speculative": {"drafts": ["model"]}}, "model")):
        kw = _kw(None, extra_body=extra)
        if extra == {"speculative": True}:
            kw["frequency_penalty"] = 0.5
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(**kw)
        assert e.value.body["param"] == "speculative" and word in e.value.body["message"], e.value.body
    h = httpx.get(f"http://{server.host}:{server.port}/health").json()
    assert h["status"] == "ok" and h["stats"]["speculative_rows"] > 0
    assert h["stats"]["draft_tokens"] >= h["stats"]["accepted_tokens"] > 0


def test_cli_serve_speculative_flags(run, monkeypatch):
    seen = {}
    monkeypatch.setattr("decode.serve.app.serve", lambda model, **kw: seen.update(model=model, **kw))
    rc, _, err = run("serve", "--speculative", "--max-draft", "6")
    assert rc == 0, err
    assert seen["speculative"] == Speculation(max_draft=6)
    rc, _, err = run("serve")
    assert rc == 0 and seen["speculative"] is None
    rc, _, err = run("serve", "--max-draft", "6")
    assert rc == 2 and "--speculative" in err
    rc, _, err = run("serve", "--speculative", "--max-draft", "0")
    assert rc == 2 and "--max-draft" in err
