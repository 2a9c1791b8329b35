"""End-to-end generation benchmark (the JSONSchemaBench generation protocol) on a real model.

For every sampled schema (the same deterministic sample as ``maskbench``: ``--sample N --seed S
--files GLOB``) and every mode (``--modes constrained,unconstrained``):

- build the chat messages of :data:`PROMPT_TEMPLATE` (a system line asking for only JSON, a
  user message containing the schema as compact JSON);
- ``constrained``: compile the schema with ``constrain.compile_json_schema`` and the options
  ``decode.generate`` itself uses for schemas (``decode.GENERATION_JSON_OPTIONS``: strict,
  canonical literals, nothing after the root value; timed; a ``ConstraintError`` is a
  *compile error*, recorded with its keyword), then
  ``decode.generate(model, tok, messages, compiled, max_new_tokens=..., temperature=...,
  seed=...)``; the output must be exactly one JSON value (``json.loads`` of the whole text);
- ``unconstrained``: the same prompt and token budget without a constraint (the model's
  native compliance); the JSON value is *extracted* from the text as the paper does for
  unconstrained baselines (:func:`extract_json`: the whole text, else the first fenced
  ``` block, else the first JSON value starting at a ``{`` or ``[``);
- record time to first token, time per output token, output tokens, whether the output
  finished (EOS, or the grammar complete, within the budget), whether it parses, and whether it
  validates with ``jsonschema`` (validator class from the schema's ``$schema``, default
  Draft 2020-12; that draft's format checker on), with the validator's best error message if not.

An output *counts as valid* when it validates and, in constrained mode, finished (a constrained
output cut by ``max_new_tokens`` is a truncation even when the prefix happens to parse, e.g. a
number).  An unconstrained output counts when the extracted value validates, whatever follows it.

Summary (per mode): *empirical coverage* = valid constrained outputs / schemas that compiled;
*compliance* = valid outputs / schemas run (unconstrained: every schema); schemas whose prompt
does not fit the model's context next to the token budget are shown without their annotations
(descriptions, titles, examples, defaults), and cut if that is not enough (``prompt_fit`` in
the record; the constraint is always the whole schema); only a prompt that still does not fit
is skipped (``prompt_too_long``) and left out of both denominators; medians of compile time,
TTFT, TPOT and output tokens.

The model is loaded once, in a worker process that runs one (schema, mode) job at a time; the
parent waits at most ``--timeout`` seconds per job (compile + generation + validation), then
kills the worker, records a *timeout* and starts a fresh one (the model is loaded again).

Entry point: ``python -m decode.bench generate DATA --model default --sample N`` (also
``structgen bench generate ...``); programmatic: :func:`run_generate_bench`.  torch and
``decode`` are imported only inside the worker's backend, so this module imports without them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing as mp
import os
import re
import sys
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

from constrain.frontends.json_schema.keywords import SCHEMA_MAPS  # keywords mapping names to subschemas

from .engines import error_info
from .maskbench import load_sample
from .output import write_json
from .report import fmt_count_pct, fmt_num, fmt_pct, format_table, percentile, top_counts
from .workers import (
    WorkerProcess,
    WorkerSetupError,
    describe_exit,
    redirect_stderr,
    set_memory_limit,
    short_traceback,
    start_worker,
)

__all__ = [
    "PROMPT_TEMPLATE",
    "MODES",
    "build_messages",
    "extract_json",
    "validate_instance",
    "check_output",
    "PromptTooLong",
    "HFBackend",
    "FakeGenBackend",
    "run_job",
    "run_generate_bench",
    "summarize_generate",
    "format_generate_report",
    "plot_generate",
    "add_arguments",
    "main",
]

JSON_FORMAT_VERSION = 1
MODES = ("constrained", "unconstrained")

#: The prompt of every generation, constrained or not: chat messages in which ``{schema}`` is
#: replaced by the schema as compact JSON (``json.dumps(schema, ensure_ascii=False)``).  The
#: system line asks for a bare JSON value so that the unconstrained baseline has a fair chance;
#: the same messages go through the model's chat template (``add_generation_prompt=True``).
PROMPT_TEMPLATE: tuple[dict[str, str], ...] = (
    {"role": "system",
     "content": "You are a helpful assistant that answers with only a JSON value: no explanation, "
                "no Markdown, nothing before or after the JSON."},
    {"role": "user",
     "content": "Generate a JSON value that is valid against this JSON Schema:\n{schema}"},
)

TEXT_KEEP = 4000  # characters of each output kept in the JSON file


# what a prompt may leave out: text for readers, not structure ($id, $defs stay for $ref)
_PROMPT_ANNOTATIONS = frozenset({"description", "title", "examples", "example", "$comment", "default",
                                 "markdownDescription", "deprecationMessage"})


def strip_annotations(schema: Any) -> Any:
    """``schema`` without the keywords that only annotate (descriptions, titles, examples,
    defaults): what a prompt that does not fit the context shows of it. Property names and
    ``enum``/``const`` values are data and stay."""
    if isinstance(schema, list):
        return [strip_annotations(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k in _PROMPT_ANNOTATIONS:
            continue
        if k in ("enum", "const"):
            out[k] = v
        elif k in SCHEMA_MAPS and isinstance(v, dict):  # name -> schema: the names are data
            out[k] = {name: strip_annotations(sub) for name, sub in v.items()}
        else:
            out[k] = strip_annotations(v)
    return out


def build_messages(schema: Any, template: Sequence[dict] = PROMPT_TEMPLATE, *,
                   annotations: bool = True, max_chars: int | None = None) -> list[dict]:
    """The chat messages for one schema (``{schema}`` filled in). For a prompt that does not
    fit the context: ``annotations=False`` leaves descriptions out, ``max_chars`` cuts the
    schema text (marked). The constraint is always the whole schema."""
    s = json.dumps(schema if annotations else strip_annotations(schema), ensure_ascii=False)
    if max_chars is not None and len(s) > max_chars:
        s = s[:max_chars] + " ... (schema cut to fit the context)"
    return [{"role": m["role"], "content": m["content"].replace("{schema}", s)} for m in template]


# ============================================================================ output checks


_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n?(.*?)```", re.S)
_DECODER = json.JSONDecoder()


def extract_json(text: str) -> tuple[Any, str] | None:
    """``(value, how)`` of the JSON in a free-form output, or None if there is none.

    In order: the whole text (stripped) is JSON (``how="whole"``); else the first fenced
    block (```` ```json ... ``` ```` or a bare ```` ``` ````) that parses (``"fence"``); else the
    first complete JSON value that starts at a ``{`` or ``[`` (``"first_value"``; what follows
    it is ignored, e.g. an explanation or a second value).  Also used on unfinished outputs: a
    complete first value counts even if the model went on talking until the budget ran out.
    """
    s = text.strip()
    if not s:
        return None
    try:
        return json.loads(s), "whole"
    except (ValueError, RecursionError):
        pass
    for m in _FENCE_RE.finditer(text):
        body = m.group(2).strip()
        try:
            return json.loads(body), "fence"
        except (ValueError, RecursionError):
            continue
    # an unterminated fence: take what follows its opening line
    i = text.find("```")
    if i >= 0:
        rest = text[i + 3:]
        rest = rest.split("\n", 1)[1] if "\n" in rest else ""
        found = _first_value(rest)
        if found is not None:
            return found, "fence"
    found = _first_value(text)
    if found is not None:
        return found, "first_value"
    return None


def _first_value(text: str):
    for i, c in enumerate(text):
        if c in "{[":
            try:
                value, _ = _DECODER.raw_decode(text, i)
            except (ValueError, RecursionError):
                continue
            return value
    return None


def validate_instance(schema: Any, value: Any) -> tuple[bool | None, str | None]:
    """``(valid, message)``: ``jsonschema`` with the validator class of the schema's
    ``$schema`` (default Draft 2020-12) and that draft's format checker (``cls.FORMAT_CHECKER``:
    a bare ``FormatChecker()`` mixes the drafts' checkers, so ``time`` would be draft 3's
    ``HH:MM:SS`` without an offset); ``valid`` is None with a
    message ``"could not validate: ..."`` when the validator itself fails (an unresolvable
    ``$ref``, a pattern Python's ``re`` rejects...)."""
    import jsonschema
    from jsonschema import validators

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls = validators.validator_for(schema, default=validators.Draft202012Validator)
            v = cls(schema, format_checker=cls.FORMAT_CHECKER)
            err = jsonschema.exceptions.best_match(v.iter_errors(value))
    except RecursionError:
        return None, "could not validate: RecursionError"
    except Exception as e:  # noqa: BLE001
        msg = f"{type(e).__name__}: {e}"
        return None, "could not validate: " + msg[:300]
    if err is None:
        return True, None
    path = "/" + "/".join(str(p) for p in err.absolute_path)
    msg = f"{err.message} (at {path}, keyword {err.validator})"
    return False, msg[:500]


def check_output(schema: Any, text: str, mode: str, finished: bool) -> dict:
    """Parse (or, unconstrained, extract) and validate one output; see the module docstring."""
    out: dict[str, Any] = {"parses": False, "extracted": None, "valid": None, "validation_error": None,
                           "success": False}
    if mode == "constrained":
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as e:
            out["validation_error"] = f"not JSON: {e}"[:300]
            return out
        how = "whole"
    else:
        found = extract_json(text)
        if found is None:
            out["validation_error"] = "no JSON value found"
            return out
        value, how = found
    out["parses"], out["extracted"] = True, how
    valid, msg = validate_instance(schema, value)
    out["valid"], out["validation_error"] = valid, msg
    out["success"] = bool(valid) and (finished or mode != "constrained")
    return out


# ============================================================================ backends


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


# ============================================================================ one job


def _crashed(res: dict, e: BaseException) -> dict:
    """Record an exception from the backend as a crash (a MemoryError also restarts the worker)."""
    res.update(status="crash", error=error_info(e))
    res["error"]["message"] = short_traceback(e)
    if isinstance(e, MemoryError):
        res["restart"] = True
    return res


def run_job(backend, job: dict, notify: Callable[[tuple], None] | None = None) -> dict:
    """Compile (constrained), generate, parse and validate one (schema, mode).  Never raises."""
    mode, schema = job["mode"], job["schema"]
    res: dict[str, Any] = {"status": None, "phase": "compile", "compile_ms": None, "error": None,
                           "warnings": [], "restart": False}
    compiled = None
    if mode == "constrained":
        t0 = time.perf_counter_ns()
        try:
            compiled = backend.compile(schema)
        except backend.compile_errors as e:
            res.update(status="compile_error", compile_ms=(time.perf_counter_ns() - t0) / 1e6,
                       error=error_info(e))
            return res
        except Exception as e:  # noqa: BLE001 (MemoryError included: the worker restarts)
            return _crashed(res, e)
        res["compile_ms"] = (time.perf_counter_ns() - t0) / 1e6
        res["warnings"] = list(getattr(backend, "last_warnings", []) or [])
        if notify is not None:
            notify(("compiled", res["compile_ms"]))
    elif mode != "unconstrained":
        raise ValueError(f"unknown mode {mode!r}")
    res["phase"] = "generate"
    messages = build_messages(schema)
    for fit in ("annotations", "cut", None):
        try:
            out = backend.generate(messages, compiled, max_new_tokens=job["max_new_tokens"],
                                   temperature=job["temperature"], seed=job.get("seed"))
            break
        except PromptTooLong as e:
            if fit is None:
                res.update(status="prompt_too_long", prompt_tokens=e.prompt_tokens,
                           error={"class": "PromptTooLong", "keyword": None, "pointer": None, "message": str(e)})
                return res
            # the schema does not fit the context: show less of it (the constraint is unchanged)
            res["prompt_fit"] = "no annotations" if fit == "annotations" else "cut"
            if fit == "annotations":
                messages = build_messages(schema, annotations=False)
            else:
                text = json.dumps(strip_annotations(schema), ensure_ascii=False)
                keep = max(200, int(len(text) * 0.85 * e.limit / max(e.prompt_tokens, 1)) - 400)
                messages = build_messages(schema, annotations=False, max_chars=keep)
        except Exception as e:  # noqa: BLE001 (MemoryError included: the worker restarts)
            return _crashed(res, e)
    text = out.get("text", "")
    res.update({k: v for k, v in out.items() if k != "text"})
    res["text"] = text[:TEXT_KEEP]
    res["text_chars"] = len(text)
    res["phase"] = "validate"
    res.update(check_output(schema, text, mode, bool(out.get("finished"))))
    res["status"] = "ok"
    return res


# ============================================================================ worker process


def _worker_main(conn, backend_spec: str, options: dict, mem_limit: int | None,
                 stderr_path: str | None) -> None:  # pragma: no cover - subprocess
    redirect_stderr(stderr_path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    set_memory_limit(mem_limit)
    try:
        backend = make_backend(backend_spec, options)
        conn.send(("ready", dict(getattr(backend, "info", {}) or {})))
    except BaseException as e:  # noqa: BLE001
        conn.send(("setup_error", short_traceback(e) + "\n" + traceback.format_exc()[-2000:]))
        return
    while True:
        try:
            job = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if job is None:
            return
        res = run_job(backend, job, conn.send)
        try:
            conn.send(("result", res))
        except Exception as e:  # noqa: BLE001 - an unpicklable object in the result
            conn.send(("result", {"status": "crash", "phase": "send", "compile_ms": res.get("compile_ms"),
                                  "error": {"class": type(e).__name__, "keyword": None, "pointer": None,
                                            "message": short_traceback(e)}, "restart": True}))
        if res.get("restart"):
            return


class _ProcessRunner(WorkerProcess):
    """The backend in a worker process (model loaded once); per-job deadline; restart on
    timeout or death (alive/kill/stop from :class:`~.workers.WorkerProcess`)."""

    def __init__(self, mpctx, backend_spec: str, options: dict, mem_limit: int | None,
                 setup_timeout: float, stderr_path: str | None):
        self.proc, self.conn, self.info = start_worker(
            mpctx, _worker_main, (backend_spec, options, mem_limit, stderr_path), "bench-generate",
            setup_timeout, "generation ")

    def run(self, job: dict, timeout: float | None) -> dict:
        try:
            self.conn.send(job)
        except (BrokenPipeError, OSError):
            return self._dead(None, "compile")
        t_start = time.monotonic()
        deadline = t_start + timeout if timeout else float("inf")
        compile_ms = None
        phase = "compile" if job["mode"] == "constrained" else "generate"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                return {"status": "timeout", "phase": phase, "compile_ms": compile_ms, "error": None,
                        "restart": True, "elapsed_s": round(time.monotonic() - t_start, 3)}
            if self.conn.poll(min(left, 0.5)):
                try:
                    msg = self.conn.recv()
                except (EOFError, OSError):
                    return self._dead(compile_ms, phase)
                if msg[0] == "compiled":
                    compile_ms, phase = msg[1], "generate"
                    continue
                res = msg[1]
                res["elapsed_s"] = round(time.monotonic() - t_start, 3)
                return res
            if not self.proc.is_alive():
                if self.conn.poll(0):
                    continue
                return self._dead(compile_ms, phase)

    def _dead(self, compile_ms, phase) -> dict:
        self.proc.join(2)
        return {"status": "crash", "phase": phase, "compile_ms": compile_ms,
                "error": {"class": "WorkerDied", "keyword": None, "pointer": None,
                          "message": describe_exit(self.proc.exitcode)}, "restart": True}



class _InlineRunner:
    """A backend object in this process (tests, debugging): no deadline, no isolation."""

    def __init__(self, backend):
        self.backend = backend
        self.info = dict(getattr(backend, "info", {}) or {})

    def run(self, job: dict, timeout: float | None) -> dict:
        t0 = time.monotonic()
        res = run_job(self.backend, job)
        res["elapsed_s"] = round(time.monotonic() - t0, 3)
        return res

    def alive(self) -> bool:
        return True

    def kill(self) -> None:
        pass

    stop = kill


# ============================================================================ the run


def _record(entry, mode: str, res: dict) -> dict:
    rec = {"key": entry.key, "id": entry.id, "mode": mode}
    rec.update({k: v for k, v in res.items() if k != "restart"})
    for k in ("parses", "valid", "success", "finished"):
        rec.setdefault(k, False if k != "valid" else None)
    return rec


_CONFIG_MUST_MATCH = ("model", "backend", "max_new_tokens", "temperature", "gen_seed", "whitespace", "lenient",
                      "frequency_penalty", "finish_within_budget")


def run_generate_bench(data_dir, *, model: str = "default", modes: Sequence[str] = MODES,
                       sample: int | None = None, seed: int = 0, files_glob: str | None = None,
                       max_new_tokens: int = 512, temperature: float = 0.0, gen_seed: int | None = 0,
                       timeout: float | None = 120.0, max_prompt_tokens: int | None = None,
                       whitespace: str | None = None, lenient: bool = False, threads: int | None = None,
                       frequency_penalty: float = 0.0, finish_within_budget: bool = False, backend: Any = "hf", json_out: str | None = None, resume: str | None = None,
                       retry_timeouts: bool = False, mem_limit_gb: float | None = None,
                       start_method: str = "spawn",
                       setup_timeout: float = 900.0, progress: bool = True,
                       log: Callable[[str], None] | None = None) -> dict:
    """Run the generation benchmark; returns the payload (also written to ``json_out``).

    ``backend``: ``"hf"`` (the model, in a worker process), ``"fake"`` or ``"module:Class"``
    (in a worker process), or a backend *object* (run in this process, no timeout).
    """
    say = log or (lambda s: print(s, file=sys.stderr, flush=True))
    modes = [m for m in modes]
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r} (constrained, unconstrained)")
    entries = load_sample(data_dir, sample=sample, seed=seed, files_glob=files_glob)
    backend_name = backend if isinstance(backend, str) else type(backend).__name__
    config = {"data_dir": str(data_dir), "model": model, "backend": backend_name, "modes": list(modes),
              "sample": sample, "seed": seed, "files": files_glob, "n_schemas": len(entries),
              "max_new_tokens": max_new_tokens, "temperature": temperature, "gen_seed": gen_seed,
              "timeout_s": timeout, "max_prompt_tokens": max_prompt_tokens, "whitespace": whitespace,
              "frequency_penalty": frequency_penalty, "finish_within_budget": finish_within_budget,
              "lenient": lenient, "prompt_template": [dict(m) for m in PROMPT_TEMPLATE],
              "python": sys.version.split()[0], "cpu_count": os.cpu_count(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    payload: dict[str, Any] = {"kind": "generate", "format": JSON_FORMAT_VERSION, "config": config,
                               "info": {}, "results": [], "worker_starts": 0}
    done: dict[tuple[str, str], dict] = {}
    wall0 = 0.0
    if resume and Path(resume).exists():
        old = json.loads(Path(resume).read_text(encoding="utf-8"))
        oc = old.get("config", {})
        for k in _CONFIG_MUST_MATCH:
            if oc.get(k) != config[k]:
                raise ValueError(f"--resume {resume}: {k} {oc.get(k)!r} != {config[k]!r}")
        done = {(r["key"], r["mode"]): r for r in old.get("results", [])
                if not (retry_timeouts and r["status"] in ("timeout", "crash"))}
        payload["info"] = old.get("info") or {}
        wall0 = float(old.get("wall_s") or 0.0)
        say(f"[generate] resuming from {resume}: {len(done)} (schema, mode) results reused")

    jobs = [(e, m) for e in entries for m in modes]
    todo = sum((e.key, m) not in done for e, m in jobs)
    say(f"[generate] {len(entries)} schemas x {len(modes)} modes from {data_dir}; {todo} jobs to run; "
        f"model {model}, max_new_tokens {max_new_tokens}, temperature {temperature}, timeout {timeout} s")

    options = {"model": model, "max_new_tokens": max_new_tokens, "max_prompt_tokens": max_prompt_tokens,
               "whitespace": whitespace, "lenient": lenient, "threads": threads,
               "frequency_penalty": frequency_penalty, "finish_within_budget": finish_within_budget}
    mpctx = mp.get_context(start_method)
    mem_limit = int(mem_limit_gb * (1 << 30)) if mem_limit_gb else None
    stderr_path = None
    if json_out and isinstance(backend, str):
        stderr_path = f"{json_out}.worker.stderr.log"
        payload["worker_stderr"] = stderr_path
        if not done:
            open(stderr_path, "w").close()
    runner = None
    results = payload["results"]
    stats: Counter = Counter()
    bar = _Bar(len(jobs), progress)
    t_run = time.perf_counter()
    last_write = time.monotonic()

    def write():
        payload["wall_s"] = round(wall0 + time.perf_counter() - t_run, 1)
        payload["summary"] = summarize_generate(results, modes)
        if json_out:
            write_json(json_out, payload)

    try:
        for e, mode in jobs:
            prev = done.get((e.key, mode))
            if prev is not None:
                results.append(prev)
                stats[(mode, _outcome(prev))] += 1
                bar.update(stats, reused=True)
                continue
            if runner is None or not runner.alive():
                if isinstance(backend, str):
                    try:
                        runner = _ProcessRunner(mpctx, backend, options, mem_limit, setup_timeout, stderr_path)
                    except WorkerSetupError as ex:
                        say(f"[generate] worker setup failed: {ex}")
                        payload["setup_error"] = str(ex)
                        break
                else:
                    runner = _InlineRunner(backend)
                payload["worker_starts"] += 1
                bar.worker_ready()
                if not payload["info"]:
                    payload["info"] = runner.info
                    say(f"[generate] worker ready: {json.dumps(runner.info)}")
            job = {"key": e.key, "schema": e.schema, "mode": mode, "max_new_tokens": max_new_tokens,
                   "temperature": temperature, "seed": gen_seed}
            res = runner.run(job, timeout if isinstance(backend, str) else None)
            if res.get("restart"):
                runner.kill()
                runner = None
            rec = _record(e, mode, res)
            results.append(rec)
            stats[(mode, _outcome(rec))] += 1
            bar.update(stats)
            if json_out and time.monotonic() - last_write > 30:
                write()
                last_write = time.monotonic()
    except KeyboardInterrupt:
        say("[generate] interrupted; writing partial results")
        if runner is not None:
            runner.kill()
        write()
        raise
    finally:
        bar.close()
    if runner is not None:
        runner.stop()
    write()
    return payload


def _outcome(rec: dict) -> str:
    if rec["status"] != "ok":
        return rec["status"]
    return "valid" if rec.get("success") else "invalid"


def _hms(seconds: float) -> str:
    """``754.2`` -> ``"12:34"``, ``4000`` -> ``"1:06:40"``."""
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


class _Bar:
    """Progress on stderr: a tqdm bar when tqdm is installed and stderr is a terminal, else a
    plain line with done/total, the seconds per job, the elapsed time and the ETA (after the
    first job run, then every ``interval`` seconds, and at the end).  Jobs reused from
    ``--resume`` count as done but not in the rate, so the ETA reflects this run's speed.
    """

    def __init__(self, total: int, enabled: bool, *, interval: float = 15.0,
                 clock: Callable[[], float] = time.monotonic, out=None, use_tqdm: bool | None = None):
        self.bar = None
        self.enabled, self.total, self.n, self.ran = enabled, total, 0, 0
        self.interval, self.clock, self.out = interval, clock, out
        self.t0 = clock()
        self.last = None
        stream = out if out is not None else sys.stderr
        if use_tqdm is None:
            use_tqdm = stream.isatty()
        if enabled and use_tqdm:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc="generate", file=stream, mininterval=1.0)
            except ImportError:
                pass

    def update(self, stats: Counter, *, reused: bool = False) -> None:
        self.n += 1
        self.ran += not reused
        if not self.enabled:
            return
        parts = []
        for mode, short in (("constrained", "C"), ("unconstrained", "U")):
            c = {o: n for (m, o), n in stats.items() if m == mode}
            if c:
                parts.append(f"{short} valid {c.get('valid', 0)}/{sum(c.values())}")
        post = "  ".join(parts)
        if self.bar is not None:
            self.bar.set_postfix_str(post, refresh=False)
            self.bar.update(1)
            return
        now = self.clock()
        first_run = not reused and self.ran == 1
        if not (first_run or self.n == self.total or (self.last is not None and now - self.last >= self.interval)):
            return
        self.last = now
        print(f"[generate] {self.line(now)}  {post}", file=self.out or sys.stderr, flush=True)

    def worker_ready(self) -> None:
        """Start the clock when the model is loaded: loading is not a job, and counting it would
        inflate the first ETA."""
        if not self.ran:
            self.t0 = self.clock()

    def line(self, now: float) -> str:
        """``"3/40 jobs, 12.5 s/job, elapsed 0:37, ETA 7:42"``."""
        elapsed = now - self.t0
        head = f"{self.n}/{self.total} jobs"
        if not self.ran:
            return head
        per_job = elapsed / self.ran
        tail = f", {per_job:.1f} s/job, elapsed {_hms(elapsed)}"
        if self.n < self.total:
            tail += f", ETA {_hms(per_job * (self.total - self.n))}"
        return head + tail

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ============================================================================ summary


def _compiled(r: dict) -> bool:
    if r["status"] in ("ok", "prompt_too_long"):
        return True
    return r["status"] in ("timeout", "crash") and r.get("compile_ms") is not None


def _median(xs):
    return percentile(xs, 50) if xs else None


def _dataset(key: str) -> str:
    from .coverage_stats import dataset_name

    return dataset_name(key)


def _mode_summary(rs: list[dict], mode: str) -> dict:
    st = Counter(r["status"] for r in rs)
    gen = [r for r in rs if r["status"] == "ok"]
    n_compiled = sum(1 for r in rs if _compiled(r)) if mode == "constrained" else None
    n_ptl = st["prompt_too_long"]
    denom_cov = n_compiled - n_ptl if mode == "constrained" else None
    run = len(rs) - n_ptl
    valid = sum(1 for r in rs if r.get("success"))
    cerr = [r for r in rs if r["status"] == "compile_error"]
    per_ds: dict[str, Counter] = {}
    for r in rs:
        c = per_ds.setdefault(_dataset(r["key"]), Counter())
        c["schemas"] += 1
        c["run"] += r["status"] != "prompt_too_long"
        if mode == "constrained":
            c["compiled"] += _compiled(r) and r["status"] != "prompt_too_long"
        c["valid"] += bool(r.get("success"))
    return {
        "schemas": len(rs),
        "compiled": n_compiled,
        "compile_errors": len(cerr),
        "compile_error_keywords": top_counts(Counter(str((r.get("error") or {}).get("keyword")
                                                         or f"({(r.get('error') or {}).get('class')})")
                                                     for r in cerr), 20),
        "prompt_too_long": n_ptl,
        "prompt_fitted": sum(1 for r in rs if r.get("prompt_fit")),
        "timeouts": st["timeout"],
        "crashes": st["crash"],
        "generated": len(gen),
        "finished": sum(1 for r in gen if r.get("finished")),
        # closed by the grammar's shortest completion as the budget ran out (finish_within_budget)
        "closed_by_grammar": sum(1 for r in gen if r.get("stop_reason") == "budget"),
        "parses": sum(1 for r in gen if r.get("parses")),
        "validates": sum(1 for r in gen if r.get("valid")),
        "unvalidatable": sum(1 for r in gen if r.get("parses") and r.get("valid") is None),
        "valid": valid,
        "coverage_denominator": denom_cov,
        "empirical_coverage": (valid / denom_cov) if denom_cov else None,
        "run": run,
        "compliance": (valid / run) if run else None,
        "extracted": dict(Counter(r.get("extracted") for r in gen if r.get("extracted"))),
        "median_compile_ms": _median([r["compile_ms"] for r in rs if _compiled(r) and r.get("compile_ms") is not None]),
        "median_ttft_ms": _median([r["ttft_ms"] for r in gen if r.get("ttft_ms") is not None]),
        "median_tpot_ms": _median([r["tpot_ms"] for r in gen if r.get("tpot_ms")]),
        "median_output_tokens": _median([r["output_tokens"] for r in gen if r.get("output_tokens") is not None]),
        "per_dataset": {ds: dict(c) for ds, c in sorted(per_ds.items())},
        "invalid_keys": [r["key"] for r in gen if not r.get("success")],
        "timeout_keys": [r["key"] for r in rs if r["status"] == "timeout"],
        "crash_keys": [r["key"] for r in rs if r["status"] == "crash"],
    }


def summarize_generate(results: Sequence[dict], modes: Sequence[str] = MODES) -> dict:
    """Per mode: counts, coverage / compliance and medians; plus, when both modes ran, the
    unconstrained compliance on the schemas that compiled (the same denominator as coverage)."""
    out: dict[str, Any] = {}
    for mode in modes:
        out[mode] = _mode_summary([r for r in results if r["mode"] == mode], mode)
    if "constrained" in out and "unconstrained" in out:
        ok_keys = {r["key"] for r in results if r["mode"] == "constrained" and _compiled(r)
                   and r["status"] != "prompt_too_long"}
        un = [r for r in results if r["mode"] == "unconstrained" and r["key"] in ok_keys
              and r["status"] != "prompt_too_long"]
        v = sum(1 for r in un if r.get("success"))
        out["unconstrained"]["valid_on_compiled"] = v
        out["unconstrained"]["compliance_on_compiled"] = (v / len(un)) if un else None
        out["unconstrained"]["n_on_compiled"] = len(un)
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.1f}%"


def format_generate_report(payload: dict, *, max_ids: int = 20) -> str:
    """Markdown: the summary table (one column per mode), per-dataset table, failure samples."""
    cfg = payload.get("config", {})
    info = payload.get("info", {})
    S = payload.get("summary") or summarize_generate(payload.get("results", []), cfg.get("modes", MODES))
    modes = [m for m in MODES if m in S]
    out = [f"Generation benchmark: {cfg.get('n_schemas')} schemas (sample {cfg.get('sample') or 'all'}, seed {cfg.get('seed')}"
           f"{', files ' + cfg['files'] if cfg.get('files') else ''}), model {info.get('model', cfg.get('model'))}"
           f" on {info.get('device', '?')}, max_new_tokens {cfg.get('max_new_tokens')}, temperature "
           f"{cfg.get('temperature')}, timeout {cfg.get('timeout_s')} s, wall {fmt_num(payload.get('wall_s'))} s"]
    if payload.get("setup_error"):
        out.append(f"worker setup failed: {payload['setup_error'].splitlines()[0]}")
    if not modes:
        return "\n".join(out)

    def row(label, fn):
        return [label] + [fn(S[m], m) for m in modes]

    def count(field, whole="schemas"):
        return lambda s, m: "-" if s.get(field) is None else fmt_count_pct(s[field], s[whole])

    rows = [
        row("schemas", lambda s, m: str(s["schemas"])),
        row("compiled (declared coverage)", lambda s, m: count("compiled")(s, m) if m == "constrained" else "-"),
        row("compile errors", lambda s, m: count("compile_errors")(s, m) if m == "constrained" else "-"),
        row("prompt too long (skipped)", lambda s, m: str(s["prompt_too_long"])),
        row("prompt without annotations or cut, to fit", lambda s, m: str(s.get("prompt_fitted", 0))),
        row("timeouts", lambda s, m: str(s["timeouts"])),
        row("crashes", lambda s, m: str(s["crashes"])),
        row("finished (EOS within budget; % of generated)", count("finished", "generated")),
        row("of which closed by the grammar as the budget ran out", count("closed_by_grammar", "generated")),
        row("parses as JSON (% of generated)", count("parses", "generated")),
        row("validates (% of generated)", count("validates", "generated")),
        row("valid outputs", lambda s, m: str(s["valid"])),
        row("**empirical coverage** (valid / compiled)",
            lambda s, m: (f"**{_pct(s['empirical_coverage'])}**" if m == "constrained" else "-")),
        row("compliance (valid / schemas run)", lambda s, m: _pct(s["compliance"])),
    ]
    if "unconstrained" in S and "compliance_on_compiled" in S["unconstrained"]:
        u = S["unconstrained"]
        rows.append(["compliance on the schemas that compiled",
                     *[(_pct(S[m]["empirical_coverage"]) if m == "constrained" else
                        f"{_pct(u['compliance_on_compiled'])} ({u['valid_on_compiled']}/{u['n_on_compiled']})")
                       for m in modes]])
    rows += [
        row("median compile (ms)", lambda s, m: fmt_num(s["median_compile_ms"]) if m == "constrained" else "-"),
        row("median TTFT (ms)", lambda s, m: fmt_num(s["median_ttft_ms"])),
        row("median TPOT (ms)", lambda s, m: fmt_num(s["median_tpot_ms"])),
        row("median output tokens", lambda s, m: fmt_num(s["median_output_tokens"])),
    ]
    out.append("")
    out.append(format_table(["", *modes], rows, markdown=True))

    dss = sorted({ds for m in modes for ds in S[m]["per_dataset"]})
    if dss:
        heads = ["dataset", "schemas"]
        if "constrained" in modes:
            heads.append("constrained valid / compiled")
        if "unconstrained" in modes:
            heads.append("unconstrained valid / run")
        drows = []
        for ds in dss:
            any_m = S[modes[0]]["per_dataset"].get(ds, {})
            r = [ds, str(any_m.get("schemas", 0))]
            if "constrained" in modes:
                d = S["constrained"]["per_dataset"].get(ds, {})
                r.append(f"{d.get('valid', 0)}/{d.get('compiled', 0)} ({fmt_pct(d.get('valid', 0), d.get('compiled', 0))})")
            if "unconstrained" in modes:
                d = S["unconstrained"]["per_dataset"].get(ds, {})
                r.append(f"{d.get('valid', 0)}/{d.get('run', 0)} ({fmt_pct(d.get('valid', 0), d.get('run', 0))})")
            drows.append(r)
        out.append("")
        out.append(format_table(heads, drows, markdown=True))

    res = payload.get("results", [])
    for m in modes:
        s = S[m]
        lines = []
        if s["compile_error_keywords"]:
            lines.append("compile errors by keyword: " + ", ".join(f"{k} {n}" for k, n in s["compile_error_keywords"]))
        if s["extracted"] and m == "unconstrained":
            lines.append("JSON found by: " + ", ".join(f"{k} {n}" for k, n in sorted(s["extracted"].items())))
        bad = [r for r in res if r["mode"] == m and r["status"] == "ok" and not r.get("success")]
        for r in bad[:max_ids]:
            why = r.get("validation_error") or ("unfinished" if not r.get("finished") else "?")
            if not r.get("finished"):
                why = f"unfinished ({r.get('output_tokens')} tokens); {why}"
            lines.append(f"  invalid {r['key']}: {why[:160]}")
        if len(bad) > max_ids:
            lines.append(f"  ... {len(bad) - max_ids} more invalid (see the JSON file)")
        for r in res:
            if r["mode"] == m and r["status"] in ("timeout", "crash"):
                lines.append(f"  {r['status']} {r['key']} in {r.get('phase')}"
                             + (f": {(r.get('error') or {}).get('message', '')[:120]}" if r.get("error") else ""))
        if lines:
            out.append("")
            out.append(f"{m}:")
            out.extend(lines)
    return "\n".join(out)


# ============================================================================ plots


def plot_generate(payload: dict, out_dir: str | os.PathLike, *, prefix: str = "generate") -> list[str]:
    """``{prefix}_coverage.png`` (per dataset: constrained valid/compiled next to unconstrained
    valid/run) and ``{prefix}_cdf.png`` (CDFs of TPOT and TTFT per mode).  Needs matplotlib."""
    from . import plots as P

    plt = P._plt()
    cfg = payload.get("config", {})
    S = payload.get("summary") or summarize_generate(payload.get("results", []), cfg.get("modes", MODES))
    modes = [m for m in MODES if m in S]
    sub = f"{cfg.get('n_schemas')} schemas, {payload.get('info', {}).get('model', cfg.get('model'))}"
    d = Path(out_dir)
    paths = []

    datasets = sorted({ds for m in modes for ds in S[m]["per_dataset"]}) + ["total"]
    n, k = len(datasets), max(1, len(modes))
    h = 0.8 / k
    fig, ax = plt.subplots(figsize=(7, 0.3 * n * max(1, k / 2) + 1.2))
    for j, m in enumerate(modes):
        vals = []
        for ds in datasets:
            if ds == "total":
                v = S[m]["empirical_coverage"] if m == "constrained" else S[m]["compliance"]
                vals.append(100.0 * v if v is not None else 0.0)
                continue
            c = S[m]["per_dataset"].get(ds, {})
            den = c.get("compiled", 0) if m == "constrained" else c.get("run", 0)
            vals.append(100.0 * c.get("valid", 0) / den if den else 0.0)
        ys = [i + (j - (k - 1) / 2) * h for i in range(n)]
        label = "constrained: valid / compiled" if m == "constrained" else "unconstrained: valid / schemas run"
        ax.barh(ys, vals, height=h, color=P.COLORS[j % len(P.COLORS)], label=label)
    ax.set_yticks(range(n))
    ax.set_yticklabels(datasets)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of schemas with a valid output")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False, ncol=k,
              title=f"Generation: valid outputs per dataset ({sub})", title_fontsize=10)
    fig.tight_layout()
    paths.append(P._save(fig, d / f"{prefix}_coverage.png"))

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for j, m in enumerate(modes):
        gen = [r for r in payload.get("results", []) if r["mode"] == m and r["status"] == "ok"]
        c = P.COLORS[j % len(P.COLORS)]
        P._ecdf(axes[0], [r.get("tpot_ms") for r in gen], m, c)
        P._ecdf(axes[1], [r.get("ttft_ms") for r in gen], m, c)
    for ax, xl in ((axes[0], "time per output token (ms)"), (axes[1], "time to first token (ms)")):
        ax.set_xscale("log")
        ax.set_ylim(0, 1.0)
        ax.set_xlabel(xl)
        ax.set_ylabel("fraction of outputs")
        ax.grid(alpha=0.3, which="both")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Generation latency ({sub})", fontsize=10)
    fig.tight_layout()
    paths.append(P._save(fig, d / f"{prefix}_cdf.png"))
    return paths


# ============================================================================ CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", help="folder of *.jsonl.gz files: JSONSchemaBench's maskbench/ (README: $DATA/maskbench)")
    p.add_argument("--model", default="default",
                   help="'default' = decode.load_default_model() (SmolLM2-135M-Instruct); anything else "
                        "goes to decode.load_model (HF id or local path)")
    p.add_argument("--sample", type=int, default=None, help="number of schemas (same sample as maskbench); default all")
    p.add_argument("--seed", type=int, default=0, help="sample seed")
    p.add_argument("--files", default=None, help="glob(s) on file names, comma-separated, e.g. 'Github_*'")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated: constrained, unconstrained")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--gen-seed", type=int, default=0, help="sampling seed passed to decode.generate")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds per schema and mode (compile + generation + validation); 0: none")
    p.add_argument("--max-prompt-tokens", type=int, default=None,
                   help="skip schemas whose prompt is longer (default: model context - max_new_tokens)")
    p.add_argument("--whitespace", default=None, choices=("flexible", "compact"),
                   help="compile_json_schema whitespace option (default: the library default)")
    p.add_argument("--lenient", action="store_true", help="compile with lenient=True")
    p.add_argument("--frequency-penalty", type=float, default=0.0,
                   help="decode.generate frequency_penalty, both modes (default 0)")
    p.add_argument("--finish-within-budget", action="store_true",
                   help="constrained mode: close the output with the grammar's shortest completion "
                        "when the token budget runs out (decode.generate finish_within_budget)")
    p.add_argument("--threads", type=int, default=None, help="torch threads in the worker (default: torch's)")
    p.add_argument("--json", dest="json_out", default=None, help="write every raw figure and the summary here")
    p.add_argument("--resume", default=None, help="reuse the results in this JSON file (and write to it unless --json)")
    p.add_argument("--retry-timeouts", action="store_true",
                   help="with --resume: run the timed-out and crashed (schema, mode) jobs again")
    p.add_argument("--plots", default=None, metavar="DIR", help="write generate_coverage.png and generate_cdf.png here")
    p.add_argument("--backend", default="hf", help=argparse.SUPPRESS)  # hf | fake | module:Class (tests)
    p.add_argument("--mem-limit-gb", type=float, default=0.0, help="RLIMIT_AS of the worker (0: none)")
    p.add_argument("--start-method", default="spawn", choices=("spawn", "fork", "forkserver"))
    p.add_argument("--max-ids", type=int, default=20, help="invalid outputs listed per mode")
    p.add_argument("--no-progress", action="store_true")


def main(argv: Sequence[str] | None = None, args: argparse.Namespace | None = None) -> int:
    if args is None:
        p = argparse.ArgumentParser(prog="python -m decode.bench generate", description=__doc__.split("\n")[0])
        add_arguments(p)
        args = p.parse_args(argv)
    if args.plots:
        from .plots import require_matplotlib

        require_matplotlib()  # before the generation run, not after it
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    json_out = args.json_out or args.resume
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
    payload = run_generate_bench(
        args.data_dir, model=args.model, modes=modes, sample=args.sample, seed=args.seed, files_glob=args.files,
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, gen_seed=args.gen_seed,
        timeout=args.timeout or None, max_prompt_tokens=args.max_prompt_tokens, whitespace=args.whitespace,
        lenient=args.lenient, threads=args.threads, frequency_penalty=args.frequency_penalty,
        finish_within_budget=args.finish_within_budget, backend=args.backend, json_out=json_out, resume=args.resume,
        retry_timeouts=args.retry_timeouts, mem_limit_gb=args.mem_limit_gb or None, start_method=args.start_method, progress=not args.no_progress,
    )
    print(format_generate_report(payload, max_ids=args.max_ids))
    if json_out:
        print(f"\nraw results: {json_out}")
    if args.plots:
        for path in plot_generate(payload, args.plots):
            print(path)
    return 0 if not payload.get("setup_error") else 1
