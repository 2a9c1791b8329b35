"""Hugging Face integration: a LogitsProcessor for ``model.generate``.

Why a processor in addition to ``decode.generate``: code that already drives
``model.generate`` (beam-free greedy or sampling, streamers, stopping criteria) can add a
constraint with one extra argument.
"""

from __future__ import annotations

import numpy as np
import torch
import transformers

from ..checks import check_vocabulary
from ..kernels import apply_token_bitmask_
from ..result import GenerationArgumentError

__all__ = ["LogitsProcessor"]


class LogitsProcessor(transformers.LogitsProcessor):
    """Masks ``model.generate`` scores so every row stays inside its constraint.

    ``compiled``: one ``constrain`` Compiled for every row, whatever the batch size (each row
    gets its own matcher), or a list with one per row.  ``batch_size``, when given with a
    single Compiled, is checked against the batch ``generate`` runs.
    On the first call the prompt length is recorded; each later call advances each row's
    matcher by that row's last generated token, then fills the bitmask and applies it.

    Put sampling filters here rather than in ``generate``: HF runs its own top-k/top-p warpers
    *before* custom processors, so they can cut every allowed token.  Pass ``top_k=0`` to
    ``generate`` (or leave it unset) when the model's generation config sets one.
    ``eos_token_id``: the id(s) ``generate`` stops on.  A vocabulary may have several EOS-class
    ids (SmolLM2: ``<|endoftext|>`` and ``<|im_end|>``); passing the same value as to
    ``generate`` keeps only those among the allowed EOS ids, so a finished output really stops.
    Not for beam search (rows are reordered between steps).  Call ``reset()`` to reuse.
    ``tokenizer``: the tokenizer ``generate`` runs with; given, a Compiled built for another
    tokenizer is refused by comparing token bytes (``decode.checks.check_vocabulary``);
    without it only the vocabulary's size is compared with the model's logits.
    """

    def __init__(self, compiled, batch_size: int | None = None, *, eos_token_id=None, tokenizer=None):
        if isinstance(compiled, (list, tuple)):
            self._per_row = list(compiled)
            if not self._per_row:
                raise GenerationArgumentError("compiled", "no constraint given")
            if batch_size is not None and batch_size != len(self._per_row):
                raise GenerationArgumentError(
                    "batch_size", f"batch_size={batch_size} but {len(self._per_row)} constraints given (one per row)")
            batch_size = len(self._per_row)
        else:
            self._per_row = None
            self._shared = compiled
        for c in self._per_row or [compiled]:
            if not callable(getattr(c, "matcher", None)) or not hasattr(c, "vocab"):
                raise GenerationArgumentError(
                    "compiled", f"expected a constrain Compiled, got {type(c).__name__}; compile it first "
                    "(constrain.compile_json_schema / compile_regex / compile_lark, or decode.as_compiled)")
        self.batch_size = batch_size  # None: a single constraint serves any batch size
        self.compiled = self._per_row
        self.tokenizer = tokenizer
        self._checked_width = None  # logits width the constraints were checked against
        if eos_token_id is None:
            self.eos_token_ids = None
        else:
            ids = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
            self.eos_token_ids = {int(i) for i in ids}
        self.reset()

    def reset(self) -> None:
        """Forget the previous generation (fresh matchers on the next call)."""
        self.matchers = None
        self.prompt_len = None
        self._n_seen = 0
        self._mask = None
        self._eos_only = None

    def _setup(self, input_ids: torch.LongTensor, width: int) -> None:
        B = input_ids.shape[0]
        if self.batch_size is not None and B != self.batch_size:
            raise ValueError(
                f"LogitsProcessor was built for batch_size={self.batch_size} but generate runs "
                f"{B} rows (num_return_sequences / beams are not supported)"
            )
        self.compiled = self._per_row if self._per_row is not None else [self._shared] * B
        if self._checked_width != width:  # before the first mask: garbage is never generated
            for i, c in {id(c): (i, c) for i, c in enumerate(self.compiled)}.values():
                check_vocabulary(c.vocab, width=width, tokenizer=self.tokenizer,
                                 where="compiled" if self._per_row is None else f"compiled[{i}]")
            self._checked_width = width
        self.prompt_len = input_ids.shape[1]
        self.matchers = [c.matcher() for c in self.compiled]
        n_words = max(c.vocab.n_words for c in self.compiled)
        self._mask = torch.zeros((B, n_words), dtype=torch.int32)
        # per row: words with the EOS-class ids generate() would not stop on (cleared)
        self._drop_eos = []
        for c in self.compiled:
            drop = np.zeros(n_words, dtype=np.uint32)
            if self.eos_token_ids is not None:
                other = [int(t) for t in np.asarray(c.vocab.eos_ids).tolist() if int(t) not in self.eos_token_ids]
                if len(other) < len(c.vocab.eos_ids):  # keep at least one EOS id
                    for t in other:
                        if t < n_words * 32:
                            drop[t >> 5] |= np.uint32(1 << (t & 31))
            self._drop_eos.append(drop.view(np.int32) if drop.any() else None)
        if input_ids.is_cuda:
            self._mask = self._mask.pin_memory()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.matchers is None:
            self._setup(input_ids, scores.shape[1])
        else:
            n_new = input_ids.shape[1] - self.prompt_len
            if n_new != self._n_seen + 1:
                raise ValueError(
                    f"expected one new token per call, got {n_new - self._n_seen}; call reset() "
                    "before reusing a LogitsProcessor for another generation"
                )
            self._n_seen = n_new
            last = input_ids[:, -1].tolist()
            for i, m in enumerate(self.matchers):
                if m.is_finished():
                    continue  # HF pads finished rows; nothing to check
                if not m.advance(int(last[i])):
                    raise ValueError(
                        f"row {i}: token {int(last[i])} at generated position {n_new - 1} is not "
                        "allowed by the constraint (was the processor reused without reset()?)"
                    )
        mask_np = self._mask.numpy()
        for i, m in enumerate(self.matchers):
            if m.is_finished():
                mask_np[i, :] = -1  # any token; generate replaces it with padding
                continue
            nw = m.vocab.n_words if hasattr(m, "vocab") else self.compiled[i].vocab.n_words
            if nw == mask_np.shape[1]:
                m.fill_mask(mask_np, i)
            else:
                tmp = np.zeros((1, nw), dtype=np.int32)
                m.fill_mask(tmp, 0)
                mask_np[i, :] = 0
                mask_np[i, :nw] = tmp[0]
            if self._drop_eos[i] is not None:
                mask_np[i] &= ~self._drop_eos[i]
        apply_token_bitmask_(scores, self._mask.to(scores.device, non_blocking=True))
        if not bool(torch.isfinite(scores.max(dim=1).values).all()):
            bad = int((~torch.isfinite(scores.max(dim=1).values)).nonzero()[0, 0])
            raise ValueError(
                f"row {bad}: no allowed token has a finite score; an earlier logits warper "
                "(top_k / top_p / min_p in generate) removed every token the constraint allows - "
                "run generate with top_k=0 and top_p=1.0"
            )
        return scores
