"""The reference decoding loop: ``lm.forward -> sampler.step -> matcher.advance``, until every
row stops.

Why our own loop instead of ``model.generate``: the matcher must see every sampled token
before the next mask is built, masks for a batch are filled into one pinned buffer and
applied with a single fused mask+sample kernel, and the loop can stop as soon as the grammar
leaves EOS as the only continuation (saving a forward pass).  ``decode.LogitsProcessor``
is the drop-in alternative for code that already uses ``model.generate``.

The loop owns only the order of things and the stop conditions; the model adapter
(:mod:`decode.lm`), the sampler (:mod:`decode.samplers`), the batch mask (:mod:`decode.masks`),
prompts (:mod:`decode.prompts`) and constraint coercion (:mod:`decode.constraints`) are each
their own module, so a new sampler or model backend does not branch this loop.

The module is ``decode.loop``, not ``decode.generate``: a submodule named like the function
``decode.generate`` would replace that function on the package once imported.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from constrain.tokens.vocab import require_eos

from .checks import check_context, check_sampling, check_vocabulary, tokenizer_len
from .constraints import (
    as_compiled,
    compiled_if_cached,
    constraint_kind,
    generation_json_options,
    get_vocabulary,
    is_compiled,
    is_pydantic_class,
)
from .healing import heal
from .lm import HFCausalLM, logits_width
from .masks import BatchMask
from .prompts import encode_prompt, eos_ids, is_messages, left_pad, normalize_prompts, pad_id
from .result import GenerationArgumentError, GenerationError, GenerationResult
from .samplers import MaskedSampler, RepetitionPenalties, close_within_budget
from .speculative import SpeculativeStep, as_speculation
from .steps import TokenStep
from .weighted import check_sampler, generate_weighted

__all__ = ["generate", "generate_object"]

#: ``generate`` compiles constraints that are not compiled (nor cached) yet on a thread while
#: the prompt's prefill runs, so that time to first token is the larger of the two rather than
#: their sum; False runs them one after the other (``decode.bench ttft`` compares the two).
OVERLAP_COMPILE = True

#: a speculative run's prompt prefill also verifies a draft of the output's first tokens
#: (``SpeculativeStep.prefill_draft``); False prefills the prompt alone
PREFILL_DRAFT = True

#: the plain (one token per pass) loop computes only the logits of the ids the next position's
#: masks allow when they are at most a quarter of the vocabulary (:mod:`decode.legal_head`;
#: models whose logits are a plain ``hidden @ W.T``); False computes every logit, as
#: ``decode.bench speculative`` does for its "plain, full head" column.  Speculative passes
#: always take the narrow head.
LEGAL_HEAD = True


@dataclass
class _Row:
    """One prompt's state in the batch."""

    compiled: Any
    kind: str | None
    matcher: Any = None
    vocab: Any = None
    token_ids: list = field(default_factory=list)
    done: bool = False
    reason: str = "max_new_tokens"
    mask_time: float = 0.0
    t_done: float | None = None
    text_override: str | None = None
    n_sampled: int = 0  # tokens sampled for this row, EOS included
    passes: int = 0  # model invocations (prefill included) while this row was running
    healing: Any = None  # decode.healing.Healing when heal_prompt=True

    def finish(self, reason: str, now: float) -> None:
        self.done, self.reason, self.t_done = True, reason, now

    def text(self, tokenizer) -> str:
        if self.vocab is not None:
            tb = self.vocab.token_bytes
            data = b"".join(tb[t] or b"" for t in self.token_ids)
            if self.healing is not None:  # the removed prompt bytes are the prompt's, not output
                data = self.healing.strip(data)
            return data.decode("utf-8", errors="replace")
        return tokenizer.decode(self.token_ids, skip_special_tokens=True)


@dataclass
class _Stops:
    """When a row ends, besides EOS and its grammar."""

    eos: set
    strings: list
    max_new_tokens: int
    finish_within_budget: bool
    tokenizer: Any


def _per_row_constraints(constraint, B: int, is_batch: bool) -> list:
    if isinstance(constraint, (list, tuple)):
        if not is_batch:
            raise GenerationArgumentError("constraint", "a list of constraints needs a list of prompts")
        if len(constraint) != B:
            raise GenerationArgumentError("constraint", f"{len(constraint)} constraints for {B} prompts")
        return list(constraint)
    return [constraint] * B


def _compile_rows(constraints, tokenizer, width: int, json_options, is_batch: bool,
                  canonical_tokens: bool = False) -> list[_Row]:
    """One :class:`_Row` per constraint, compiled (cached) and checked against the model."""
    vocab = None
    rows: list[_Row] = []
    opts = generation_json_options(json_options)
    canon = {"canonical_tokens": True} if canonical_tokens else {}
    for i, c in enumerate(constraints):
        kind = constraint_kind(c)
        if kind is not None and not is_compiled(c) and vocab is None:
            vocab = get_vocabulary(tokenizer, width)
        compiled = (as_compiled(c, vocab, **opts, **canon) if kind in ("json", "lark")
                    else as_compiled(c, vocab, **canon))
        row = _Row(compiled=compiled, kind=kind)
        if compiled is not None:
            if compiled is c:  # compiled by the caller, maybe for another model
                check_vocabulary(compiled.vocab, width=width, tokenizer=tokenizer,
                                 where="constraint" if not is_batch else f"constraint {i}")
            else:
                require_eos(compiled.vocab, "tokenizer")
            row.matcher = compiled.matcher()
            row.vocab = compiled.vocab
        rows.append(row)
    return rows


def _compile_due(constraints, tokenizer, width: int, json_options, canonical_tokens: bool) -> bool:
    """Does some row need a compile (a constraint neither compiled nor in the LRU)?"""
    opts = generation_json_options(json_options)
    canon = {"canonical_tokens": True} if canonical_tokens else {}
    vocab = None
    for c in constraints:
        kind = constraint_kind(c)
        if kind is None or is_compiled(c):
            continue
        if vocab is None:
            vocab = get_vocabulary(tokenizer, width)
        hit = (compiled_if_cached(c, vocab, **opts, **canon) if kind in ("json", "lark")
               else compiled_if_cached(c, vocab, **canon))
        if hit is False:
            return True
    return False


class _Background:
    """``fn()`` on its own thread (in a copy of the caller's context: compile budgets and
    schema locations are context variables); :meth:`result` joins it and raises the very
    exception ``fn`` raised, so a compile error reads as it does when compiled in line."""

    def __init__(self, fn):
        self._value = None
        self._error: BaseException | None = None
        ctx = contextvars.copy_context()
        self._thread = threading.Thread(target=ctx.run, args=(self._run, fn), name="decode-compile", daemon=True)
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            self._value = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the joining thread
            self._error = e

    def result(self):
        self._thread.join()
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        return self._value


def _heal_rows(rows: list[_Row], encoded: list[list[int]], tokenizer, width: int,
               canonical_tokens: bool = False) -> None:
    """``heal_prompt=True``: back up each prompt's boundary tokens (``decode.healing``) and put
    the constraint behind the removed bytes; ``encoded`` is shortened in place.  With canonical
    tokens the matcher's filter starts after the kept prompt (``Healing.matcher``)."""
    for i, r in enumerate(rows):
        vocab = r.vocab if r.vocab is not None else get_vocabulary(tokenizer, width)
        h = heal(vocab, encoded[i], r.compiled, canonical_tokens=canonical_tokens)
        r.healing = h
        if h.k or h.constraint is not r.compiled:  # removed tokens, or a canonical filter started after the prompt
            require_eos(h.constraint.vocab, "tokenizer")
            encoded[i] = h.prompt_ids
            r.compiled, r.matcher, r.vocab = h.constraint, h.matcher(), h.constraint.vocab


def _close_if_only_eos(i: int, r: _Row, masks: BatchMask) -> bool:
    """With row ``i``'s mask filled: if the grammar allows nothing but EOS, take it; True if so."""
    if not (r.matcher.is_accepting() and masks.only_eos(i, r.vocab)):
        return False
    r.matcher.advance(int(r.vocab.eos_ids[0]))
    return True


def _accept(i: int, r: _Row, t: int, masks: BatchMask, stops: _Stops, now: float) -> None:
    """Row ``i`` sampled token ``t``: advance its matcher, refill its mask, end it if it stops."""
    r.n_sampled += 1
    if r.matcher is not None:
        ts = time.perf_counter()
        if not r.matcher.advance(t):
            raise RuntimeError(f"row {i}: the matcher rejected token {t} that its own mask allowed")
        if r.matcher.is_finished():
            r.mask_time += time.perf_counter() - ts
            return r.finish("eos", now)
        r.token_ids.append(t)
        masks.fill(i, r.matcher, r.vocab)
        complete = _close_if_only_eos(i, r, masks)
        r.mask_time += time.perf_counter() - ts
        if complete:
            return r.finish("grammar_complete", now)
        if stops.finish_within_budget and close_within_budget(r.matcher, r.vocab, r.token_ids,
                                                              stops.max_new_tokens):
            r.mask_time += time.perf_counter() - ts
            return r.finish("budget", now)
    else:
        if t in stops.eos:
            return r.finish("eos", now)
        r.token_ids.append(t)
    if stops.strings:
        text = r.text(stops.tokenizer)
        cut = min((text.find(s) for s in stops.strings if s in text), default=-1)
        if cut >= 0:
            r.text_override = text[:cut]
            return r.finish("stop", now)
    if len(r.token_ids) >= stops.max_new_tokens:
        r.finish("max_new_tokens", now)


def _count_pass(rows) -> None:
    for r in rows:
        if not r.done:
            r.passes += 1


def _result(r: _Row, tokenizer, *, t0: float, t_first, t_end: float, compile_s: float, steps: int,
            stats: dict):
    text = r.text_override if r.text_override is not None else r.text(tokenizer)
    finished = r.reason != "max_new_tokens"
    value = None
    accepting = finished or (r.matcher is not None and r.matcher.is_accepting())
    if r.healing is not None and r.healing.k:
        r.healing.note_output(r.vocab, r.token_ids)
    if r.kind == "json" and accepting:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
    t_done = r.t_done if r.t_done is not None else t_end
    ttft = (t_first - t0) if t_first is not None else 0.0
    # decode time after the first token, per sampled token (an EOS step counts: it cost a
    # forward pass like any other)
    tpot = ((t_done - t_first) / (r.n_sampled - 1)) if (t_first is not None and r.n_sampled > 1) else 0.0
    timings = {
        "time_to_first_token_s": ttft,
        "time_per_output_token_s": tpot,
        "mask_time_s": r.mask_time,
        "n_tokens": len(r.token_ids),
        "total_s": t_done - t0,
        "compile_s": compile_s,
        "steps": steps,
    }
    return GenerationResult(text=text, token_ids=list(r.token_ids), value=value,
                            timings=timings, finished=finished, stop_reason=r.reason,
                            stats={"forward_calls": r.passes, **stats}, healed=r.healing)


def generate(
    model,
    tokenizer,
    prompt_or_messages,
    constraint=None,
    *,
    max_new_tokens: int = 256,
    temperature: float = 1.0,
    top_p: float | None = None,
    top_k: int | None = None,
    seed: int | None = None,
    stop: str | Sequence[str] | None = None,
    batch: bool | None = None,
    json_options: dict | None = None,
    frequency_penalty: float = 0.0,
    presence_penalty: float = 0.0,
    finish_within_budget: bool = False,
    sampler: str = "masked",
    particles: int = 8,
    proposal: str | None = None,
    ess_threshold: float | None = None,
    speculative=None,
    heal_prompt: bool = False,
    canonical_tokens: bool = False,
    _logit_bias=None,
):
    """Generate text whose every prefix the constraint allows; one result or a list for a batch.

    ``prompt_or_messages``: a prompt string, a list of chat messages (the chat template is
    applied with add_generation_prompt=True), or a list of those (a batch, left-padded).
    ``constraint``: see ``as_compiled``; for a batch, a single constraint or one per row.
    A JSON schema (dict, JSON text, Pydantic class) is compiled with
    ``GENERATION_JSON_OPTIONS`` (strict, canonical property names and enum strings, nothing
    after the root value, at most one line break per whitespace run); ``json_options``
    replaces some of them, e.g. ``{"strict": False}``.  A ``Compiled`` is used as it is.
    ``temperature=0`` is greedy.  ``seed`` makes sampling reproducible.  ``stop``: strings that
    end generation (the text is cut before them).  ``batch=True`` forces a list result.
    ``frequency_penalty`` / ``presence_penalty`` (OpenAI's and vLLM's meaning): before masking,
    each logit drops by ``frequency_penalty`` times the number of times its token was already
    generated in this row, plus ``presence_penalty`` if it was generated at all (the prompt does
    not count).  Small models under a constraint tend to loop inside unbounded strings and
    arrays (``"Cog-Cog-Cog-..."``) when the token they prefer is not allowed; a small frequency
    penalty (0.2-0.5) breaks such loops, since the constraint's forced tokens are unaffected.

    ``finish_within_budget=True``: once the shortest completion of the output
    (``Matcher.shortest_completion``, computed from the grammar's structure) needs nearly all
    the tokens left (all but :func:`~decode.samplers.finish_margin`), it is appended and the row ends
    (``stop_reason="budget"``): the output is complete and valid, its tail written by the
    grammar rather than the model. The output runs past ``max_new_tokens`` only where the
    schema's shortest instance is longer than the budget, or one token lengthened the
    completion by more than the margin.

    EOS can only be sampled where the matcher accepts (the mask guarantees it); a row also ends
    when the matcher is accepting and EOS is its only continuation.

    ``sampler``: ``"masked"`` (this loop: token masking, each token from the masked,
    renormalised law, whose sequence law over-weights prefixes with little legal mass),
    ``"smc"`` (sequential Monte Carlo with ``particles`` particles) or ``"awrs"``
    (``particles`` independent AWRS samples, importance-weighted).  The last two target the
    constrained law itself, ``p(y) 1[y in L] / Z`` (see :func:`decode.sample`); they run in
    :mod:`decode.weighted`, return a ``WeightedGenerationResult`` whose ``samples`` holds every
    particle and its weight and whose ``text`` is one draw from the weighted posterior
    (reproducible with ``seed``), need a constraint and ``temperature > 0``, and refuse
    ``top_p``, ``top_k``, the penalties, ``finish_within_budget`` and ``stop``.  With
    ``sampler="smc"``: ``proposal`` (``"awrs"``, the default, or ``"masked"``: exact weights
    from the mask) and ``ess_threshold`` (resample when ``ESS / particles`` falls below it;
    default 0.5), as in :func:`decode.sample`.

    ``speculative=True`` (or a :class:`decode.Speculation`): each model pass verifies a draft
    of grammar-legal tokens (the bytes the grammar forces, canonically tokenized; prompt
    lookup; see :mod:`decode.speculative`) and tokens the mask forces outright are appended
    without a pass.  Lossless: the output law is exactly that of the plain loop, and greedy
    output is token-for-token the same; only ``result.stats["forward_calls"]`` drops (and
    ``["drafted"]`` / ``["accepted"]`` / ``["sources"]`` say how).  Masked sampler only; not
    with the penalties.

    ``heal_prompt=True`` (token healing, :mod:`decode.healing`): the prompt's last ``k`` tokens
    are taken off (``k``: the most tokens whose bytes some longer token starts with, so a token
    could have crossed the boundary) and the output must start with their bytes, under the
    constraint after them: one byte-level condition, ``removed + L``.  ``result.text`` is the
    output after the removed bytes (prompt + text is the document); ``result.token_ids`` are
    every generated token, the first ones spelling the removed bytes; ``result.healed`` (a
    :class:`decode.Healing`) holds ``removed_ids`` / ``removed`` / ``regenerated_ids``.
    ``max_new_tokens`` counts the regenerating tokens too.  Works with every sampler and with
    ``speculative``.

    ``_logit_bias`` (internal: ``decode.repair``): an object with ``apply(logits, rows)`` and
    ``observe(rows, tokens)`` like :class:`~decode.samplers.RepetitionPenalties`, used in their
    place; masked sampler, no speculation, no penalties.

    ``canonical_tokens=True`` compiles the constraint so that the output is always the
    tokenizer's own encoding of its text (``constrain``'s ``canonical_tokens``; a ``Compiled``
    must have been compiled with it); every sampler.  Bytes the grammar writes itself
    (``finish_within_budget``'s closing tail) are tokenized on their own, so their junction
    with the output may not be canonical.  With ``heal_prompt`` (every sampler) the healed
    constraint is compiled canonically too and the filter starts after the kept prompt's
    tokens (``decode.healing.AfterPrompt``), so the regenerated tokens are canonical across
    the junction with them.
    """
    check_sampler(sampler, particles, proposal, ess_threshold)
    if not isinstance(canonical_tokens, bool):
        raise GenerationArgumentError("canonical_tokens", f"must be True or False, got {canonical_tokens!r}")
    spec = as_speculation(speculative)
    if spec is not None and sampler != "masked":
        raise GenerationArgumentError("speculative", f"speculative decoding runs the masked sampler's loop; "
                                      f"sampler={sampler!r} does not take it")
    if spec is not None and (frequency_penalty or presence_penalty):
        raise GenerationArgumentError("speculative", "the repetition penalties change the target with every "
                                      "drafted token; speculative decoding does not take them")
    if _logit_bias is not None and (spec is not None or sampler != "masked" or frequency_penalty
                                    or presence_penalty):
        raise GenerationArgumentError("_logit_bias", "a logit bias runs the masked sampler's plain loop only")
    prompts, is_batch = normalize_prompts(prompt_or_messages, batch)
    B = len(prompts)
    constraints = _per_row_constraints(constraint, B, is_batch)
    # every argument is checked before compiling and before any forward pass
    check_sampling(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
                   frequency_penalty=frequency_penalty, presence_penalty=presence_penalty)
    if sampler != "masked":  # weighted particles: decode.sample over an HFTokenLM
        return generate_weighted(model, tokenizer, prompts, constraints, is_batch=is_batch, sampler=sampler,
                                 particles=particles, max_new_tokens=max_new_tokens, temperature=temperature,
                                 seed=seed, json_options=json_options, top_p=top_p, top_k=top_k,
                                 frequency_penalty=frequency_penalty, presence_penalty=presence_penalty,
                                 finish_within_budget=finish_within_budget, stop=stop, proposal=proposal,
                                 ess_threshold=ess_threshold, heal_prompt=heal_prompt,
                                 canonical_tokens=canonical_tokens)
    frequency_penalty, presence_penalty = float(frequency_penalty), float(presence_penalty)
    stops = _Stops(eos=eos_ids(model, tokenizer), max_new_tokens=max_new_tokens, tokenizer=tokenizer,
                   strings=[stop] if isinstance(stop, str) else [s for s in (stop or []) if s],
                   finish_within_budget=finish_within_budget)
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    for i, e in enumerate(encoded):
        check_context(model, len(e), max_new_tokens, row=i if is_batch else None)

    t_compile = time.perf_counter()
    lm = HFCausalLM(model)
    # with a compile due (and a prompt the constraint does not rewrite: healing; nor a
    # speculative step, which sets up around its own prefill), the prefill runs while the
    # constraints compile on a thread; a compile error is raised after the join, before any
    # token, exactly as raised in line (the prefill is then wasted)
    prefilled = None
    if (OVERLAP_COMPILE and spec is None and not heal_prompt
            and _compile_due(constraints, tokenizer, lm.width, json_options, canonical_tokens)):
        def compile_job():
            t = time.perf_counter()
            out = _compile_rows(constraints, tokenizer, lm.width, json_options, is_batch, canonical_tokens)
            return out, time.perf_counter() - t

        t_prefill = time.perf_counter()
        job = _Background(compile_job)
        pad = pad_id(model, tokenizer, stops.eos)
        prefill_error = None
        try:
            with torch.inference_mode():
                prefilled = lm.prefill(*left_pad(encoded, pad))[:, None, :]
        except Exception as e:  # noqa: BLE001 - a compile error, had it come first, wins
            prefill_error = e
        rows, compile_s = job.result()
        if prefill_error is not None:
            raise prefill_error
    else:
        rows = _compile_rows(constraints, tokenizer, lm.width, json_options, is_batch, canonical_tokens)
        if heal_prompt:
            _heal_rows(rows, encoded, tokenizer, lm.width, canonical_tokens)
        compile_s = time.perf_counter() - t_compile

    generator = None
    if seed is not None:
        generator = torch.Generator(device=lm.device).manual_seed(int(seed))
    penalties = (RepetitionPenalties(frequency_penalty, presence_penalty, B)
                 if frequency_penalty or presence_penalty else _logit_bias)
    sampler = MaskedSampler(temperature=temperature, top_k=top_k, top_p=top_p, generator=generator,
                            penalties=penalties)
    pad = pad_id(model, tokenizer, stops.eos)
    input_ids, attn, position_ids = left_pad(encoded, pad)
    # one bitmask buffer for the whole batch; unconstrained rows stay as BatchMask made them
    masks = BatchMask([r.vocab for r in rows], width=lm.width, n_tokenizer=tokenizer_len(tokenizer),
                      device=lm.device)
    if spec is None:
        step = TokenStep(sampler, pad, masks, legal_head=LEGAL_HEAD)
    else:
        step = SpeculativeStep(spec, lm, rows, encoded, masks, temperature=temperature, top_k=top_k,
                               top_p=top_p, seed=seed, eos=stops.eos, pad=pad, max_new_tokens=max_new_tokens)

    # time to first token counts from here, or with an overlapped compile from the prefill's start
    t0 = t_prefill if prefilled is not None else time.perf_counter()
    for i, r in enumerate(rows):
        if r.matcher is not None:
            ts = time.perf_counter()
            masks.fill(i, r.matcher, r.vocab)
            if _close_if_only_eos(i, r, masks):  # e.g. a constraint whose only string is ""
                r.finish("grammar_complete", time.perf_counter())
            r.mask_time += time.perf_counter() - ts
    if finish_within_budget:  # a budget below the shortest instance: the grammar writes it all
        for r in rows:
            if r.matcher is not None and not r.done and close_within_budget(r.matcher, r.vocab, r.token_ids,
                                                                            max_new_tokens):
                r.finish("budget", time.perf_counter())

    t_first = None
    steps = 0
    head = getattr(step, "head", None) if (spec is not None or LEGAL_HEAD) else None
    with torch.inference_mode():
        if not all(r.done for r in rows):
            drafts = step.prefill_draft(rows) if (spec is not None and prefilled is None and PREFILL_DRAFT) else None
            if prefilled is not None:
                logits = prefilled
            elif drafts:  # the prefill pass verifies the first tokens' draft too
                d = len(drafts[0])
                input_ids = torch.cat([input_ids, torch.tensor(drafts, dtype=torch.long)], dim=1)
                attn = torch.cat([attn, attn.new_ones((B, d))], dim=1)
                position_ids = torch.cat([position_ids, position_ids[:, -1:] + 1 + torch.arange(d)], dim=1)
                logits = lm.prefill(input_ids, attn, position_ids, keep=d + 1)
            else:
                logits = lm.prefill(input_ids, attn, position_ids)[:, None, :]
            _count_pass(rows)
        while not all(r.done for r in rows):
            active = [i for i, r in enumerate(rows) if not r.done]
            emitted = step.emit(logits, rows, active, masks)
            steps += 1
            now = time.perf_counter()
            if t_first is None:
                t_first = now
            for i in active:
                for t in emitted[i]:
                    _accept(i, rows[i], t, masks, stops, now)
                    if rows[i].done:
                        break
            if all(r.done for r in rows):
                break
            ids, valid = step.feed(rows, [i for i in active if not rows[i].done])
            parents = getattr(step, "tree_parents", None)  # a tree draft's attention structure
            logits = (lm.forward(ids, valid, head=head) if parents is None
                      else lm.forward(ids, valid, head=head, parents=parents))
            _count_pass(rows)
    t_end = time.perf_counter()
    if spec is not None and spec.history is not None:  # later calls may draft from these outputs
        for r in rows:
            spec.history.add(r.token_ids)

    results = [_result(r, tokenizer, t0=t0, t_first=t_first, t_end=t_end, compile_s=compile_s, steps=steps,
                       stats=step.row_stats(i))
               for i, r in enumerate(rows)]
    return results if is_batch else results[0]


def generate_object(model, tokenizer, prompt, model_cls, *, strict: bool = True,
                    return_result: bool = False, json_options: dict | None = None, **kw):
    """Generate an instance of the Pydantic ``model_cls`` (validated with model_validate_json).

    The schema is compiled with ``GENERATION_JSON_OPTIONS`` (``json_options`` replaces some).
    ``strict=True`` compiles the schema without undeclared properties: Pydantic ignores extra
    keys anyway, so letting the model write them only wastes tokens.  Raises GenerationError
    (with ``.partial_text``) if the output did not finish within max_new_tokens or fails
    validation (e.g. a validator the schema cannot express).  ``return_result=True`` returns
    ``(instance, GenerationResult)`` for the text and timings.  ``finish_within_budget``
    defaults to True here (``generate`` leaves it off): a caller asking for an instance wants
    one, so when the tokens left only just cover the shortest completion, it is appended
    (``stop_reason="budget"``) rather than the call failing; pass False to get the error.
    """
    if not is_pydantic_class(model_cls):
        raise GenerationArgumentError("model_cls", f"generate_object needs a Pydantic model class, got {model_cls!r}")
    if not (isinstance(prompt, str) or is_messages(prompt)):
        raise GenerationArgumentError("prompt", "generate_object takes a single prompt (str or chat messages)")
    t0 = time.perf_counter()
    vocab = get_vocabulary(tokenizer, logits_width(model))
    compiled = as_compiled(model_cls, vocab, **generation_json_options(json_options, strict=strict))
    compile_s = time.perf_counter() - t0
    kw.setdefault("finish_within_budget", True)
    res = generate(model, tokenizer, prompt, compiled, **kw)
    res.timings["compile_s"] = compile_s
    if not res.finished:
        raise GenerationError(
            f"output did not complete within max_new_tokens={kw.get('max_new_tokens', 256)} "
            f"({res.timings['n_tokens']} tokens)", partial_text=res.text, result=res,
        )
    try:
        obj = model_cls.model_validate_json(res.text)
    except Exception as e:  # pydantic.ValidationError, or JSON the schema allowed but pydantic rejects
        raise GenerationError(f"output failed {model_cls.__name__} validation: {e}",
                              partial_text=res.text, result=res) from e
    return (obj, res) if return_result else obj
