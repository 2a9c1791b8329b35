"""The OpenAI-compatible HTTP server (``structgen serve``): FastAPI routes over one :class:`Engine`.

Why FastAPI/Starlette + uvicorn: a well-kept ASGI stack with server-sent events, which every
OpenAI client speaks to; they are an extra (``pip install structgen[serve]``), imported only
here.  Routes: ``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /v1/models``,
``GET /health``.

A request is read and checked (:mod:`.api`), its prompt tokenized and its constraint
compiled in a small thread pool (so neither the event loop nor the engine's decoding waits
for a compile; compiled constraints are shared through a :class:`ConstraintCache`), then
each of its ``n`` choices is submitted to the engine as a row; the engine's events come back
to the event loop through ``call_soon_threadsafe``.  Errors are OpenAI error bodies: 400 for
what the client sent (unsupported schema keyword and its JSON pointer, a compile over its
budget, unknown model, bad parameters), 500 only for failures of the server itself; the
engine thread survives both.
"""

# no ``from __future__ import annotations``: FastAPI reads the routes' annotations (``Request``,
# imported inside create_app so that the extra stays optional) at definition time
import asyncio
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..constraints import generation_json_options
from ..prompts import encode_prompt
from ..speculative import as_speculation
from .api import (APIError, chat_chunk, chat_message, chat_response, completion_chunk, completion_response,
                  error_body, error_of, parse_chat, parse_completion, sse)
from .compile_cache import ConstraintCache
from .engine import Engine, SamplingParams, check_speculation

__all__ = ["ServeConfig", "ServerThread", "create_app", "serve"]


class ServeConfig:
    """Server settings: ``model_id`` (what ``/v1/models`` lists; ``aliases`` are accepted too),
    ``max_batch`` rows decoded together, ``default_max_tokens`` when a request sets none (capped
    by the context), ``compile_budget_s`` per constraint compile (past it: 400), the
    compiled-constraint cache's bounds, ``speculative``: a ``decode.Speculation`` (or True for
    its defaults) that requests without a ``speculative`` field decode with (None: plain; its
    ``history`` store, if any, is shared by every request that decodes speculatively), and
    ``speculative_disable_batch``: the batch size from which a pass drafts for no row."""

    def __init__(self, *, model_id: str = "default", aliases: tuple[str, ...] = (), max_batch: int = 8,
                 default_max_tokens: int = 512, compile_budget_s: float = 10.0, cache_entries: int = 256,
                 cache_bytes: int = 512 << 20, compile_workers: int = 2, speculative=None,
                 speculative_disable_batch: int | None = None):
        self.speculative = as_speculation(speculative)
        check_speculation(self.speculative, False)
        self.speculative_disable_batch = speculative_disable_batch
        self.model_id = model_id
        self.aliases = tuple(a for a in aliases if a != model_id)
        self.max_batch = max_batch
        self.default_max_tokens = default_max_tokens
        self.compile_budget_s = compile_budget_s
        self.cache_entries = cache_entries
        self.cache_bytes = cache_bytes
        self.compile_workers = compile_workers

    @property
    def model_ids(self) -> tuple[str, ...]:
        return (self.model_id,) + self.aliases


class _State:
    """What the routes share: the engine, the compile pool and cache, the settings."""

    def __init__(self, model, tokenizer, config: ServeConfig):
        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.engine = Engine(model, tokenizer, max_batch=config.max_batch,
                             speculative_disable_batch=config.speculative_disable_batch)
        self.cache = ConstraintCache(max_entries=config.cache_entries, max_bytes=config.cache_bytes)
        self.pool = ThreadPoolExecutor(max_workers=config.compile_workers, thread_name_prefix="structgen-compile")
        self.json_options = generation_json_options()
        self.created = int(time.time())
        self.context = getattr(getattr(model, "config", None), "max_position_embeddings", None)

    def prepare(self, prompts: list, constraint, params: list[SamplingParams], max_tokens: int | None,
                tools: tuple = ()):
        """In the pool: token ids of each prompt, the compiled constraint, each choice's params
        with its token budget settled; raises what the client got wrong."""
        ids = [encode_prompt(self.tokenizer, p) for p in prompts]
        compiled = None
        if constraint is not None:
            budgets = {"time_budget_s": self.config.compile_budget_s}
            try:
                compiled = self.cache.get(constraint, self.engine.vocab, self.json_options, budgets)
            except Exception as e:  # noqa: BLE001 - mapped to 400/500 by error_of
                if tools:
                    self._blame_tool(tools, budgets)
                raise error_of(e, param="tools" if tools else "response_format") from None
        out = []
        for row in ids:
            room = None if not isinstance(self.context, int) else self.context - len(row)
            if room is not None and room < 1:
                raise APIError(400, f"the prompt has {len(row)} tokens, the model's context {self.context}",
                               param="messages", code="context_length_exceeded")
            want = max_tokens if max_tokens is not None else min(self.config.default_max_tokens, room or 10 ** 9)
            if room is not None and want > room:
                raise APIError(400, f"max_tokens={want} and the prompt's {len(row)} tokens exceed the model's "
                                    f"context of {self.context}; at most {room} tokens fit",
                               param="max_tokens", code="context_length_exceeded")
            ps = [_with_budget(p, want) for p in params]
            for p in ps:
                try:
                    self.engine.check(row, compiled, p)
                except Exception as e:  # noqa: BLE001
                    raise error_of(e) from None
            out.append((row, ps))
        return out, compiled

    def _blame_tool(self, tools, budgets) -> None:
        """The turn's grammar failed: compile each tool's parameters alone, so that the error
        names the tool (``tools[i]``) rather than a line of the generated grammar."""
        for i, t in enumerate(tools):
            try:
                self.cache.get(t.parameters, self.engine.vocab, self.json_options, budgets)
            except Exception as e:  # noqa: BLE001
                err = error_of(e, param="tools")
                err.message = f"tools[{i}] ({t.name}) parameters: {err.message}"
                raise err from None



def _with_budget(p: SamplingParams, max_tokens: int) -> SamplingParams:
    from dataclasses import replace

    return replace(p, max_tokens=int(max_tokens))


class _Rows:
    """The rows of one request in the engine, their events on an asyncio queue."""

    def __init__(self, state: _State, loop: asyncio.AbstractEventLoop):
        self.state, self.loop = state, loop
        self.queue: asyncio.Queue = asyncio.Queue()
        self.handles = []

    def submit(self, ids, compiled, params: SamplingParams, index: int) -> None:
        def on_event(kind, payload, i=index):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (i, kind, payload))

        self.handles.append(self.state.engine.submit(ids, compiled, params, on_event=on_event))

    def cancel(self) -> None:
        for h in self.handles:
            if not h.done():
                h.cancel()

    async def events(self):
        """``(choice, kind, payload)`` until every row is done."""
        left = len(self.handles)
        while left:
            i, kind, payload = await self.queue.get()
            if kind == "done":
                left -= 1
            yield i, kind, payload

    async def results(self) -> list:
        """Every row's final result, by choice index (a non-streaming response); a row error
        or a shutdown becomes the response's error; rows left running are cancelled."""
        results = [None] * len(self.handles)
        try:
            async for i, kind, payload in self.events():
                if kind == "done":
                    results[i] = payload
        finally:
            self.cancel()
        _raise_row_errors(results)
        return results


def _raise_row_errors(results) -> None:
    for r in results:
        if r.finish_reason == "error":
            raise error_of(r.error)
        if r.finish_reason == "cancelled":
            raise APIError(503, "the server is shutting down", type="server_error", code="cancelled")


def create_app(model, tokenizer, config: ServeConfig | None = None):
    """The ASGI app serving ``model``; its engine starts with the app and stops with it."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    config = config or ServeConfig()
    state = _State(model, tokenizer, config)

    @asynccontextmanager
    async def lifespan(app):
        state.engine.start()
        try:
            yield
        finally:
            state.engine.stop()
            state.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="structgen", lifespan=lifespan)
    app.state.structgen = state

    def error_response(err: APIError) -> JSONResponse:
        return JSONResponse(error_body(err), status_code=err.status)

    @app.exception_handler(APIError)
    async def _api_error(request, exc: APIError):
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc):
        return error_response(APIError(exc.status_code, str(exc.detail), code="not_found" if exc.status_code == 404
                                       else None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc):
        return error_response(APIError(400, f"invalid request: {exc}", code="invalid_request"))

    @app.exception_handler(Exception)
    async def _any_error(request, exc):  # a bug of ours: say so, keep serving
        return error_response(error_of(exc))

    async def body_of(request: Request) -> Any:
        try:
            return await request.json()
        except Exception:  # noqa: BLE001 - not JSON, not UTF-8
            raise APIError(400, "the request body is not valid JSON", code="invalid_json") from None

    async def prepare(prompts, constraint, common, tools=()):
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(state.pool, state.prepare, prompts, constraint, common.params, common.max_tokens,
                                   tools)
        # the compile enforces its own budget; this bounds the wait should anything else stall
        try:
            return await asyncio.wait_for(fut, timeout=config.compile_budget_s * 1.5 + 5.0)
        except asyncio.TimeoutError:
            raise APIError(400, f"compiling the constraint took longer than its budget of "
                                f"{config.compile_budget_s} s", code="compile_budget_exceeded") from None

    @app.get("/health")
    async def health():
        if not state.engine.alive:
            return JSONResponse({"status": "error", "detail": "the engine thread is not running"}, status_code=503)
        return {"status": "ok", **state.engine.load(), "compiled_constraints": len(state.cache),
                "stats": {**state.engine.stats, "cpu_s": time.process_time()}}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": m, "object": "model", "created": state.created,
                                            "owned_by": "structgen"} for m in config.model_ids]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        plan = parse_chat(await body_of(request), tokenizer, config.model_ids, config.speculative)
        rows_params, compiled = await prepare([plan.turn.prompt], plan.turn.constraint, plan.common, plan.turn.offered)
        ids, params = rows_params[0]
        rows = _Rows(state, asyncio.get_running_loop())
        for i, p in enumerate(params):
            rows.submit(ids, compiled, p, i)
        if plan.common.stream:
            return StreamingResponse(_chat_stream(plan, rows, len(ids)), media_type="text/event-stream")
        results = await rows.results()
        try:
            return chat_response(plan, len(ids), results)
        except Exception as e:  # noqa: BLE001 - a tool call that does not validate (only if cut short)
            raise error_of(e) from None

    @app.post("/v1/completions")
    async def completions(request: Request):
        plan = parse_completion(await body_of(request), config.model_ids, config.speculative)
        rows_params, compiled = await prepare(plan.prompts, plan.constraint, plan.common)
        rows = _Rows(state, asyncio.get_running_loop())
        n_prompt = 0
        for j, (ids, params) in enumerate(rows_params):
            n_prompt += len(ids)
            for k, p in enumerate(params):
                rows.submit(ids, compiled, p, j * plan.common.n + k)
        if plan.common.stream:
            return StreamingResponse(_completion_stream(plan, rows, n_prompt), media_type="text/event-stream")
        return completion_response(plan, n_prompt, await rows.results())

    return app


async def _chat_stream(plan, rows: _Rows, n_prompt: int):
    """Chat chunks: the role, then text deltas per choice (tool-call turns: the parsed calls
    at the end, since a call's text is only a call once it closes), then each finish_reason,
    usage (``stream_options.include_usage``) and ``[DONE]``."""
    n = plan.common.n
    results = [None] * n
    try:
        yield sse(chat_chunk(plan, [{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                     "finish_reason": None} for i in range(n)]))
        async for i, kind, payload in rows.events():
            if kind == "delta" and not plan.has_tools:
                yield sse(chat_chunk(plan, [{"index": i, "delta": {"content": payload}, "logprobs": None,
                                             "finish_reason": None}]))
            elif kind == "done":
                results[i] = payload
                if payload.finish_reason in ("error", "cancelled"):
                    err = error_of(payload.error) if payload.error is not None else APIError(
                        503, "the server is shutting down", type="server_error")
                    yield sse(error_body(err))
                    continue
                try:
                    msg, finish = chat_message(plan, payload)
                except Exception as e:  # noqa: BLE001
                    yield sse(error_body(error_of(e)))
                    continue
                if plan.has_tools:
                    delta: dict = {}
                    if msg.get("content"):
                        delta["content"] = msg["content"]
                    if msg.get("tool_calls"):
                        delta["tool_calls"] = [{"index": k, **c} for k, c in enumerate(msg["tool_calls"])]
                    if delta:
                        yield sse(chat_chunk(plan, [{"index": i, "delta": delta, "logprobs": None,
                                                     "finish_reason": None}]))
                yield sse(chat_chunk(plan, [{"index": i, "delta": {}, "logprobs": None, "finish_reason": finish}]))
        if plan.common.include_usage:
            from .api import usage

            yield sse(chat_chunk(plan, [], usage(n_prompt, [r for r in results if r is not None])))
        yield "data: [DONE]\n\n"
    finally:
        rows.cancel()


async def _completion_stream(plan, rows: _Rows, n_prompt: int):
    results = [None] * len(rows.handles)
    try:
        async for i, kind, payload in rows.events():
            if kind == "delta":
                yield sse(completion_chunk(plan, [{"index": i, "text": payload, "logprobs": None,
                                                   "finish_reason": None}]))
            elif kind == "done":
                results[i] = payload
                if payload.finish_reason in ("error", "cancelled"):
                    yield sse(error_body(error_of(payload.error) if payload.error is not None
                                         else APIError(503, "the server is shutting down", type="server_error")))
                    continue
                yield sse(completion_chunk(plan, [{"index": i, "text": "", "logprobs": None,
                                                   "finish_reason": "length" if payload.finish_reason == "length"
                                                   else "stop"}]))
        if plan.common.include_usage:
            from .api import usage

            yield sse(completion_chunk(plan, [], usage(n_prompt, [r for r in results if r is not None])))
        yield "data: [DONE]\n\n"
    finally:
        rows.cancel()


class ServerThread:
    """Run the app with uvicorn in a background thread on ``host`` (``port=0``: a free port,
    read back from ``.port``); a context manager.  For tests and the benchmark."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = host, self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


def serve(model: str = "default", *, host: str = "127.0.0.1", port: int = 8000, max_batch: int = 8,
          threads: int | None = None, default_max_tokens: int = 512, compile_budget_s: float = 10.0,
          log_level: str = "info", progress=None, speculative=None,
          speculative_disable_batch: int | None = None) -> None:
    """Load ``model`` (``"default"``: the bundled SmolLM2-135M-Instruct; else an HF id or local
    path) and serve it until interrupted; ``speculative``: the default of requests that do not
    say (``ServeConfig``)."""
    import torch
    import uvicorn

    from ..models import load_default_model, load_model

    if threads:
        torch.set_num_threads(int(threads))
    if model in ("default", "smollm2"):
        m, tok = load_default_model(progress=progress)
        model_id, aliases = "SmolLM2-135M-Instruct", ("default", "smollm2")
    else:
        m, tok = load_model(model, progress=progress)
        model_id, aliases = os.path.basename(os.path.normpath(model)) or model, ("default", model)
    config = ServeConfig(model_id=model_id, aliases=aliases, max_batch=max_batch,
                         default_max_tokens=default_max_tokens, compile_budget_s=compile_budget_s,
                         speculative=speculative, speculative_disable_batch=speculative_disable_batch)
    app = create_app(m, tok, config)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
