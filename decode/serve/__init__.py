"""Serving: continuous batching behind an OpenAI-compatible HTTP API (``structgen serve``).

- ``Engine`` / ``SamplingParams`` / ``RequestHandle`` / ``RowResult``: the continuous-batching
  decoder, one background thread that owns the model; rows join at the next step and leave
  when done, each with its own constraint and sampling (:mod:`.engine`, KV slots :mod:`.kv`).
- ``create_app`` / ``ServeConfig`` / ``serve`` / ``ServerThread``: the FastAPI app, its settings,
  the blocking server and a background one for tests and benchmarks (:mod:`.app`; FastAPI and
  uvicorn come with the ``serve`` extra and are imported only when an app is made).
- ``ServerProcess`` / ``free_port``: a real ``structgen serve`` in a child process, started,
  waited for and stopped (:mod:`.process`), for benchmarks and tests over HTTP.
- ``ConstraintCache``: compiled constraints shared across requests, bounded in bytes
  (:mod:`.compile_cache`). The OpenAI wire format itself: :mod:`.api`.
"""

from .app import ServeConfig, ServerThread, create_app, serve
from .compile_cache import ConstraintCache
from .engine import Engine, RequestHandle, RowResult, SamplingParams
from .process import ServerProcess, free_port

__all__ = ["ConstraintCache", "Engine", "RequestHandle", "RowResult", "SamplingParams", "ServeConfig", "ServerProcess",
           "ServerThread", "create_app", "free_port", "serve"]
