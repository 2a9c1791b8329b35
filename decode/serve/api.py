"""The OpenAI wire format: request bodies checked and read into engine rows, results written
back as completions, chunks and error bodies.  No HTTP here (:mod:`.app` is the ASGI side), so
every rule is testable without a server.

What is read (everything else a client sends is ignored, as OpenAI-compatible servers do):
``model``, ``messages`` (text content, or a list of text parts), ``prompt`` (completions),
``response_format`` (``json_schema`` / ``json_object`` / ``text``), ``tools``, ``tool_choice``,
``parallel_tool_calls``, ``temperature``, ``top_p``, ``seed``, ``max_tokens`` /
``max_completion_tokens``, ``n``, ``stop``, ``stream``, ``stream_options.include_usage``,
``frequency_penalty``, ``presence_penalty``; extensions: ``top_k``,
``finish_within_budget`` (default True for constrained rows: the grammar writes the end of an
output whose tokens run out, so JSON and tool calls always parse) and ``speculative``
(``true`` / ``false`` / ``{"max_draft": n, "drafts": [...], "adaptive", "ngram", "min_pass"}``;
absent: the server's default, ``structgen serve --speculative``).
Refused with 400: ``logprobs``/``top_logprobs``, ``echo``, ``best_of`` > ``n``, ``suffix``,
non-text message parts.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from constrain.errors import (CompileBudgetError, ConstraintError, EmptyLanguageError, GrammarError, OptionError,
                              RegexError, SchemaError, UnsupportedSchemaError, VocabularyError)

from ..result import GenerationArgumentError, GenerationError, ToolArgumentsError
from ..speculative import Speculation
from ..tools.constraint import response_schema
from ..tools.turn import Turn, prepare_turn, read_turn, tool_call_message
from .engine import RowResult, SamplingParams

__all__ = ["APIError", "ChatPlan", "CompletionPlan", "error_body", "error_of", "parse_chat", "parse_completion"]

#: most choices one request may ask for (``n``)
MAX_N = 16


class APIError(Exception):
    """An error the client gets as ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type


def error_body(err: APIError) -> dict:
    return {"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}}


def error_of(e: BaseException, param: str | None = None) -> APIError:
    """The :class:`APIError` of an exception: the library's input errors are 400s naming what
    is wrong (an unsupported keyword and its JSON pointer, a budget), anything else a 500."""
    if isinstance(e, APIError):
        return e
    msg = str(e)
    inner = e
    while isinstance(inner, (GrammarError, SchemaError)) and inner.__cause__ is not None:
        inner = inner.__cause__  # a tool's %json block: the schema error inside the grammar's
    if isinstance(inner, (UnsupportedSchemaError, CompileBudgetError)) and inner is not e:
        e = inner
    if isinstance(e, GenerationArgumentError):
        return APIError(400, msg, param=param or e.argument, code="invalid_parameter")
    if isinstance(e, CompileBudgetError):
        return APIError(400, f"the constraint exceeds its compile budget ({e.budget}): {msg}", param=param,
                        code="compile_budget_exceeded")
    if isinstance(e, UnsupportedSchemaError):
        return APIError(400, msg, param=param, code="unsupported_schema")
    if isinstance(e, EmptyLanguageError):
        return APIError(400, msg, param=param, code="empty_language")
    if isinstance(e, (SchemaError, RegexError, GrammarError)):
        return APIError(400, f"invalid schema: {msg}" if isinstance(e, SchemaError) else msg, param=param,
                        code="invalid_schema")
    if isinstance(e, (OptionError, VocabularyError, ToolArgumentsError)):
        return APIError(400, msg, param=param, code="invalid_parameter")
    if isinstance(e, GenerationError):
        return APIError(500, msg, code="generation_failed", type="server_error")
    if isinstance(e, ConstraintError):
        return APIError(400, msg, param=param, code="invalid_constraint")
    return APIError(500, f"internal error: {type(e).__name__}: {msg}", type="server_error", code="internal_error")


# ---------------------------------------------------------------------- reading requests


def _number(body: dict, name: str, default, *, lo=None, hi=None, integer: bool = False, lo_open: bool = False):
    v = body.get(name)
    if v is None:
        return default
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or v != v:
        raise APIError(400, f"{name} must be {'an integer' if integer else 'a number'}, got {v!r}", param=name,
                       code="invalid_parameter")
    if (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and v > hi):
        rng = f"{'(' if lo_open else '['}{lo}, {hi if hi is not None else 'inf'}]"
        raise APIError(400, f"{name} must be in {rng}, got {v!r}", param=name, code="invalid_parameter")
    return v


def _refuse(body: dict, name: str, why: str) -> None:
    if body.get(name) not in (None, False, 0):
        raise APIError(400, f"{name} is not supported: {why}", param=name, code="unsupported_parameter")


#: the fields of a request's ``speculative`` object (``Speculation``'s, less what the server refuses)
SPECULATION_FIELDS = ("max_draft", "drafts", "adaptive", "ngram", "min_pass")


def _speculation(body: dict, default: Speculation | None) -> Speculation | None:
    """The request's ``speculative`` extension: ``true`` (the server's settings, or the library's
    defaults), ``false``, an object of :data:`SPECULATION_FIELDS` over those settings, or absent
    (the server's default)."""
    v = body.get("speculative")
    if v is None:
        return default
    if v is False:
        return None
    if v is True:
        return default or Speculation()
    if not isinstance(v, dict):
        raise APIError(400, f"speculative must be true, false or an object, got {v!r}", param="speculative",
                       code="invalid_parameter")
    unknown = sorted(set(v) - set(SPECULATION_FIELDS))
    if unknown:
        raise APIError(400, f"speculative: unknown field(s) {unknown}; known: {list(SPECULATION_FIELDS)}",
                       param="speculative", code="invalid_parameter")
    kw = dict(v)
    if "drafts" in kw:
        if not isinstance(kw["drafts"], list) or not all(isinstance(d, str) for d in kw["drafts"]):
            raise APIError(400, "speculative.drafts must be a list of source names", param="speculative",
                           code="invalid_parameter")
        kw["drafts"] = tuple(kw["drafts"])
    try:
        spec = replace(default or Speculation(), **kw)
    except GenerationArgumentError as e:
        raise APIError(400, f"speculative: {e}", param="speculative", code="invalid_parameter") from None
    if "model" in spec.drafts:
        raise APIError(400, "speculative: the server has no draft model", param="speculative",
                       code="invalid_parameter")
    return spec


@dataclass
class _Common:
    """What chat and text completions share: the model, the sampling of each of ``n`` choices."""

    model: str
    n: int
    stream: bool
    include_usage: bool
    params: list[SamplingParams]
    max_tokens: int | None  # None: as many as the context leaves (capped by the server's default)


def _common(body: dict, model_ids: tuple[str, ...], *, constrained: bool,
            speculative: Speculation | None = None) -> _Common:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise APIError(400, "model is required (GET /v1/models lists it)", param="model", code="invalid_parameter")
    if model not in model_ids:
        raise APIError(400, f"the model {model!r} does not exist; this server serves {list(model_ids)}",
                       param="model", code="model_not_found")
    n = _number(body, "n", 1, lo=1, hi=MAX_N, integer=True)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise APIError(400, f"stream must be true or false, got {stream!r}", param="stream", code="invalid_parameter")
    opts = body.get("stream_options")
    if opts is not None and not isinstance(opts, dict):
        raise APIError(400, "stream_options must be an object", param="stream_options", code="invalid_parameter")
    include_usage = bool((opts or {}).get("include_usage", False))
    temperature = _number(body, "temperature", 1.0, lo=0.0, hi=2.0)
    top_p = _number(body, "top_p", None, lo=0.0, hi=1.0, lo_open=True)
    top_k = _number(body, "top_k", None, lo=0, integer=True)
    if top_k in (0, -1):
        top_k = None
    seed = _number(body, "seed", None, integer=True)
    fp = _number(body, "frequency_penalty", 0.0, lo=-2.0, hi=2.0)
    pp = _number(body, "presence_penalty", 0.0, lo=-2.0, hi=2.0)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    if max_tokens is not None:
        max_tokens = _number({name: max_tokens}, name, None, lo=1, integer=True)
    stop = body.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,) if stop else ()
    elif isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        stops = tuple(s for s in stop if s)
    else:
        raise APIError(400, f"stop must be a string or a list of at most 4 strings, got {stop!r}", param="stop",
                       code="invalid_parameter")
    fwb = body.get("finish_within_budget", constrained)
    if not isinstance(fwb, bool):
        raise APIError(400, "finish_within_budget must be true or false", param="finish_within_budget",
                       code="invalid_parameter")
    spec = _speculation(body, speculative)
    if spec is not None and (fp or pp):
        if body.get("speculative") not in (None, False):
            raise APIError(400, "speculative decoding does not take frequency_penalty / presence_penalty (they change "
                                "the target with every drafted token)", param="speculative",
                           code="unsupported_parameter")
        spec = None  # the server's default gives way to the penalties
    _refuse(body, "logprobs", "token log-probabilities are not returned")
    _refuse(body, "top_logprobs", "token log-probabilities are not returned")
    _refuse(body, "logit_bias", "logit biases are not applied")
    params = [SamplingParams(max_tokens=max_tokens or 1, temperature=float(temperature),
                             top_p=None if top_p in (None, 1, 1.0) else float(top_p), top_k=top_k,
                             seed=None if seed is None else seed + k, stop=stops, frequency_penalty=float(fp),
                             presence_penalty=float(pp), finish_within_budget=fwb, speculative=spec)
              for k in range(n)]
    return _Common(model=model, n=n, stream=stream, include_usage=include_usage, params=params, max_tokens=max_tokens)


def _messages(body: dict) -> list[dict]:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise APIError(400, "messages must be a non-empty list", param="messages", code="invalid_parameter")
    out = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant", "tool"):
            raise APIError(400, f"messages[{i}] must be an object whose role is system, developer, user, "
                                f"assistant or tool", param=f"messages[{i}]", code="invalid_parameter")
        m = dict(m)
        if m["role"] == "developer":
            m["role"] = "system"
        content = m.get("content")
        if isinstance(content, list):  # content parts: text only
            texts = []
            for j, part in enumerate(content):
                if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise APIError(400, f"messages[{i}].content[{j}]: only text parts are supported",
                                   param=f"messages[{i}].content", code="unsupported_parameter")
                texts.append(part["text"])
            m["content"] = "".join(texts)
        elif content is not None and not isinstance(content, str):
            raise APIError(400, f"messages[{i}].content must be a string or a list of text parts",
                           param=f"messages[{i}].content", code="invalid_parameter")
        out.append(m)
    return out


@dataclass
class ChatPlan:
    """A checked chat request: its turn (prompt, constraint, tools) and its choices' sampling."""

    common: _Common
    turn: Turn
    id: str = field(default_factory=lambda: "chatcmpl-" + uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def has_tools(self) -> bool:
        return bool(self.turn.offered)


def parse_chat(body: Any, tokenizer, model_ids: tuple[str, ...], speculative: Speculation | None = None) -> ChatPlan:
    """Check a ``/v1/chat/completions`` body; :class:`APIError` (400) naming the parameter.
    ``speculative``: the server's default for requests that do not say."""
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_request")
    messages = _messages(body)
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise APIError(400, "tools must be a list", param="tools", code="invalid_parameter")
    for i, t in enumerate(tools or []):
        if not isinstance(t, dict) or t.get("type", "function") != "function" or not isinstance(t.get("function"), dict):
            raise APIError(400, f'tools[{i}] must be {{"type": "function", "function": {{...}}}}',
                           param=f"tools[{i}]", code="invalid_parameter")
    try:
        turn = prepare_turn(tokenizer, messages, tools=tools or None,
                            tool_choice=body.get("tool_choice") or ("auto" if tools else "none"),
                            parallel_tool_calls=body.get("parallel_tool_calls", True),
                            response_format=body.get("response_format"))
    except (GenerationArgumentError, ToolArgumentsError, ConstraintError) as e:
        raise error_of(e, param=getattr(e, "argument", None)) from None
    common = _common(body, model_ids, constrained=turn.constraint is not None, speculative=speculative)
    return ChatPlan(common=common, turn=turn)


@dataclass
class CompletionPlan:
    """A checked ``/v1/completions`` request: one prompt text per entry of ``prompts``."""

    common: _Common
    prompts: list[str]
    constraint: Any
    id: str = field(default_factory=lambda: "cmpl-" + uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))


def parse_completion(body: Any, model_ids: tuple[str, ...], speculative: Speculation | None = None) -> CompletionPlan:
    """Check a ``/v1/completions`` body (``response_format`` is accepted here too, as an extension)."""
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_request")
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        prompts = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        prompts = list(prompt)
    else:
        raise APIError(400, "prompt must be a string or a non-empty list of strings", param="prompt",
                       code="invalid_parameter")
    _refuse(body, "echo", "the prompt is not echoed")
    _refuse(body, "suffix", "insertion is not supported")
    best_of = body.get("best_of")
    if best_of is not None and best_of != body.get("n", 1):
        raise APIError(400, "best_of is not supported (only best_of == n)", param="best_of",
                       code="unsupported_parameter")
    try:
        schema = response_schema(body.get("response_format"))
    except GenerationArgumentError as e:
        raise error_of(e, param="response_format") from None
    common = _common(body, model_ids, constrained=schema is not None, speculative=speculative)
    return CompletionPlan(common=common, prompts=prompts, constraint=schema)


# ---------------------------------------------------------------------- writing results


FINISH = {"stop": "stop", "length": "length"}


def usage(prompt_tokens: int, results: list[RowResult]) -> dict:
    """OpenAI's token counts; when some choice decoded speculatively, ``speculative`` adds its
    drafted and accepted tokens (as vLLM counts them: ``draft_tokens``, ``accepted_tokens``),
    the tokens the grammar forced (appended without the model's choice) and the model passes
    of those choices."""
    c = sum(len(r.token_ids) for r in results)
    out = {"prompt_tokens": prompt_tokens, "completion_tokens": c, "total_tokens": prompt_tokens + c}
    spec = [r for r in results if r.stats]
    if spec:
        out["speculative"] = {"draft_tokens": sum(r.stats["drafted"] for r in spec),
                              "accepted_tokens": sum(r.stats["accepted"] for r in spec),
                              "forced_tokens": sum(r.stats["forced"] for r in spec),
                              "forward_passes": sum(r.timings.get("forward_calls", 0) for r in spec)}
    return out


def chat_message(plan: ChatPlan, result: RowResult) -> tuple[dict, str]:
    """``(message, finish_reason)`` of one choice; tool calls are parsed and validated
    (``finish_reason`` ``"tool_calls"`` when there are any)."""
    if not plan.has_tools:
        return {"role": "assistant", "content": result.text}, FINISH[result.finish_reason]
    content, calls = read_turn(plan.turn, result.text, finished=result.finish_reason == "stop")
    msg = tool_call_message(content, calls)
    if calls:
        return msg, "tool_calls"
    return msg, FINISH[result.finish_reason]


def _envelope(plan: ChatPlan | CompletionPlan, kind: str, choices: list[dict]) -> dict:
    """The fields every response and stream chunk carries around its choices."""
    return {"id": plan.id, "object": kind, "created": plan.created, "model": plan.common.model,
            "system_fingerprint": None, "choices": choices}


def _chunk(plan: ChatPlan | CompletionPlan, kind: str, choices: list[dict], usage_: dict | None) -> dict:
    out = _envelope(plan, kind, choices)
    if plan.common.include_usage:
        out["usage"] = usage_
    return out


def chat_response(plan: ChatPlan, prompt_tokens: int, results: list[RowResult]) -> dict:
    choices = []
    for i, r in enumerate(results):
        msg, finish = chat_message(plan, r)
        choices.append({"index": i, "message": msg, "logprobs": None, "finish_reason": finish})
    return {**_envelope(plan, "chat.completion", choices), "usage": usage(prompt_tokens, results)}


def chat_chunk(plan: ChatPlan, choices: list[dict], usage_: dict | None = None) -> dict:
    return _chunk(plan, "chat.completion.chunk", choices, usage_)


def completion_response(plan: CompletionPlan, prompt_tokens: int, results: list[RowResult]) -> dict:
    choices = [{"index": i, "text": r.text, "logprobs": None, "finish_reason": FINISH[r.finish_reason]}
               for i, r in enumerate(results)]
    return {**_envelope(plan, "text_completion", choices), "usage": usage(prompt_tokens, results)}


def completion_chunk(plan: CompletionPlan, choices: list[dict], usage_: dict | None = None) -> dict:
    return _chunk(plan, "text_completion", choices, usage_)


def sse(obj) -> str:
    """One server-sent event (``data: {json}``)."""
    return "data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n\n"
