"""The plugin's core: which rows of vLLM's persistent batch carry a constraint, and their masks.

Why a plain class: vLLM's batch bookkeeping (rows added, removed, moved one way or swapped
between steps, output tokens appended to a list vLLM owns) is where a logits processor goes
wrong, so it lives here, free of vLLM, and is tested against a reference dict model with fake
batch updates.  :class:`~decode.vllm.StructgenLogitsProcessor` only forwards vLLM's calls.

Matchers advance lazily, in :meth:`ConstrainedRows.apply`: with async scheduling vLLM appends a
placeholder (-1) for the previous step's token while its id is still on the GPU, and writes the
real id only just before the sampler (and so the processors' ``apply``) runs; at
``update_state`` time the newest token may not be known yet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..checks import check_vocabulary
from ..kernels import apply_token_bitmask_
from .spec import ConstraintSpec, compile_spec, spec_from_extra_args

__all__ = ["ConstrainedRows"]

log = logging.getLogger("decode.vllm")


@dataclass(eq=False)
class _Row:
    """One constrained request: its matcher and how far into vLLM's output list it has read."""

    spec: ConstraintSpec | None
    output: list          # vLLM's own list of the request's output ids (a reference: it grows)
    eos_words: np.ndarray  # the EOS ids that stop this request (forced when finished or broken)
    drop_words: np.ndarray | None  # EOS-class ids that would not stop it: never allowed
    matcher: object = None
    consumed: int = 0
    broken: str | None = None  # why the constraint can no longer be followed (then: EOS only)


def _is_swap(direction) -> bool:
    """vLLM's ``MoveDirectionality.SWAP`` (compared by name: the core does not import vLLM)."""
    return getattr(direction, "name", direction) == "SWAP"


class ConstrainedRows:
    """Per-row constraint state of a vLLM persistent batch, and the masking of its logits.

    ``vocab``: the ``constrain.Vocabulary`` of the model's tokenizer, padded to the logits
    width, or a zero-argument callable that returns it (called once, on the first constrained
    request).  ``pin_memory``: stage masks in pinned host memory (CUDA).

    :meth:`update` takes a vLLM ``BatchUpdate`` (or None): ``removed`` indices, ``added``
    ``(index, params, prompt_ids, output_ids)`` tuples (an index may already hold a request: it
    is replaced), ``moved`` ``(a, b, direction)`` (``SWAP`` exchanges, anything else moves a's
    request to b), processed in that order.  A request's constraint is
    ``params.extra_args["structgen"]`` (:func:`~decode.vllm.spec.spec_from_extra_args`);
    requests without one are not tracked, and their logits rows are never touched.

    :meth:`apply` advances each constrained row's matcher over the output ids it has not read
    yet, packs every constrained row's mask into one int32 buffer and applies it in place with
    ``decode.kernels.apply_token_bitmask_`` (Triton on CUDA, torch elsewhere).  EOS: a row whose
    output may end allows the EOS ids the request stops on (``params.eos_token_id`` and
    ``stop_token_ids``; all of the vocabulary's EOS ids when none of them is one); a finished
    row allows only those.  A request whose constraint cannot be compiled in the worker, or
    whose output leaves the constraint (another processor forced a token), is logged and ended:
    only its EOS ids stay allowed.  Errors never escape into vLLM's engine loop from there.
    """

    def __init__(self, vocab, *, pin_memory: bool = False):
        self._vocab_source = vocab
        self._vocab = None if callable(vocab) else vocab
        self.pin_memory = bool(pin_memory)
        self.rows: dict[int, _Row] = {}
        self._buffers: list[torch.Tensor] = []
        self._flip = 0
        self._staged: torch.Tensor | None = None
        self._checked_width: int | None = None

    # ------------------------------------------------------------------ bookkeeping

    @property
    def vocab(self):
        if self._vocab is None:
            self._vocab = self._vocab_source()
        return self._vocab

    def update(self, batch_update) -> None:
        """Apply one vLLM ``BatchUpdate`` (None: the batch did not change)."""
        if batch_update is None:
            return
        for index in batch_update.removed:
            self.rows.pop(index, None)
        for index, params, _prompt_ids, output_ids in batch_update.added:
            self.add(index, params, output_ids)
        for a, b, direction in batch_update.moved:
            ra = self.rows.pop(a, None)
            rb = self.rows.pop(b, None)
            if ra is not None:
                self.rows[b] = ra
            if rb is not None and _is_swap(direction):
                self.rows[a] = rb

    def add(self, key: int, params, output_ids: list) -> bool:
        """Track the request now at ``key`` (replacing any occupant); False if unconstrained.

        ``output_ids``: the request's output list, read (never written) as it grows.
        """
        row = self._new_row(key, params, output_ids)
        if row is None:
            self.rows.pop(key, None)
            return False
        self.rows[key] = row
        return True

    def _new_row(self, index: int, params, output_ids) -> _Row | None:
        try:
            spec = spec_from_extra_args(getattr(params, "extra_args", None))
        except ValueError as e:  # vLLM's validate_params rejects these first; never crash the engine
            spec, error = None, str(e)
        else:
            if spec is None:
                return None
            error = None
        eos_words, drop_words = self._eos_words(params)
        row = _Row(spec, output_ids if output_ids is not None else [], eos_words, drop_words)
        if error is None:
            try:
                row.matcher = compile_spec(spec, self.vocab).matcher()
            except ValueError as e:
                error = str(e)
        if error is not None:
            row.broken = f"constraint not usable: {error}"
            log.error("structgen: batch row %d: %s; the request is ended (EOS only)", index, row.broken)
        return row

    def _eos_words(self, params) -> tuple[np.ndarray, np.ndarray | None]:
        vocab = self.vocab
        eos = [int(t) for t in np.asarray(vocab.eos_ids).tolist()]
        stop = set(getattr(params, "stop_token_ids", None) or ())
        if getattr(params, "eos_token_id", None) is not None:
            stop.add(params.eos_token_id)
        keep = [t for t in eos if t in stop] or eos
        drop = [t for t in eos if t not in keep]
        keep_words = _words(keep, vocab.n_words)
        return keep_words, (_words(drop, vocab.n_words) if drop else None)

    # ------------------------------------------------------------------ masking

    def _catch_up(self, index: int, row: _Row) -> None:
        """Advance ``row``'s matcher over the output ids vLLM appended since the last step."""
        out, m = row.output, row.matcher
        n = len(out)
        while row.consumed < n:
            t = out[row.consumed]
            if t < 0:  # async scheduling's placeholder: not sampled yet
                return
            if not m.is_finished() and not m.advance(int(t)):
                row.broken = (f"output token {t} at position {row.consumed} is not allowed by the "
                              "constraint (another logits processor or a forced token overrode it)")
                log.error("structgen: batch row %d: %s; the request is ended (EOS only)", index, row.broken)
                return
            row.consumed += 1

    def _buffer(self, n: int, n_words: int) -> torch.Tensor:
        """One of two staging buffers, alternating: a copy still in flight reads the other."""
        if not self._buffers or self._buffers[0].shape[0] < n or self._buffers[0].shape[1] != n_words:
            cap = max(n, 2 * self._buffers[0].shape[0] if self._buffers else 8)
            self._buffers = []
            for _ in range(2):
                t = torch.zeros((cap, n_words), dtype=torch.int32)
                self._buffers.append(t.pin_memory() if self.pin_memory else t)
        self._flip ^= 1
        return self._buffers[self._flip]

    def masks(self, keys) -> np.ndarray:
        """Advance the rows ``keys`` (tracked keys, in order) and return their masks.

        The masks are rows of a staging buffer (int32 ``[len(keys), n_words]``), valid until
        the call after next.
        """
        vocab = self.vocab
        buf = self._buffer(len(keys), vocab.n_words)
        arr = buf.numpy()
        for k, i in enumerate(keys):
            row = self.rows[i]
            if row.broken is None:
                self._catch_up(i, row)
            if row.broken is not None or row.matcher.is_finished():
                arr[k] = row.eos_words
                continue
            row.matcher.fill_mask(arr, k)
            if row.drop_words is not None:
                arr[k] &= ~row.drop_words
        self._staged = buf[: len(keys)]
        return arr[: len(keys)]

    def apply(self, logits: torch.Tensor, positions: dict[int, int] | None = None) -> torch.Tensor:
        """Mask ``logits`` ``[rows, V]`` in place (constrained rows only); returns it.

        Without ``positions`` a row's key is its logits row (vLLM's V1 persistent batch, whose
        rows are its indices; keys past the logits are skipped).  With ``positions`` (key ->
        logits row) only those keys are masked: vLLM's V2 runner keys requests by a slot and
        lays out each step's rows anew.
        """
        if not self.rows:
            return logits
        if positions is None:
            keys = sorted(i for i in self.rows if i < logits.shape[0])
            targets = keys
        else:
            keys = sorted(k for k in positions if k in self.rows)
            targets = [positions[k] for k in keys]
        if not keys:
            return logits
        width = int(logits.shape[1])
        if self._checked_width != width:
            check_vocabulary(self.vocab, width=width, where="decode.vllm: the tokenizer's vocabulary")
            self._checked_width = width
        arr = self.masks(keys)
        self._check_rows(keys, arr, width)
        bitmask = self._staged.to(logits.device, non_blocking=self.pin_memory)
        if targets == list(range(logits.shape[0])):
            indices = None
        else:
            indices = torch.tensor(targets, dtype=torch.long)
            if logits.device.type == "cuda":
                indices = indices.pin_memory().to(logits.device, non_blocking=True)
        # checked on the host above: the kernel's own check would read a flag back from the GPU
        apply_token_bitmask_(logits, bitmask, indices=indices, check=False)
        return logits

    def _check_rows(self, keys, arr: np.ndarray, width: int) -> None:
        """Every mask allows a token among the first ``width`` logits, or its row is ended."""
        full, rem = divmod(width, 32)
        ok = (arr[:, :full] != 0).any(axis=1)
        if rem and full < arr.shape[1]:
            ok |= (arr[:, full] & np.int32((1 << rem) - 1)) != 0
        for k in np.flatnonzero(~ok).tolist():
            row = self.rows[keys[k]]
            if row.broken is None:
                row.broken = f"the constraint allows no token among the model's {width} logits"
                log.error("structgen: batch row %d: %s; the request is ended (EOS only)", keys[k], row.broken)
            arr[k] = row.eos_words


def _words(ids, n_words: int) -> np.ndarray:
    """Bitmask words with exactly ``ids`` set."""
    ids = np.asarray([t for t in ids if 0 <= t < 32 * n_words], dtype=np.int64)
    m = np.zeros(n_words, dtype=np.uint32)
    np.bitwise_or.at(m, ids >> 5, (np.uint32(1) << (ids & 31).astype(np.uint32)))
    return m.view(np.int32)
