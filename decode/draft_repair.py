"""``decode.repair``: rewrite a draft (from a model we cannot constrain) into a valid output.

(The module is ``draft_repair``: a submodule named ``repair`` would shadow the function.)

Why (sketch-guided constrained decoding): a strong black-box model (an API, no logits) writes
a draft that is nearly right (a dropped quote, a trailing comma, a number in quotes, prose
around the JSON); a small local model decoding under the constraint rewrites it.  The output
is valid by construction (the constraint's mask, and ``finish_within_budget`` so it always
closes); the work is to stay close to the draft.  Two things keep it close:

- the local model is conditioned on the draft (it is in the prompt), and
- ``method="sketch"``: the draft is a copy source.  An alignment of the output so far against
  the draft (edit distance, free leading deletions so prose before the JSON costs nothing) is
  kept one output byte at a time, vectorized over the draft; the tokens that spell the draft
  from the best-aligned positions (found by a trie walk along the draft, no loop over the
  vocabulary) get ``copy_bonus`` added to their logits before the mask.  Where copying is
  legal the output copies; where the grammar forbids it (the draft's error), the model picks
  among legal tokens and the alignment re-synchronizes after it.

``method="prompt"`` is the same without the copy bonus (the draft only in the prompt).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .constraints import as_compiled, constraint_kind, generation_json_options, get_vocabulary
from .lm import logits_width
from .result import GenerationArgumentError, GenerationError, GenerationResult

__all__ = ["DraftCopy", "RepairResult", "edit_distance", "repair"]

METHODS = ("sketch", "prompt")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (characters), one numpy row per char of ``a``."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    bb = np.array([ord(c) for c in b], dtype=np.int64)
    idx = np.arange(len(b) + 1, dtype=np.int64)
    row = idx.copy()
    for i, c in enumerate(a, 1):
        tmp = np.empty_like(row)
        tmp[0] = i
        tmp[1:] = np.minimum(row[1:] + 1, row[:-1] + (bb != ord(c)))
        row = idx + np.minimum.accumulate(tmp - idx)
    return int(row[-1])


class DraftCopy:
    """The copy bonus of ``method="sketch"``: a logit bias in the sampler's penalties slot.

    ``row[j]`` is the least edit distance between the output so far and some substring of the
    draft that ends at byte ``j`` (a semi-global alignment: the substring may start anywhere,
    so skipping leading prose is free).  After each output byte the row is updated with three
    vectorized operations (match/substitute, insert, and a prefix minimum for deletions).
    Positions within ``slack`` of the row's minimum are aligned; the tokens whose bytes equal
    the draft from an aligned position on get ``bonus`` (halved per edit above the minimum, so
    skipping a junk byte of the draft is a weaker copy, and so is one from an alignment whose
    last step matched no draft byte); EOS too where the draft is used up.
    With a ``matcher`` (the constraint's, advanced here by the tokens observed), a copy gets
    the bonus only if the constraint also allows the draft's next ``lookahead`` bytes after it,
    possibly past ``skip`` junk bytes: where another copy does, a copy that walks into the
    draft's error (the comma before ``]``) gets the bonus *subtracted* (the model would
    otherwise take the draft's canonical token ``",`` over ``"`` alone), and the copy that
    skips the error gets it.  Where the draft is used up, the tokens that start the
    constraint's shortest completion get the bonus (close the object, do not invent more).
    Where no copy from the best alignment is legal and the draft needs bytes added (a key
    whose quotes were dropped), *insertion moves* get the bonus halved per inserted byte: the
    tokens that spell the inserted bytes and then resume copying the draft (``"name`` after
    ``{`` for the draft ``{name:``; see :meth:`_insertions`).
    ``copied`` counts the output tokens that took the bonus.
    """

    def __init__(self, vocab, draft: bytes, bonus: float, *, matcher=None, lookahead: int = 1, skip: int = 2,
                 slack: int = 1, max_positions: int = 16, insert: bool = True, max_insert: int = 2):
        self.vocab = vocab
        self.insert = insert
        self.max_insert = max_insert
        self.matcher = matcher
        self.lookahead = lookahead
        self.skip = skip
        self.draft = draft
        self.d = np.frombuffer(draft, dtype=np.uint8).astype(np.int16)
        self.idx = np.arange(len(draft) + 1, dtype=np.int64)
        self.row = np.zeros(len(draft) + 1, dtype=np.int64)
        self.bonus = float(bonus)
        self.slack = slack
        self.max_positions = max_positions
        self.eos = [int(e) for e in vocab.eos_ids]
        self.copied = 0
        self.last: int | None = None  # the output's last byte
        self._candidates: tuple[np.ndarray, np.ndarray] | None = None

    def _feed(self, data: bytes) -> None:
        row, idx = self.row, self.idx
        for c in data:
            self.last = c
            tmp = np.empty_like(row)
            tmp[0] = row[0] + 1
            tmp[1:] = np.minimum(row[1:] + 1, row[:-1] + (self.d != c))
            row = idx + np.minimum.accumulate(tmp - idx)
        self.row = row
        self._candidates = None

    def positions(self) -> np.ndarray:
        """Draft byte offsets the output is aligned to, best first (ties by offset), at most
        ``max_positions``: the best alignments, and those within ``slack`` of them that lie
        ahead of every best one (skipping draft bytes; never back, which would copy again
        what the output already holds)."""
        best = self.row.min()
        js = np.flatnonzero(self.row <= best + self.slack)
        on_best = self.row[js] == best
        js = js[on_best | (js > js[on_best].max())]
        js = js[np.argsort(self.row[js], kind="stable")]
        return js[: self.max_positions]

    def candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, bonus)``: the tokens that continue the draft from an aligned position (EOS
        at its end) and the bonus of each, ``bonus`` at the best alignment, halved per extra edit,
        negative for a copy that leads into an error."""
        if self._candidates is not None:
            return self._candidates
        v, draft, n = self.vocab, self.draft, len(self.draft)
        best = int(self.row.min())
        good: dict[int, float] = {}  # copies after which the draft goes on legally
        stuck: dict[int, tuple[float, int]] = {}  # legal copies after which it does not, and where
        good_at: set[int] = set()  # draft offsets where a good copy starts
        for j in self.positions().tolist():
            cost = int(self.row[j]) - best
            if cost == 0 and self.last is not None and j < n and (j == 0 or self.d[j - 1] != self.last):
                cost = 1  # a best alignment whose last step matched nothing ranks as one edit more
            b = self.bonus * 0.5 ** cost
            if j == n:  # the draft is used up: end, or close the output the shortest way
                if self.matcher is None or self.matcher.is_accepting():
                    for e in self.eos:
                        good[e] = max(good.get(e, 0.0), b)
                elif (tail := self.matcher.shortest_completion()):
                    node = 0
                    for c in tail[: v.max_token_len]:
                        node = v.child(node, c)
                        if node < 0:
                            break
                        for t in v.node_tokens(node).tolist():
                            good[t] = max(good.get(t, 0.0), b)
                continue
            node = 0
            for k, c in enumerate(draft[j: j + v.max_token_len], j + 1):
                node = v.child(node, c)
                if node < 0:
                    break
                for t in v.node_tokens(node).tolist():
                    verdict = True if self.matcher is None else self._leads_on(t, k)
                    if verdict:
                        good[t] = max(good.get(t, 0.0), b)
                        good_at.add(j)
                    elif verdict is False and stuck.get(t, (-1.0, 0))[0] < b:
                        stuck[t] = (b, j)
        if self.matcher is not None and self.insert:
            self._insertions(good, good_at, best)
        # a copy into the draft's error is steered away from only where a copy at the same
        # offset, or just past it, avoids the error (``"`` rather than ``",`` before ``]``, or
        # ``]`` rather than ``,``); where none does (``5`` before the space of ``555 1234``
        # under ``[0-9]{3}-[0-9]{4}``, ``{`` before an unquoted key) it is still the best
        # guess, and copied
        got = dict(good)
        for t, (b, j) in stuck.items():
            if t not in got:
                got[t] = -b if any(j + d in good_at for d in range(self.skip + 1)) else b
        ids = np.fromiter(got.keys(), dtype=np.int64, count=len(got))
        bon = np.fromiter(got.values(), dtype=np.float32, count=len(got))
        self._candidates = (ids, bon)
        return self._candidates

    def _insertions(self, good: dict[int, float], good_at: set[int], best: int) -> None:
        """Insertion moves, added to ``good``: at a best-aligned offset ``j`` where no copy is
        legal (the draft's error needs a byte added: ``{name:`` for ``{"name":``), the tokens
        that spell some inserted bytes ``s`` and then the draft from ``j`` on (``"name``, or
        ``"`` alone), after which the draft goes on legally.  ``s``: the constraint's forced
        bytes if any, else each one printable byte the constraint allows here; one edit per
        inserted byte, so the bonus is halved per byte.  Offsets where a copy is legal, or
        too many of them, add none (copying or skipping the junk is the better edit)."""
        v, draft, n, m = self.vocab, self.draft, len(self.draft), self.matcher
        starts = [j for j in self.positions().tolist() if self.row[j] == best and j < n]
        if not starts or len(starts) > 2 or any(j in good_at for j in starts):
            return
        forced = m.forced_bytes()
        if forced:  # each prefix: the draft may hold the rest (``{"a: 1}`` needs only ``"``)
            inserts = [forced[:i] for i in range(1, min(len(forced), self.max_insert) + 1)]
        else:
            inserts = [bytes([c]) for c in self._PRINTABLE if m.copy().advance_bytes(bytes([c]))]
        for j in starts:
            for s in inserts:
                # the inserted bytes must let the draft's next bytes follow (else a useless insertion)
                probe = m.copy()
                if not probe.advance_bytes(s + draft[j: j + self.lookahead]):
                    continue
                b = self.bonus * 0.5 ** len(s)
                text = s + draft[j: j + v.max_token_len]
                node = 0
                for k, c in enumerate(text, 1):
                    node = v.child(node, c)
                    if node < 0:
                        break
                    ids = v.node_tokens(node).tolist()
                    if not ids or k < len(s):
                        continue
                    for t in ids:
                        if self._leads_on(t, j + k - len(s)):
                            good[t] = max(good.get(t, 0.0), b)

    _PRINTABLE = tuple(range(0x20, 0x7F))

    def _leads_on(self, t: int, k: int) -> bool | None:
        """None if the constraint forbids token ``t`` now; else whether it allows, after ``t``,
        the draft's next ``lookahead`` bytes from offset ``k`` on, skipping at most ``skip``
        draft bytes (junk the output will drop); where the draft ends there, whether the
        output may end."""
        m = self.matcher.copy()
        if not m.advance(int(t)):
            return None
        for d in range(self.skip + 1):
            nxt = self.draft[k + d: k + d + self.lookahead]
            if not nxt:
                return m.is_accepting()
            if m.copy().advance_bytes(nxt):
                return True
        return False

    # the RepetitionPenalties interface (decode.samplers.MaskedSampler's ``penalties``)
    def apply(self, logits: torch.Tensor, rows) -> torch.Tensor:
        out = logits.float().clone()
        ids, bon = self.candidates()
        keep = ids < out.shape[1]
        if keep.any() and self.bonus:
            out[:, torch.from_numpy(ids[keep]).to(out.device)] += torch.from_numpy(bon[keep]).to(out.device)
        return out

    def observe(self, rows, tokens) -> None:
        tb = self.vocab.token_bytes
        for t in tokens:
            t = int(t)
            ids, bon = self.candidates()
            if (ids[bon > 0] == t).any():
                self.copied += 1
            data = tb[t] if 0 <= t < len(tb) else None
            if self.matcher is not None:
                self.matcher.advance(t)
            if data:
                self._feed(data)


@dataclass
class RepairResult:
    """What :func:`repair` returns: ``text`` (valid), ``value`` (``json.loads(text)`` for JSON
    constraints), ``edit_distance`` (Levenshtein, characters, ``text`` vs ``draft``),
    ``copied`` (output tokens that copied the draft; 0 for ``method="prompt"``), ``method``
    and the underlying :class:`decode.GenerationResult` (``result``: tokens, timings, stop reason)."""

    text: str
    value: Any
    edit_distance: int
    draft: str
    method: str
    copied: int
    result: GenerationResult


def repair_prompt(draft_text: str, kind: str | None) -> list[dict]:
    """The chat messages that condition the local model on the draft."""
    what = "valid JSON" if kind == "json" else "valid output in the required format"
    return [{"role": "user", "content": f"Rewrite the draft below as {what}. Keep its content and "
                                        f"fix only what is wrong.\n\nDraft:\n{draft_text}"}]


def repair(model, tokenizer, draft_text: str, constraint, *, max_new_tokens: int | None = None,
           method: str = "sketch", copy_bonus: float = 8.0, temperature: float = 0.0, seed: int | None = None,
           json_options: dict | None = None, prompt=None) -> RepairResult:
    """Rewrite ``draft_text`` into an output ``constraint`` accepts, staying close to the draft.

    ``constraint``: anything ``decode.generate`` takes (a JSON schema, Pydantic class,
    ``Regex``, ``Lark``, ``Compiled``); required.  ``method="sketch"``: the model sees the draft
    and tokens that copy it from the aligned position get ``copy_bonus`` on their logits
    (:class:`DraftCopy`); ``"prompt"``: the draft only in the prompt.  ``max_new_tokens``
    (default: twice the draft's token count plus 32) bounds the output; the output is closed
    by the grammar's shortest completion when tokens run short (``finish_within_budget``), so
    it is always complete and valid; where even that cannot fit, :class:`GenerationError`.
    ``temperature`` 0 (default) is greedy.  ``prompt``: chat messages or a string replacing the
    default instruction (:func:`repair_prompt`).  Returns a :class:`RepairResult`.
    """
    if not isinstance(draft_text, str):
        raise GenerationArgumentError("draft_text", f"must be a str, got {type(draft_text).__name__}")
    if method not in METHODS:
        raise GenerationArgumentError("method", f"must be one of {METHODS}, got {method!r}")
    if isinstance(copy_bonus, bool) or not isinstance(copy_bonus, (int, float)) or not math.isfinite(copy_bonus) \
            or copy_bonus < 0:
        raise GenerationArgumentError("copy_bonus", f"must be a finite number >= 0, got {copy_bonus!r}")
    kind = constraint_kind(constraint)
    if kind is None:
        raise GenerationArgumentError("constraint", "repair needs a constraint: the output must be valid for something")
    width = logits_width(model)
    vocab = get_vocabulary(tokenizer, width)
    compiled = as_compiled(constraint, vocab, **generation_json_options(json_options)) \
        if kind in ("json", "lark") else as_compiled(constraint, vocab)
    draft = draft_text.encode("utf-8")
    if max_new_tokens is None:
        max_new_tokens = 2 * len(vocab.encode(draft_text)) + 32 if draft_text else 64
    from .loop import generate  # the loop imports torch models; repair is imported lazily too

    bias = DraftCopy(compiled.vocab, draft, copy_bonus, matcher=compiled.matcher()) if method == "sketch" else None
    messages = prompt if prompt is not None else repair_prompt(draft_text, kind)
    res = generate(model, tokenizer, messages, compiled, max_new_tokens=max_new_tokens, temperature=temperature,
                   seed=seed, finish_within_budget=True, _logit_bias=bias)
    if not res.finished:
        raise GenerationError(f"repair did not complete within max_new_tokens={max_new_tokens} "
                              f"({len(res.token_ids)} tokens): the constraint's shortest output does not fit",
                              partial_text=res.text, result=res)
    value = res.value
    if value is None and kind == "json":
        value = json.loads(res.text)
    return RepairResult(text=res.text, value=value, edit_distance=edit_distance(res.text, draft_text),
                        draft=draft_text, method=method, copied=bias.copied if bias is not None else 0, result=res)
