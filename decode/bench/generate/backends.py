"""The generation backends a worker runs: ``HFBackend`` (a real model through ``decode``; torch
and decode are imported only here, inside the worker) and ``FakeGenBackend`` (scripted
outputs, for tests of the harness)."""

from __future__ import annotations

import importlib
import json
import os
import time
import warnings
from typing import Any


class PromptTooLong(Exception):
    """The prompt plus the token budget do not fit the model's context."""

    def __init__(self, prompt_tokens: int, limit: int):
        super().__init__(f"prompt of {prompt_tokens} tokens > limit {limit}")
        self.prompt_tokens, self.limit = prompt_tokens, limit


class HFBackend:
    """The real thing: ``decode.load_default_model()`` (``model="default"``) or
    ``decode.load_model(model)``, ``constrain.compile_json_schema`` over its vocabulary and
    ``decode.generate``.  Options: ``model``, ``whitespace``, ``lenient``, ``max_new_tokens``,
    ``max_prompt_tokens`` (default: the model's context minus ``max_new_tokens``), ``threads``."""

    def __init__(self, options: dict | None = None):
        o = dict(options or {})
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        t0 = time.perf_counter()
        import constrain
        import decode
        import torch
        from decode.constraints import get_vocabulary
        from decode.lm import logits_width

        if o.get("threads"):
            torch.set_num_threads(int(o["threads"]))
        quiet = lambda s: None  # noqa: E731
        name = o.get("model") or "default"
        if name in ("default", "smollm2"):
            self.model, self.tok = decode.load_default_model(progress=quiet)
        else:
            self.model, self.tok = decode.load_model(name, progress=quiet)
        self._decode, self._constrain = decode, constrain
        self.vocab = get_vocabulary(self.tok, logits_width(self.model))
        self.compile_errors = (constrain.ConstraintError,)
        # the options decode.generate uses when it compiles a schema itself (strict, canonical
        # literals, nothing after the root value, bounded blank runs): what a user gets
        self.compile_options: dict[str, Any] = dict(decode.GENERATION_JSON_OPTIONS)
        self.frequency_penalty = float(o.get("frequency_penalty") or 0.0)
        self.finish_within_budget = bool(o.get("finish_within_budget"))
        if o.get("whitespace"):
            self.compile_options["whitespace"] = o["whitespace"]
        if o.get("lenient"):
            self.compile_options["lenient"] = True
        ctx = getattr(self.model.config, "max_position_embeddings", None)
        self.max_prompt_tokens = o.get("max_prompt_tokens")
        if self.max_prompt_tokens is None and ctx:
            self.max_prompt_tokens = int(ctx) - int(o.get("max_new_tokens") or 0)
        self.last_warnings: list[str] = []
        # warm-up (not timed): the first forward pass and the first compile pay one-time costs
        # (lazy init in torch, per-vocabulary tables in constrain) that would otherwise land on
        # the first schema after every worker start
        warm = [{"role": "user", "content": "Say hi."}]
        decode.generate(self.model, self.tok, warm, None, max_new_tokens=2, temperature=0.0)
        decode.generate(self.model, self.tok, warm, self.compile({"type": "string", "maxLength": 3}),
                        max_new_tokens=2, temperature=0.0)
        label = "SmolLM2-135M-Instruct" if name in ("default", "smollm2") else name
        self.info = {"model": label, "model_path": getattr(self.model.config, "_name_or_path", ""),
                     "device": str(next(self.model.parameters()).device),
                     "context": ctx, "max_prompt_tokens": self.max_prompt_tokens,
                     "torch": torch.__version__, "threads": torch.get_num_threads(),
                     "compile_options": self.compile_options,
                     "setup_s": round(time.perf_counter() - t0, 2), "pid": os.getpid()}

    def compile(self, schema):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            c = self._constrain.compile_json_schema(schema, self.vocab, **self.compile_options)
        self.last_warnings = [str(w.message)[:200] for w in caught][:5]
        return c

    def prompt_tokens(self, messages) -> int:
        text = self.tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    def generate(self, messages, compiled, *, max_new_tokens: int, temperature: float,
                 seed: int | None) -> dict:
        n_prompt = self.prompt_tokens(messages)
        if self.max_prompt_tokens and n_prompt > self.max_prompt_tokens:
            raise PromptTooLong(n_prompt, self.max_prompt_tokens)
        r = self._decode.generate(self.model, self.tok, messages, compiled, max_new_tokens=max_new_tokens,
                                  temperature=temperature, seed=seed, frequency_penalty=self.frequency_penalty,
                                  finish_within_budget=self.finish_within_budget and compiled is not None)
        t = r.timings
        return {"text": r.text, "finished": bool(r.finished), "stop_reason": r.stop_reason,
                "prompt_tokens": n_prompt, "output_tokens": int(t.get("n_tokens", len(r.token_ids))),
                "ttft_ms": 1e3 * t.get("time_to_first_token_s", 0.0),
                "tpot_ms": 1e3 * t.get("time_per_output_token_s", 0.0),
                "total_ms": 1e3 * t.get("total_s", 0.0), "mask_ms": 1e3 * t.get("mask_time_s", 0.0)}


class FakeGenUnsupported(Exception):
    def __init__(self, keyword: str):
        super().__init__(f"unsupported keyword {keyword!r}")
        self.keyword = keyword


class FakeGenBackend:
    """A scripted backend for testing the harness (no model).  The schema's ``"x-fake-gen"``
    object says what happens: ``compile_error``: keyword (compile raises, with ``.keyword``);
    ``compile_sleep``: seconds; and per mode (``"constrained"`` / ``"unconstrained"``) an object
    with ``text`` (default ``"{}"``), ``finished`` (default true), ``tokens``, ``ttft_ms``,
    ``tpot_ms``, ``sleep`` (seconds), ``exit`` (the worker ``os._exit``s), ``prompt_too_long``,
    ``prompt_max_chars`` (a prompt whose user message is longer does not fit)."""

    compile_errors = (FakeGenUnsupported,)

    def __init__(self, options: dict | None = None):
        self.options = dict(options or {})
        self.info = {"model": "fake", "pid": os.getpid(), "setup_s": 0.0}
        self.calls: list[tuple[str, str]] = []  # (schema id-ish, mode), for in-process tests

    @staticmethod
    def _spec(schema) -> dict:
        return schema.get("x-fake-gen", {}) if isinstance(schema, dict) else {}

    def compile(self, schema):
        spec = self._spec(schema)
        if "compile_sleep" in spec:
            time.sleep(float(spec["compile_sleep"]))
        if "compile_error" in spec:
            raise FakeGenUnsupported(spec["compile_error"])
        return {"schema": schema}

    def generate(self, messages, compiled, *, max_new_tokens: int, temperature: float,
                 seed: int | None) -> dict:
        schema = json.loads(messages[-1]["content"].split("\n", 1)[1])
        mode = "unconstrained" if compiled is None else "constrained"
        self.calls.append((json.dumps(schema, sort_keys=True), mode))
        g = self._spec(schema).get(mode, {})
        if g.get("exit") is not None:
            os._exit(int(g["exit"]))
        if g.get("sleep"):
            time.sleep(float(g["sleep"]))
        if g.get("prompt_too_long"):
            raise PromptTooLong(10_000, 100)
        if g.get("prompt_max_chars") and len(messages[-1]["content"]) > g["prompt_max_chars"]:
            raise PromptTooLong(len(messages[-1]["content"]), int(g["prompt_max_chars"]))
        text = g.get("text", "{}")
        return {"text": text, "finished": bool(g.get("finished", True)),
                "stop_reason": g.get("stop_reason") or ("eos" if g.get("finished", True) else "max_new_tokens"),
                "prompt_tokens": 10, "output_tokens": int(g.get("tokens", 1)),
                "ttft_ms": float(g.get("ttft_ms", 10.0)), "tpot_ms": float(g.get("tpot_ms", 1.0)),
                "total_ms": 0.0, "mask_ms": 0.0}


def make_backend(spec: str, options: dict | None = None):
    """``"hf"`` -> :class:`HFBackend`, ``"fake"`` -> :class:`FakeGenBackend`, else
    ``"module:Class"`` (constructed with the options dict)."""
    if spec == "hf":
        return HFBackend(options)
    if spec == "fake":
        return FakeGenBackend(options)
    mod, _, cls = spec.partition(":")
    if not cls:
        raise ValueError(f"unknown backend {spec!r} (hf, fake or module:Class)")
    return getattr(importlib.import_module(mod), cls)(options)
