"""vLLM plugin: structgen constraints inside vLLM's sampler, one per request.

Why: past one machine users run vLLM; rather than grow a server of its own, the library plugs
into vLLM 0.33's custom logits-processor interfaces (one class serves both of its model runners:
``vllm.v1.sample.logits_processor`` for V1, ``vllm.v1.worker.gpu.sample.logits_processor`` for V2).
Each request names its constraint in ``SamplingParams.extra_args["structgen"]``
(``{"json_schema": ...}``, ``{"regex": ...}`` or ``{"lark": ..., "start": ...}``); it is compiled
once per (constraint, tokenizer) and every step its mask is applied to that request's logits row
in place with ``decode.kernels``.  Usage::

    from vllm import LLM, SamplingParams
    llm = LLM(model=path, logits_processors=["decode.vllm:StructgenLogitsProcessor"])
    params = SamplingParams(max_tokens=200, extra_args={"structgen": {"json_schema": schema}})

- :class:`ConstrainedRows`: the core (batch bookkeeping, matchers, packed masks), no vLLM;
- :class:`StructgenLogitsProcessor`: the thin vLLM adapter (either model runner), imported (with
  vLLM) on first use; ``slots.SlotOutputs`` reads the V2 runner's output ids;
- :func:`spec_from_extra_args` / :class:`ConstraintSpec`: reading a request's constraint.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "ConstrainedRows": "rows",
    "ConstraintSpec": "spec",
    "EXTRA_ARGS_KEY": "spec",
    "StructgenLogitsProcessor": "processor",
    "spec_from_extra_args": "spec",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:  # the adapter imports vLLM; the rest never does
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'decode.vllm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
