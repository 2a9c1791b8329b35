"""structgen decoding: constrained generation on top of ``constrain`` matchers.

Public API:
- ``generate`` / ``generate_object``: our own KV-cached loop (batching, per-row constraints);
  ``generate(..., sampler="smc", particles=8)`` returns weighted particles instead
  (``WeightedGenerationResult``, whose ``text`` is a draw from their posterior).
- ``LogitsProcessor``: the same constraint inside ``transformers`` ``model.generate``.
- ``load_model`` / ``load_default_model``: a Hugging Face causal LM, or the bundled SmolLM2;
  ``use_grouped_attention``: what they do to a model with grouped key/value heads (multi-token
  passes attend without copying the KV cache; ``decode.attention``), for models loaded elsewhere.
- ``apply_token_bitmask_`` / ``masked_sample``: the mask kernels (torch, Triton on CUDA).
- ``Regex`` / ``Lark``: wrappers that say how to read a constraint given as text.
- ``heal`` / ``Healing``: token healing at the prompt boundary (``generate(..., heal_prompt=True)``;
  ``heal`` gives the healed prompt and constraint for ``sample``).
- ``repair`` / ``RepairResult``: rewrite a draft from a model we cannot constrain into a valid
  output close to it (sketch-guided: the draft in the prompt and as a copy source).
- ``Speculation``: settings of ``generate(..., speculative=...)`` / ``sample(..., speculative=...)``
  (lossless speculative decoding with grammar-legal drafts; ``decode.speculative``);
  ``SuffixStore``: earlier outputs to draft from across calls (``Speculation(history=...)``).
- ``sample``: draws from the constrained distribution itself (masked, AWRS, SMC; weighted
  ``Samples``; or ASAp, grammar-aligned draws that learn) over any ``TokenLM`` (``TableLM``:
  hand-made); ``GrammarAligned``: the persistent ASAp sampler behind ``method="asap"``;
  ``Predicate``: a constraint as two Python checks.
- ``chat`` / ``Agent`` / ``AgentResult``: OpenAI-style function calling (every call schema-valid)
  and the agent loop that runs the calls; ``Triggered``: free text, then a constrained region
  from a trigger string on (``decode/tools/``).

Every name loads on first use (PEP 562 ``__getattr__``): ``import decode`` imports neither torch
nor transformers, which take seconds, so the CLI's ``--help``, the benchmarks that only need
``constrain`` and kernel-only users stay fast.  The loop lives in :mod:`decode.loop`; no
submodule is named like a public function, so importing one never shadows a name here.
"""

from __future__ import annotations

import importlib

#: public name -> the submodule that defines it
_HOMES = {
    "GENERATION_JSON_OPTIONS": "constraints",
    "GenerationArgumentError": "result",
    "GenerationError": "result",
    "GenerationResult": "result",
    "GrammarAligned": "samplers.asap",
    "HFTokenLM": "lms.hf",
    "Healing": "healing",
    "Lark": "constraints",
    "LogitsProcessor": "integrations.hf",
    "Predicate": "samplers.predicate",
    "Regex": "constraints",
    "RepairResult": "draft_repair",
    "Samples": "sampling",
    "Speculation": "speculative.config",
    "SuffixStore": "speculative.suffix",
    "TableLM": "lms.base",
    "TokenLM": "lms.base",
    "WeightedGenerationResult": "weighted",
    "Agent": "tools.agent",
    "AgentResult": "tools.agent",
    "Triggered": "tools.triggered",
    "apply_token_bitmask_": "kernels",
    "as_compiled": "constraints",
    "chat": "tools.turn",
    "generate": "loop",
    "generate_object": "loop",
    "heal": "healing",
    "load_default_model": "models",
    "load_model": "models",
    "masked_sample": "kernels",
    "repair": "draft_repair",
    "sample": "sampling",
    "use_grouped_attention": "attention",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    elif name == "__version__":  # one distribution, one version: constrain's
        from constrain import __version__ as value
    else:
        raise AttributeError(f"module 'decode' has no attribute {name!r}")
    # not cached in this namespace: each lookup reads the home module, so a name replaced there
    # (a test's monkeypatch of decode.models.load_model) is the one decode.<name> gives
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | {"__version__"})
