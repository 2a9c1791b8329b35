"""Continuous batching: one thread owns the model; requests join the running batch at the next
step and leave when they finish, each with its own constraint and sampling parameters.

Why a thread and not a loop per request: a decoding step costs about the same for one row as
for several (the weights are read once per step), so rows that decode together finish sooner
than rows that take turns.  A request that arrives while others run does not wait for them:
the next step prefills it alone (batch 1, so its prompt sees exactly the logits it would
alone), writes its KV into a free slot of :class:`~decode.serve.kv.SlotKV` and samples its
first token with the batch.

Each row follows the reference loop's rules (:mod:`decode.loop`: the matcher sees every
token before the next mask, EOS only where the constraint accepts, ``grammar_complete``,
``finish_within_budget``, stop strings), with its own temperature, top-p, top-k, seed,
penalties and token budget.  Greedy rows are sampled together (one masked argmax); a row that
samples draws with its own generator, so a seeded request gives the same tokens as
``decode.generate(..., seed=...)`` on the same logits.

A row may decode speculatively (``SamplingParams.speculative``): it is the loop's
:class:`~decode.speculative.SpeculativeStep` over a batch of that one row, whose chunk (the
tokens committed since its last pass, then a draft of grammar-legal guesses) rides in the
batch's pass beside the other rows' chunks, shorter chunks padded and masked out; the step
verifies the row's drafts with the same law as the non-speculative path and the row's
rejected drafts leave its KV slot (:meth:`SlotKV.retract`).  The tokens a pass commits are
accepted one by one, so a stop string or ``max_tokens`` inside an accepted draft ends the row
exactly where the plain path would, and each is streamed as it is accepted.  With
``speculative_disable_batch`` N, a pass of N rows or more drafts for none of them (vLLM's
``speculative_disable_by_batch_size``): on a CPU a pass of several rows is already
compute-bound, and padding every row to the longest draft costs more than drafts save (session
14: 1.21x tokens per server CPU second at one client, 0.95x at four).  A speculative row with a
``SuffixStore`` (``Speculation.history``) adds its output to it when it finishes, so the
requests that come later draft from it.

Under constraints the output layer of a pass is computed only where it is read and only for the
ids that can be read there (``legal_head``, :mod:`decode.legal_head`, as the reference loop):
a plain row reads its chunk's last position, a speculative row its verified positions, each
under the mask known before the pass; inside keys, numbers and punctuation those masks allow a
few hundred of SmolLM2's 49,152 ids, and the layer is about a fifth of a one-token pass.

Failures stay with their row: a matcher error (a mask over its budget) ends that request with
the error, a model error ends the rows of that step; the thread itself keeps running.
"""

from __future__ import annotations

import codecs
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..checks import check_context, check_sampling, check_vocabulary, tokenizer_len
from ..constraints import get_vocabulary
from ..kernels import masked_sample
from ..legal_head import legal_logits_at
from ..lm import _accepts_kw, _out_cache, logits_width, model_device, split_head
from ..loop import _accept, _close_if_only_eos, _Row, _Stops
from ..masks import BatchMask
from ..prompts import eos_ids
from ..result import GenerationArgumentError
from ..samplers import RepetitionPenalties, close_within_budget
from ..speculative import Speculation, SpeculativeStep
from ..speculative.step import pad_chunks
from .kv import SlotKV, check_cache_layers

__all__ = ["Engine", "RequestHandle", "RowResult", "SamplingParams"]


@dataclass(frozen=True)
class SamplingParams:
    """One row's sampling: ``temperature`` 0 is greedy; ``stop`` strings cut the text before them;
    ``finish_within_budget`` lets the grammar write the end of a constrained output."""

    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    finish_within_budget: bool = False
    speculative: Speculation | None = None

    def check(self) -> None:
        """:class:`GenerationArgumentError` naming the parameter that is out of range."""
        check_sampling(max_new_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p,
                       top_k=self.top_k, frequency_penalty=self.frequency_penalty,
                       presence_penalty=self.presence_penalty)
        check_speculation(self.speculative, self.frequency_penalty or self.presence_penalty)


def check_speculation(spec, penalties) -> None:
    """What a served row's speculative decoding takes: a :class:`Speculation` with linear drafts
    (no ``siblings``: a tree's 4D attention mask is not written into the batch's slot mask) and
    no ``draft_model`` (its own KV cache would need slots of its own), without penalties (they
    change the target with every drafted token, as in ``decode.generate``); a ``history``
    store is shared by every request that carries it."""
    if spec is None:
        return
    if not isinstance(spec, Speculation):
        raise GenerationArgumentError("speculative", f"must be a decode.Speculation or None, got {spec!r}")
    if spec.siblings or spec.draft_model is not None:
        raise GenerationArgumentError("speculative", "the server drafts linear chains without a draft model "
                                      "(siblings=0, draft_model=None)")
    if penalties:
        raise GenerationArgumentError("speculative", "the repetition penalties change the target with every "
                                      "drafted token; speculative decoding does not take them")


@dataclass
class RowResult:
    """What a finished row produced.  ``finish_reason``: ``"stop"`` (EOS, grammar complete, budget
    completion or a stop string), ``"length"`` (``max_tokens`` ran out), ``"error"`` (``error``
    says why) or ``"cancelled"``; ``stop_reason`` is ``decode.generate``'s finer reason.
    ``stats``: a speculative row's ``SpeculativeStep.row_stats`` (``drafted``, ``accepted``,
    ``forced``, per source), empty otherwise."""

    text: str
    token_ids: list[int]
    finish_reason: str
    stop_reason: str
    prompt_tokens: int
    error: BaseException | None = None
    timings: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)


class RequestHandle:
    """A submitted row: stream its text deltas, wait for its :class:`RowResult`, or cancel it.

    ``on_event(kind, payload)`` (given to :meth:`Engine.submit`) is called from the engine
    thread: ``("delta", text)`` for each new piece of text, then ``("done", RowResult)``; it
    must not block (a server hands the event to its event loop).
    """

    _ids = itertools.count()

    def __init__(self, prompt_ids: list[int], compiled, params: SamplingParams,
                 on_event: Callable[[str, Any], None] | None):
        self.id = next(self._ids)
        self.prompt_ids = list(prompt_ids)
        self.compiled = compiled
        self.params = params
        self.on_event = on_event
        self.cancelled = False
        self.result_value: RowResult | None = None
        self._done = threading.Event()
        self.t_submit = time.perf_counter()
        self.t_first: float | None = None
        self.t_admit: float | None = None

    def cancel(self) -> None:
        """Leave the batch at the next step (a client that went away)."""
        self.cancelled = True

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> RowResult:
        """Wait for the row to finish; ``TimeoutError`` past ``timeout`` seconds."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"request {self.id} did not finish within {timeout} s")
        return self.result_value

    def _emit(self, kind: str, payload) -> None:
        if self.on_event is not None:
            try:
                self.on_event(kind, payload)
            except Exception:  # noqa: BLE001 - a consumer's failure must not stop the engine
                self.cancelled = True

    def _finish(self, result: RowResult) -> None:
        self.result_value = result
        self._done.set()
        self._emit("done", result)


class _OneRow:
    """The batch mask as a one-row ``SpeculativeStep`` sees it: its row's mask at index 0."""

    __slots__ = ("array", "n_words")

    def __init__(self, masks: BatchMask, slot: int):
        self.array = masks.array[slot:slot + 1]
        self.n_words = masks.n_words


class _RowLM:
    """What a one-row ``SpeculativeStep`` asks of its model: the logits width, and
    ``retract`` (its rejected drafts), recorded here for the engine to apply to the row's slot."""

    def __init__(self, width: int):
        self.width = width
        self.rejected = 0

    def retract(self, counts) -> None:
        self.rejected = int(counts[0])

    def forget(self, columns, k: int) -> None:  # pragma: no cover - check_speculation refuses trees
        raise NotImplementedError("tree drafts are not served")


class _Live:
    """A running row: the loop's :class:`_Row` plus what the engine keeps per row."""

    def __init__(self, handle: RequestHandle, row: _Row, stops: _Stops, sampler_key, generator, penalties):
        self.handle = handle
        self.spec: SpeculativeStep | None = None  # a speculative row's step (over this row alone)
        self.lm: _RowLM | None = None
        self.row = row
        self.stops = stops
        self.greedy = sampler_key is None
        self.generator = generator
        self.penalties = penalties
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.n_fed = 0  # tokens of row.token_ids already turned into text
        self.text = ""  # the text decoded so far
        self.sent = 0  # characters of ``text`` already streamed
        self.hold = max((len(s) for s in stops.strings), default=1) - 1  # a stop string may still cut these
        self.error: BaseException | None = None  # what ended the row, when something failed


class Engine:
    """The continuous-batching decoder of one model; :meth:`submit` from any thread.

    ``max_batch``: rows decoded together at most (the rest wait in arrival order).
    ``speculative_disable_batch``: a pass of at least this many rows drafts for none (its
    speculative rows feed their committed tokens only; None: always draft).
    ``legal_head``: a pass computes the output layer only for the ids its rows can read where
    their masks allow few (the module docstring); off, every logit (the same tokens).
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, model, tokenizer, *, max_batch: int = 8, speculative_disable_batch: int | None = None,
                 legal_head: bool = True):
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise GenerationArgumentError("max_batch", f"must be an integer >= 1, got {max_batch!r}")
        n = speculative_disable_batch
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise GenerationArgumentError("speculative_disable_batch", f"must be an integer >= 1 or None, got {n!r}")
        self.speculative_disable_batch = n
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch = max_batch
        self.device = model_device(model)
        self.width = logits_width(model)
        self.vocab = get_vocabulary(tokenizer, self.width)
        self.eos = eos_ids(model, tokenizer)
        self._prefill_kw = {"logits_to_keep": 1} if _accepts_kw(model, "logits_to_keep") else {}
        self._cache_kw = "cache" if _accepts_kw(model, "cache") else "past_key_values"
        # a pass of several tokens per row computes the output layer at the rows' real positions
        # only (not at the padding of shorter chunks), where the logits are a plain hidden @ W.T
        self._split = split_head(model)
        self.legal_head = bool(legal_head) and self._split is not None
        if self._split is not None:
            self._dec_cache_kw = "cache" if _accepts_kw(self._split[0], "cache") else "past_key_values"
        self.masks = BatchMask([self.vocab] * max_batch, width=self.width, n_tokenizer=tokenizer_len(tokenizer),
                               device=self.device)
        self._free_mask = self.masks.array[0].copy()  # an unconstrained row's mask
        self.kv = SlotKV(max_batch, self.device)
        self.live: list[_Live] = []  # by slot
        #: by slot, the logits ``[k, V]`` of the row's chunk in the last pass (the last one: the
        #: next token's; a speculative row reads them all)
        self.logits: list[torch.Tensor] = []
        self._pending: deque[RequestHandle] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.stats = {"steps": 0, "prefills": 0, "rows_done": 0, "errors": 0, "max_rows": 0, "row_steps": 0,
                      "speculative_rows": 0, "draft_tokens": 0, "accepted_tokens": 0, "forced_tokens": 0,
                      "undrafted_passes": 0, "narrow_passes": 0}
        self._checked_cache = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "Engine":
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="structgen-engine", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread after the current step; rows still waiting or running end ``cancelled``."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> "Engine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def load(self) -> dict:
        """Rows running and waiting (for ``/health``)."""
        return {"running": len(self.live), "waiting": len(self._pending), "max_batch": self.max_batch}

    # ------------------------------------------------------------------ submitting

    def check(self, prompt_ids: Sequence[int], compiled, params: SamplingParams) -> None:
        """The checks :meth:`submit` runs, on their own (a server answers 400 before queueing)."""
        params.check()
        if not prompt_ids:
            raise GenerationArgumentError("prompt", "the prompt encodes to zero tokens")
        check_context(self.model, len(prompt_ids), params.max_tokens)
        if compiled is not None:
            check_vocabulary(compiled.vocab, width=self.width, tokenizer=self.tokenizer)

    def submit(self, prompt_ids: Sequence[int], compiled=None, params: SamplingParams | None = None, *,
               on_event: Callable[[str, Any], None] | None = None) -> RequestHandle:
        """Queue one row (``compiled``: a ``constrain`` Compiled for this model, or None);
        it joins the batch at the next step with a free slot.  Raises on bad arguments."""
        params = params or SamplingParams()
        self.check(prompt_ids, compiled, params)
        handle = RequestHandle(list(prompt_ids), compiled, params, on_event)
        with self._cond:
            if self._stop:
                raise RuntimeError("the engine is stopped")
            self._pending.append(handle)
            self._cond.notify_all()
        return handle

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        with torch.inference_mode():  # the batch's tensors are updated in place between passes
            self._loop()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._pending and not self.live:
                    self._cond.wait()
                if self._stop:
                    break
            try:
                self._admit()
                if self.live:
                    self._step()
            except Exception as e:  # noqa: BLE001 - a model failure ends the running rows, not the thread
                self._fail_all(e)
        for lv in list(self.live):
            self._end(lv, "cancelled", None)
        self.live.clear()
        while self._pending:
            h = self._pending.popleft()
            h._finish(RowResult("", [], "cancelled", "cancelled", len(h.prompt_ids)))

    def _fail_all(self, err: BaseException) -> None:
        self.stats["errors"] += 1
        for lv in list(self.live):
            self._end(lv, "error", err)
        self.live.clear()
        self.kv = SlotKV(self.max_batch, self.device)
        self.logits = []

    def _admit(self) -> None:
        """Prefill waiting requests into free slots (each alone: batch 1, no padding)."""
        while len(self.live) < self.max_batch:
            with self._cond:
                if not self._pending:
                    return
                h = self._pending.popleft()
            if h.cancelled:
                h._finish(RowResult("", [], "cancelled", "cancelled", len(h.prompt_ids)))
                continue
            try:
                self._prefill(h)
            except Exception as e:  # noqa: BLE001 - this request fails, the others go on
                self.stats["errors"] += 1
                h._finish(RowResult("", [], "error", "error", len(h.prompt_ids), error=e))

    def _prefill(self, h: RequestHandle) -> None:
        p = h.params
        h.t_admit = time.perf_counter()
        compiled = h.compiled
        row = _Row(compiled=compiled, kind=getattr(compiled, "kind", None) if compiled is not None else None)
        row.vocab = self.vocab if compiled is None else compiled.vocab
        if compiled is not None:
            row.matcher = compiled.matcher()
        stops = _Stops(eos=self.eos, strings=[s for s in p.stop if s], max_new_tokens=p.max_tokens,
                       finish_within_budget=p.finish_within_budget, tokenizer=self.tokenizer)
        slot = len(self.live)
        now = time.perf_counter()
        # the row's mask, and the two ways a row can end before its first token
        if row.matcher is not None:
            self.masks.fill(slot, row.matcher, row.vocab)
            if _close_if_only_eos(slot, row, self.masks):
                row.finish("grammar_complete", now)
            elif p.finish_within_budget and close_within_budget(row.matcher, row.vocab, row.token_ids, p.max_tokens):
                row.finish("budget", now)
        else:
            self.masks.array[slot] = self._free_mask
        generator = None
        if p.temperature > 0:
            generator = torch.Generator(device=self.device)
            if p.seed is None:
                generator.seed()
            else:
                generator.manual_seed(int(p.seed))
        penalties = (RepetitionPenalties(p.frequency_penalty, p.presence_penalty, 1)
                     if p.frequency_penalty or p.presence_penalty else None)
        lv = _Live(h, row, stops, None if p.temperature == 0 else (p.temperature, p.top_k, p.top_p),
                   generator, penalties)
        if p.speculative is not None and not row.done:
            # the verifier's coins: the request's seed, else a fresh one (never torch's global generator)
            seed = int(p.seed) if p.seed is not None else int(torch.randint(0, 2 ** 62, (1,)))
            lv.lm = _RowLM(self.width)
            lv.spec = SpeculativeStep(p.speculative, lv.lm, [row], [h.prompt_ids], _OneRow(self.masks, slot),
                                      temperature=p.temperature, top_k=p.top_k, top_p=p.top_p, seed=seed,
                                      eos=self.eos, pad=0, max_new_tokens=p.max_tokens)
            self.stats["speculative_rows"] += 1
        if row.done:
            self._stream(lv)
            return self._end(lv, None, None)
        ids = torch.tensor([h.prompt_ids], dtype=torch.long, device=self.device)
        L = ids.shape[1]
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=torch.ones_like(ids),
                             position_ids=torch.arange(L, device=self.device)[None], use_cache=True,
                             **self._prefill_kw)
        cache = _out_cache(out)
        if not self._checked_cache:
            check_cache_layers(cache)
            self._checked_cache = True
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        got = self.kv.insert(layers, L, L)
        assert got == slot, (got, slot)
        self.logits.append(out.logits[0, -1:, :])
        self.live.append(lv)
        row.passes += 1
        self.stats["prefills"] += 1

    def _sample(self, plain: list[int]) -> dict[int, int]:
        """One token per plain (non-speculative) running row ``plain``: greedy rows in one masked
        argmax, the others each with their own generator (and penalties)."""
        if not plain:
            return {}
        n = len(self.live)
        if len(plain) == n and all(x.shape[0] == 1 for x in self.logits):
            logits = torch.cat(self.logits)  # [n, V]: every row's next-token logits
        else:
            like = self.logits[plain[0]]
            logits = like.new_zeros((n, like.shape[-1]))
            for i in plain:
                logits[i] = self.logits[i][-1]
        masks = self.masks.tensor[:n].to(logits.device, non_blocking=True)
        toks: dict[int, int] = {}
        greedy = [i for i in plain if self.live[i].greedy and self.live[i].penalties is None]
        if greedy:
            if len(greedy) == n:
                g = masked_sample(logits, masks, 0.0)
            else:
                idx = torch.tensor(greedy, dtype=torch.long, device=logits.device)
                g = masked_sample(logits.index_select(0, idx), masks.index_select(0, idx), 0.0)
            for i, t in zip(greedy, g.tolist()):
                toks[i] = t
        for i in plain:
            lv = self.live[i]
            if lv.greedy and lv.penalties is None:
                continue
            x = logits[i:i + 1]
            if lv.penalties is not None:
                x = lv.penalties.apply(x, [0])
            p = lv.handle.params
            t = int(masked_sample(x, masks[i:i + 1], p.temperature, p.top_k, p.top_p, lv.generator)[0])
            if lv.penalties is not None:
                lv.penalties.observe([0], [t])
            toks[i] = t
        return toks

    def _emit(self, i: int, lv: _Live, toks: dict[int, int]) -> list[int]:
        """The tokens row ``i`` commits this step: its sampled token, or a speculative row's
        kept drafts, target token and forced tail (its rejected drafts noted in ``lv.lm``)."""
        if lv.spec is None:
            return [toks[i]]
        lv.lm.rejected = 0
        return lv.spec.emit(self.logits[i][None], [lv.row], [0], _OneRow(self.masks, i))[0]

    def _step(self) -> None:
        """Every running row commits its next token(s) (sampled, or a speculative row's verified
        draft), each accepted in turn (matcher, stops, streaming); the rows that stop leave,
        then one forward pass of the others' chunks."""
        self.stats["steps"] += 1
        self.stats["max_rows"] = max(self.stats["max_rows"], len(self.live))
        self.stats["row_steps"] += len(self.live)
        toks = self._sample([i for i, lv in enumerate(self.live) if lv.spec is None])
        now = time.perf_counter()
        rejected = [0] * len(self.live)
        for i, lv in enumerate(self.live):
            if lv.handle.t_first is None:
                lv.handle.t_first = now
            try:
                emitted = self._emit(i, lv, toks)
                if lv.lm is not None:
                    rejected[i] = lv.lm.rejected
                for t in emitted:  # one by one: a stop or the budget inside a draft ends the row there
                    _accept(i, lv.row, t, self.masks, lv.stops, now)
                    self._stream(lv)
                    if lv.row.done:
                        break
            except Exception as e:  # noqa: BLE001 - e.g. a mask over its compile budget
                lv.row.finish("error", now)
                lv.error = e
        if any(lv.spec is not None for lv in self.live):
            self.kv.retract(rejected)  # before rows leave: slots are still this step's
        # rows leave: from the highest slot down, so each removal moves only rows already kept
        for i in range(len(self.live) - 1, -1, -1):
            lv = self.live[i]
            if lv.row.done or lv.handle.cancelled:
                self._leave(i)
        if not self.live:
            return
        draft = self.speculative_disable_batch is None or len(self.live) < self.speculative_disable_batch
        if not draft and any(lv.spec is not None for lv in self.live):
            self.stats["undrafted_passes"] += 1
        self._forward([self._chunk(lv, draft) for lv in self.live], draft)

    def _chunk(self, lv: _Live, draft: bool = True) -> list[int]:
        """The tokens a row feeds in the next pass: its last token, or a speculative row's
        committed tokens not yet in its cache followed by its draft (``draft``: none)."""
        if lv.spec is None:
            return [lv.row.token_ids[-1]]
        ids, valid = lv.spec.feed([lv.row], [0], draft)
        return (ids[0] if valid is None else ids[0][valid[0]]).tolist()

    def _forward(self, chunks: list[list[int]], draft: bool = True) -> None:
        """One pass over every running row's chunk (shorter ones padded at the end, masked out;
        widened to a speculative row's ``min_pass`` only where rows draft)."""
        n = len(chunks)
        min_pass = max((lv.spec.spec.min_pass for lv in self.live if lv.spec is not None and draft), default=1)
        ids, valid = pad_chunks(dict(enumerate(chunks)), n, min_pass)
        k = ids.shape[1]
        ids = ids.to(self.device)
        if k == 1:  # one token per row, none padded
            valid = None
        cache, attn, pos = self.kv.prepare_step(k, valid)
        with torch.inference_mode():
            if self._split is not None and (valid is not None or self.legal_head):
                dec, weight = self._split
                out = dec(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True,
                          **{self._dec_cache_kw: cache})
                hidden = out.last_hidden_state
                narrow = legal_logits_at(hidden, weight, *self._read_at(chunks)) if self.legal_head else None
                if narrow is not None:
                    self.stats["narrow_passes"] += 1
                    self.logits = [narrow[i, :len(c)] for i, c in enumerate(chunks)]
                elif valid is not None:
                    real = torch.nn.functional.linear(hidden[valid.to(ids.device)], weight)
                    self.logits = list(torch.split(real, [len(c) for c in chunks]))
                else:
                    full = torch.nn.functional.linear(hidden, weight)
                    self.logits = [full[i, :len(c)] for i, c in enumerate(chunks)]
            else:
                out = self.model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True,
                                 **{self._cache_kw: cache})
                assert out.logits.shape[0] == n
                self.logits = [out.logits[i, :len(c)] for i, c in enumerate(chunks)]
        self.kv.commit_step(k, valid)
        for lv in self.live:
            lv.row.passes += 1

    def _read_at(self, chunks: list[list[int]]) -> tuple[list[int], list[int], np.ndarray]:
        """The positions the next pass's logits are read at, with the mask of each (the rows,
        columns and masks ``legal_logits_at`` takes): a plain row's last fed token, under its
        next mask; a speculative row's verified positions, under its step's masks."""
        rows: list[int] = []
        cols: list[int] = []
        masks: list[np.ndarray] = []
        for i, (lv, c) in enumerate(zip(self.live, chunks)):
            at = lv.spec.read_at if lv.spec is not None else None
            if at is None:
                rows.append(i)
                cols.append(len(c) - 1)
                masks.append(self.masks.array[i:i + 1])
            else:
                rows += [i] * len(at[0])
                cols += list(at[1])
                masks.append(at[2])
        return rows, cols, np.concatenate(masks)

    def _leave(self, i: int) -> None:
        lv = self.live[i]
        moved = self.kv.remove(i)
        if moved is not None:  # the last slot's row now sits at i
            self.live[i] = self.live[moved]
            self.masks.array[i] = self.masks.array[moved]
            self.logits[i] = self.logits[moved]
        self.live.pop()
        del self.logits[len(self.live):]
        if lv.handle.cancelled and not lv.row.done:
            return self._end(lv, "cancelled", None)
        self._end(lv, None, lv.error)

    def _stream(self, lv: _Live) -> None:
        """Send the row's new text, holding back what a stop string may still cut."""
        r = lv.row
        tb = r.vocab.token_bytes
        if len(r.token_ids) > lv.n_fed:
            data = b"".join(tb[t] or b"" for t in r.token_ids[lv.n_fed:])
            lv.n_fed = len(r.token_ids)
            lv.text += lv.decoder.decode(data)
        if r.done:
            return  # the final text is sent by _end
        upto = len(lv.text) - lv.hold if lv.stops.strings else len(lv.text)
        if upto > lv.sent:
            lv.handle._emit("delta", lv.text[lv.sent:upto])
            lv.sent = upto

    def _end(self, lv: _Live, reason: str | None, error) -> None:
        r, h = lv.row, lv.handle
        self.stats["rows_done"] += 1
        if reason is None:
            reason = "error" if error is not None else None
        if reason is None:
            text = r.text_override if r.text_override is not None else lv.text + lv.decoder.decode(b"", final=True)
            finish = "length" if r.reason == "max_new_tokens" else "stop"
            stop_reason = r.reason
        else:
            text, finish, stop_reason = lv.text, reason, reason
        if finish in ("stop", "length") and len(text) > lv.sent:
            h._emit("delta", text[lv.sent:])
            lv.sent = len(text)
        t_end = time.perf_counter()
        timings = {"queue_s": (h.t_admit or t_end) - h.t_submit, "total_s": t_end - h.t_submit,
                   "time_to_first_token_s": (h.t_first - h.t_submit) if h.t_first else None,
                   "forward_calls": r.passes, "mask_time_s": r.mask_time}
        stats = {}
        if lv.spec is not None:
            history = lv.spec.spec.history
            if history is not None and finish in ("stop", "length"):  # later requests draft from it
                history.add(r.token_ids)
            stats = lv.spec.row_stats(0)
            for key in ("drafted", "accepted", "forced"):
                self.stats[("draft" if key == "drafted" else key) + "_tokens"] += stats[key]
        h._finish(RowResult(text=text, token_ids=list(r.token_ids), finish_reason=finish, stop_reason=stop_reason,
                            prompt_tokens=len(h.prompt_ids), error=error, timings=timings, stats=stats))
