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

from .backends import FakeGenBackend, HFBackend, PromptTooLong, make_backend
from .checks import check_output, extract_json, validate_instance
from .cli import add_arguments, main
from .protocol import MODES, PROMPT_TEMPLATE, build_messages, strip_annotations
from .report import format_generate_report, plot_generate, summarize_generate
from .runner import run_generate_bench, run_job

__all__ = [
    "FakeGenBackend",
    "HFBackend",
    "MODES",
    "PROMPT_TEMPLATE",
    "PromptTooLong",
    "add_arguments",
    "build_messages",
    "check_output",
    "extract_json",
    "format_generate_report",
    "main",
    "make_backend",
    "plot_generate",
    "run_generate_bench",
    "run_job",
    "strip_annotations",
    "summarize_generate",
    "validate_instance",
]
