"""The output layer restricted to the token ids the masks of a pass allow (the "legal head").

Why: under a constraint, whatever reads a pass's logits in the masked loop reads the allowed
ids only: masked greedy (argmax over allowed), masked sampling (Gumbel-max over allowed;
the other ids get -inf either way, and the noise is drawn over the whole row, so a seeded
run draws the same numbers), top-k / top-p (applied after the mask), additive logit
adjustments (penalties, ``decode.repair``'s bonus: -inf stays -inf) and speculative
verification.  Inside numbers, keys and punctuation a mask allows a few hundred of
SmolLM2's 49,152 ids, while the output layer (576 x 49152) is about a fifth of a one-token
forward's weights.  So at the positions whose mask allows at most :data:`SHARE` of the
vocabulary, the logits are ``hidden @ W[ids].T`` at the ids those positions allow together
and -inf elsewhere; wider positions get the whole layer.

Not for anything that needs a full-vocabulary normaliser: SMC / AWRS incremental weights
(``log Z_t``, the legal mass over the whole distribution's), log-probabilities of the
unmasked model, ASAp's corrections, the ``return_log_z`` kernel path.  Those run over
``HFTokenLM`` (:mod:`decode.lms`), which computes every logit, and must keep doing so:
with -inf outside the allowed ids, the normaliser would be the legal mass itself.

Only models whose logits are exactly ``hidden @ W.T`` take it (``decode.lm.split_head``);
for others ``HFCausalLM.forward`` ignores the head and runs the whole model.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SHARE", "legal_logits_at"]

#: the narrow head is used when the allowed ids are at most this share of the vocabulary;
#: past it, selecting the weight rows costs about what the full matmul saves
SHARE = 0.25


def legal_logits_at(hidden: torch.Tensor, weight: torch.Tensor, rows, cols, masks: np.ndarray,
                    share: float = SHARE) -> torch.Tensor | None:
    """The logits a pass's readers need, position by position: ``hidden`` ``[B, k, H]``; the
    positions read are ``(rows[j], cols[j])`` with the bitmask ``masks[j]`` (``[N, words]``).

    A position whose mask allows at most ``share`` of the vocabulary gets the logits of the
    ids the narrow positions allow together (the rest -inf); a wider one gets every logit;
    positions not listed get -inf everywhere (nothing reads them).  Why per position: one
    drafted position inside a free string (a mask of most of the vocabulary) would otherwise
    make every position of the pass pay the whole output layer.  None (the caller computes
    every logit) when no listed position is narrow."""
    V = weight.shape[0]
    if not len(rows):
        return None
    bits = np.unpackbits(np.ascontiguousarray(masks).view(np.uint8), axis=1, bitorder="little")[:, :V]
    counts = bits.sum(axis=1, dtype=np.int64)
    narrow = (counts > 0) & (counts <= share * V)
    if not narrow.any():
        return None
    ids = torch.from_numpy(np.flatnonzero(np.bitwise_or.reduce(bits[narrow], axis=0))).to(hidden.device)
    rows = torch.as_tensor(np.asarray(rows, dtype=np.int64), device=hidden.device)
    cols = torch.as_tensor(np.asarray(cols, dtype=np.int64), device=hidden.device)
    sel = torch.from_numpy(narrow).to(hidden.device)
    out = hidden.new_full((*hidden.shape[:-1], V), float("-inf"))
    rn, cn = rows[sel], cols[sel]
    out[rn[:, None], cn[:, None], ids[None, :]] = hidden[rn, cn] @ weight.index_select(0, ids).T
    if not bool(sel.all()):
        rw, cw = rows[~sel], cols[~sel]
        out[rw, cw] = torch.nn.functional.linear(hidden[rw, cw], weight)
    return out
