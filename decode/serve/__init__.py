"""Serving: continuous batching (:mod:`.engine`, :mod:`.kv`) behind an OpenAI-compatible HTTP API
(:mod:`.app`, ``structgen serve``; needs the ``serve`` extra: FastAPI and uvicorn)."""

from .engine import Engine, RequestHandle, RowResult, SamplingParams

__all__ = ["Engine", "RequestHandle", "RowResult", "SamplingParams"]
