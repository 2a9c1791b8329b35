"""``generate(..., sampler="smc" | "awrs")``: weighted samples of the constrained law for HF users.

Why a module of its own and not a branch of the loop: the generation loop (``decode.loop``)
moves one row per prompt forward in lock step and samples each token from the masked,
renormalised law (token masking), whose sequence law is ``p(y) / prod_t Z_t``.  The weighted
samplers target ``pi(y) = p(y) 1[y in L] / Z`` instead (ALGORITHMS.md sections 0 and 1): they
need many particles per prompt, arbitrary contexts (resampled particles are copies of each
other) and a weight per particle.  ``decode.sample`` already does that over any
``TokenLM``; this module is the thin bridge from ``generate``'s arguments (a model, a
tokenizer, prompts or chat messages, any constraint ``generate`` accepts) to it, and from its
``Samples`` back to a ``GenerationResult``:

- the prompt is encoded as the loop encodes it (``decode.prompts.encode_prompt``) and the
  constraint compiled as the loop compiles it (schemas with ``GENERATION_JSON_OPTIONS``), over
  the vocabulary of the model's logits width, so the particles see the same ids and masks as
  ``sampler="masked"``;
- the model becomes an :class:`decode.HFTokenLM` (its prefix-trie KV cache is what makes
  ``particles`` cheap: particles sharing a prefix do not recompute it);
- ``result.samples`` is the whole :class:`decode.Samples` (particles, log-weights,
  ``log_ml``, stats), and ``result.text`` is **one draw from the weighted posterior**
  (seeded), which is what a caller who wants "an output distributed as pi" should use.

A batch of prompts is one independent run per prompt.  Arguments with no meaning for a
weighted sampler (``top_p``, ``top_k``, the repetition penalties, ``finish_within_budget``,
``stop``) are refused with :class:`GenerationArgumentError` instead of being ignored: each
changes the proposal or cuts the output in a way the weights would not account for.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from constrain.tokens.vocab import require_eos

from .checks import check_context, check_vocabulary
from .constraints import as_compiled, constraint_kind, generation_json_options, get_vocabulary, is_compiled
from .healing import heal
from .lm import logits_width
from .prompts import encode_prompt
from .result import GenerationArgumentError, GenerationResult

__all__ = ["SAMPLERS", "WEIGHTED_SAMPLERS", "WeightedGenerationResult", "generate_weighted"]

#: what ``generate(sampler=...)`` accepts; ``"masked"`` is the loop's token masking
SAMPLERS = ("masked", "smc", "awrs")
#: the samplers this module runs (``decode.sample``'s methods of the same names)
WEIGHTED_SAMPLERS = ("smc", "awrs")


@dataclass
class WeightedGenerationResult(GenerationResult):
    """A :class:`GenerationResult` whose ``text`` is one draw from the weighted particles.

    ``samples``: the :class:`decode.Samples` of the run (``.texts``, ``.token_ids``,
    ``.log_weights``, ``.posterior()``, ``.log_ml``, ``.stats``); ``chosen``: the index of the
    particle ``text`` / ``token_ids`` come from.  ``finished`` is False (``stop_reason``
    ``"max_new_tokens"``) only when every particle has weight 0 (none ended within
    ``max_new_tokens``, or all hit dead ends); ``text`` is then an unweighted particle's prefix.
    """

    samples: Any = None
    chosen: int = -1


def check_sampler(sampler, particles, proposal=None, ess_threshold=None) -> None:
    """``sampler`` / ``particles`` / ``proposal`` / ``ess_threshold`` of ``generate``; raised
    before anything is compiled.  The last two are SMC's: given with another sampler they
    would be silently ignored, so they are refused."""
    if sampler not in SAMPLERS:
        raise GenerationArgumentError("sampler", f"must be one of {SAMPLERS}, got {sampler!r}")
    if isinstance(particles, bool) or not isinstance(particles, int) or particles < 1:
        raise GenerationArgumentError("particles", f"must be an integer >= 1, got {particles!r}")
    for name, value in (("proposal", proposal), ("ess_threshold", ess_threshold)):
        if value is not None and sampler != "smc":
            raise GenerationArgumentError(name, f"only applies to sampler='smc', not sampler={sampler!r}")


def _refuse_unsupported(sampler: str, *, top_p, top_k, frequency_penalty, presence_penalty,
                        finish_within_budget, stop) -> None:
    given = {
        "top_p": top_p is not None,
        "top_k": top_k is not None,
        "frequency_penalty": bool(frequency_penalty),
        "presence_penalty": bool(presence_penalty),
        "finish_within_budget": bool(finish_within_budget),
        "stop": bool(stop),
    }
    for name, on in given.items():
        if on:
            raise GenerationArgumentError(
                name, f"not supported with sampler={sampler!r}: it changes the proposal or cuts the "
                      f"output in a way the importance weights do not account for (use sampler='masked')")


def _draw(log_weights, rng: np.random.Generator) -> int:
    """An index drawn with probability proportional to ``exp(log_weights)``; -1 if all are 0."""
    lw = np.asarray(log_weights, dtype=np.float64)
    if not len(lw) or not np.isfinite(lw.max()):
        return -1
    w = np.exp(lw - lw.max())
    return int(rng.choice(len(w), p=w / w.sum()))


def generate_weighted(model, tokenizer, prompts: list, constraints: list, *, is_batch: bool, sampler: str,
                      particles: int, max_new_tokens: int, temperature: float, seed: int | None,
                      json_options: dict | None, top_p=None, top_k=None, frequency_penalty=0.0,
                      presence_penalty=0.0, finish_within_budget=False, stop=None, proposal=None,
                      ess_threshold=None, heal_prompt: bool = False, canonical_tokens: bool = False):
    """``decode.generate`` with ``sampler="smc"`` / ``"awrs"`` (see the module docstring).

    ``prompts`` / ``constraints``: one per row, as ``generate`` normalised them.  Returns one
    :class:`WeightedGenerationResult` per row (a list when ``is_batch``).  ``proposal`` /
    ``ess_threshold`` (SMC; None: ``decode.sample``'s defaults) are checked by it before the
    first forward pass.  ``heal_prompt``: token healing as in the loop (:mod:`decode.healing`);
    the particles run over the healed constraint (``samples.texts`` start with the removed
    bytes), ``text`` is the chosen particle's output after them; with canonical tokens their
    walks start the filter after the kept prompt (``Healing.constraint``).
    ``canonical_tokens``: compile the constraints with canonical tokenizations only (a
    ``Compiled`` must have been compiled so: ``as_compiled`` refuses one that was not).
    """
    from .lms.hf import HFTokenLM  # torch + the KV-cache adapter, only for weighted runs
    from .sampling import sample

    _refuse_unsupported(sampler, top_p=top_p, top_k=top_k, frequency_penalty=frequency_penalty,
                        presence_penalty=presence_penalty, finish_within_budget=finish_within_budget,
                        stop=stop)
    if isinstance(temperature, (int, float)) and temperature == 0:
        raise GenerationArgumentError("temperature", f"0 (greedy) has no sampling law to weight; "
                                      f"sampler={sampler!r} needs temperature > 0")
    for i, c in enumerate(constraints):
        if c is None:
            raise GenerationArgumentError("constraint" if not is_batch else f"constraint {i}",
                                          f"sampler={sampler!r} weights particles by a constraint; "
                                          f"without one every weight is 1 (use sampler='masked')")
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    for i, e in enumerate(encoded):
        check_context(model, len(e), max_new_tokens, row=i if is_batch else None)

    t_compile = time.perf_counter()
    width = logits_width(model)
    opts = generation_json_options(json_options)
    vocab = None
    compiled, kinds = [], []
    for i, c in enumerate(constraints):
        kind = constraint_kind(c)
        canon = {"canonical_tokens": True} if canonical_tokens else {}
        if is_compiled(c):
            check_vocabulary(c.vocab, width=width, tokenizer=tokenizer,
                             where="constraint" if not is_batch else f"constraint {i}")
            compiled.append(as_compiled(c, c.vocab, **canon))  # refuses one compiled without it
        else:
            if vocab is None:
                vocab = get_vocabulary(tokenizer, width)
            cc = as_compiled(c, vocab, **opts, **canon) if kind in ("json", "lark") else as_compiled(c, vocab, **canon)
            require_eos(cc.vocab, "tokenizer")
            compiled.append(cc)
        kinds.append(kind)
    compile_s = time.perf_counter() - t_compile

    lms: dict[int, Any] = {}  # one adapter (and KV cache) per vocabulary, shared by the rows
    results = []
    healings = [None] * len(encoded)
    if heal_prompt:
        t_heal = time.perf_counter()
        for i, cc in enumerate(compiled):
            h = healings[i] = heal(cc.vocab, encoded[i], cc)
            encoded[i], compiled[i] = h.prompt_ids, h.constraint
        compile_s += time.perf_counter() - t_heal
    for i, (ids, cc, kind) in enumerate(zip(encoded, compiled, kinds)):
        lm = lms.get(id(cc.vocab))
        if lm is None:
            lm = lms[id(cc.vocab)] = HFTokenLM(model, tokenizer, vocab=cc.vocab)
        row_seed = None if seed is None else int(seed) + i
        t0 = time.perf_counter()
        smc_options = {k: v for k, v in (("proposal", proposal), ("ess_threshold", ess_threshold))
                       if v is not None}
        s = sample(lm, ids, cc, method=sampler, n=particles, max_new_tokens=max_new_tokens,
                   temperature=temperature, seed=row_seed, **smc_options)
        rng = np.random.default_rng(None if row_seed is None else [row_seed, 0x5EED])
        k = _draw(s.log_weights, rng)
        finished = k >= 0
        if not finished:  # no particle carries weight: report one prefix, unweighted
            k = int(rng.integers(len(s.token_ids)))
        text, token_ids = s.texts[k], list(s.token_ids[k])
        h = healings[i]
        if h is not None and h.k:
            text = h.strip(cc.vocab.decode_bytes(token_ids)).decode("utf-8", errors="replace")
            h.note_output(cc.vocab, token_ids)
        value = None
        if kind == "json" and finished:
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = None
        total = time.perf_counter() - t0
        n_tok = sum(len(t) for t in s.token_ids)
        timings = {
            "time_per_output_token_s": total / n_tok if n_tok else 0.0,  # over all particles' tokens
            "n_tokens": len(token_ids),
            "total_s": total,
            "compile_s": compile_s,
            "steps": max((len(t) for t in s.token_ids), default=0) + 1,
            "particles": particles,
            "log_ml": s.log_ml if s.log_ml is not None else -math.inf,
            **{f"sampler_{key}": val for key, val in s.stats.items()},
        }
        results.append(WeightedGenerationResult(
            text=text, token_ids=token_ids, value=value, timings=timings, finished=finished,
            stop_reason="eos" if finished else "max_new_tokens", samples=s, chosen=k,
            stats={"forward_calls": s.stats["forward_calls"], "drafted": 0, "accepted": 0}, healed=h))
    return results if is_batch else results[0]
