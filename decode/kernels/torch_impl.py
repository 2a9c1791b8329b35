"""Pure-PyTorch token-bitmask kernels (any device).

Why a torch path at all: it is the reference the Triton kernels are checked against, and the
path every CPU run takes.  Everything is vectorized over the vocabulary (bits are unpacked
with shifts), so the cost is a handful of elementwise ops per step, never a Python loop.

Bitmask layout (shared with ``constrain``): int32 words, bit ``t % 32`` of word ``t // 32``
is set iff token ``t`` is allowed.
"""

from __future__ import annotations

import sys

import torch

__all__ = ["unpack_bitmask", "apply_token_bitmask_", "masked_sample", "check_bitmask_rows", "log_z_from_lse"]

_SHIFTS8: dict[torch.device, torch.Tensor] = {}
_SHIFTS32: dict[torch.device, torch.Tensor] = {}


def _shifts(device: torch.device, n: int) -> torch.Tensor:
    cache = _SHIFTS8 if n == 8 else _SHIFTS32
    t = cache.get(device)
    if t is None:
        dtype = torch.uint8 if n == 8 else torch.int32
        t = cache[device] = torch.arange(n, dtype=dtype, device=device)
    return t


def _validate(logits: torch.Tensor, bitmask: torch.Tensor, indices) -> None:
    if logits.dim() != 2:
        raise ValueError(f"logits must be 2-D [batch, vocab], got shape {tuple(logits.shape)}")
    if bitmask.dim() != 2:
        raise ValueError(f"bitmask must be 2-D [rows, words], got shape {tuple(bitmask.shape)}")
    if bitmask.dtype != torch.int32:
        raise TypeError(f"bitmask must be int32, got {bitmask.dtype}")
    if indices is None:
        if bitmask.shape[0] != logits.shape[0]:
            raise ValueError(
                f"bitmask has {bitmask.shape[0]} rows but logits has {logits.shape[0]}; "
                "pass indices= to mask a subset of rows"
            )
    else:
        if len(indices) != bitmask.shape[0]:
            raise ValueError(
                f"indices has {len(indices)} entries but bitmask has {bitmask.shape[0]} rows"
            )


def unpack_bitmask(bitmask: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """bool[rows, vocab_size]: True where allowed. Columns past the bitmask are False.

    Little-endian hosts unpack via a uint8 view (1 byte per token of scratch instead of 4).
    """
    rows, words = bitmask.shape
    covered = min(vocab_size, words * 32)
    if sys.byteorder == "little":
        by = bitmask.contiguous().view(torch.uint8)  # [rows, words*4]; token t -> byte t//8, bit t%8
        bits = (by.unsqueeze(-1) >> _shifts(bitmask.device, 8)) & 1
    else:  # pragma: no cover - big-endian hosts
        bits = (bitmask.unsqueeze(-1) >> _shifts(bitmask.device, 32)) & 1
    allowed = bits.reshape(rows, -1)[:, :covered].bool()
    if covered < vocab_size:
        pad = torch.zeros(rows, vocab_size - covered, dtype=torch.bool, device=bitmask.device)
        allowed = torch.cat([allowed, pad], dim=1)
    return allowed


def check_bitmask_rows(bitmask: torch.Tensor, vocab_size: int, indices=None) -> None:
    """Raise ValueError naming the first row whose bitmask allows no token below vocab_size.

    Works on the packed words only (cheap: [rows, V/32]).  An all-masked row would otherwise
    turn into an all -inf row, i.e. NaN probabilities or an arbitrary token downstream.
    """
    rows, words = bitmask.shape
    full, rem = divmod(vocab_size, 32)
    full = min(full, words)
    ok = (bitmask[:, :full] != 0).any(dim=1)
    if rem and full < words:
        low = (1 << rem) - 1  # fits int32 for rem <= 31
        ok = ok | ((bitmask[:, full] & low) != 0)
    if not bool(ok.all()):
        bad = int((~ok).nonzero()[0, 0])
        where = f"row {bad}"
        if indices is not None:
            where = f"bitmask row {bad} (logits row {int(indices[bad])})"
        raise ValueError(
            f"all tokens are masked in {where}: the constraint allows no token among the "
            f"first {vocab_size} logits (is the matcher finished, or the vocabulary mismatched?)"
        )


def _as_index(indices, device) -> torch.Tensor:
    if isinstance(indices, torch.Tensor):
        return indices.to(device=device, dtype=torch.long)
    return torch.as_tensor(list(indices), dtype=torch.long, device=device)


def apply_token_bitmask_(logits: torch.Tensor, bitmask: torch.Tensor, indices=None, *,
                         check: bool = True) -> torch.Tensor:
    """Set disallowed logits to -inf in place; returns ``logits``.

    ``indices``: bitmask row i applies to logits row ``indices[i]`` (other rows untouched).
    Columns of ``logits`` beyond ``32 * bitmask.shape[1]`` are disallowed.  ``check=False``:
    no all-masked-row test (the caller checked on the host; see ``decode.kernels``).
    """
    _validate(logits, bitmask, indices)
    vocab = logits.shape[1]
    bitmask = bitmask.to(logits.device)
    if check:
        check_bitmask_rows(bitmask, vocab, indices)
    disallowed = ~unpack_bitmask(bitmask, vocab)
    if indices is None:
        logits.masked_fill_(disallowed, float("-inf"))
    else:
        idx = _as_index(indices, logits.device)
        sub = logits.index_select(0, idx)
        sub.masked_fill_(disallowed, float("-inf"))
        logits.index_copy_(0, idx, sub)
    return logits


def _filter_top_k_top_p(x: torch.Tensor, top_k, top_p) -> torch.Tensor:
    """Restrict already-masked, temperature-scaled fp32 logits to top-k / nucleus tokens.

    Applied after masking so the nucleus is measured on the constrained distribution.
    Always keeps at least the best allowed token.
    """
    neg_inf = float("-inf")
    if top_k is not None and top_k > 0 and top_k < x.shape[1]:
        kth = torch.topk(x, int(top_k), dim=1).values[:, -1:]
        x = x.masked_fill(x < kth, neg_inf)
    if top_p is not None and top_p < 1.0:
        sorted_x, order = torch.sort(x, dim=1, descending=True)
        probs = torch.softmax(sorted_x, dim=1)
        cum = probs.cumsum(dim=1)
        # drop a token when the mass strictly before it already reaches top_p
        drop_sorted = (cum - probs) >= float(top_p)
        drop_sorted[:, 0] = False
        drop = torch.zeros_like(drop_sorted).scatter_(1, order, drop_sorted)
        x = x.masked_fill(drop, neg_inf)
    return x


def masked_logits_fp32(logits: torch.Tensor, bitmask: torch.Tensor) -> torch.Tensor:
    """fp32 copy of ``logits`` with disallowed tokens at -inf (input is not modified)."""
    _validate(logits, bitmask, None)
    bitmask = bitmask.to(logits.device)
    check_bitmask_rows(bitmask, logits.shape[1])
    x = logits.float()
    if x.data_ptr() == logits.data_ptr():
        x = x.clone()
    x.masked_fill_(~unpack_bitmask(bitmask, logits.shape[1]), float("-inf"))
    return x


def check_finite_rows(x: torch.Tensor) -> None:
    """ValueError naming the first row whose allowed logits are all -inf (or NaN)."""
    best = x.max(dim=1).values
    ok = torch.isfinite(best) | (best == float("inf"))
    if not bool(ok.all()):
        bad = int((~ok).nonzero()[0, 0])
        raise ValueError(
            f"all tokens are masked in row {bad}: every allowed token already has logit -inf/NaN"
        )


def masked_sample(
    logits: torch.Tensor,
    bitmask: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    return_log_z: bool = False,
):
    """Sample one token per row from softmax(logits / T) restricted to allowed tokens.

    Gumbel-max (argmax of logits/T + Gumbel noise) is an exact sample of that distribution and
    needs no normalization; temperature 0 is argmax over the allowed tokens.  ``logits`` is not
    modified.  Returns int64 [B], or ``(tokens, log_z)`` with ``return_log_z`` (see
    ``decode.kernels.masked_sample`` for the definition of ``log_z`` and the dead-row sentinel).
    """
    if return_log_z:
        return _masked_sample_log_z(logits, bitmask, temperature, top_k, top_p, generator)
    x = masked_logits_fp32(logits, bitmask)
    check_finite_rows(x)
    if temperature is None or temperature <= 0.0:
        return x.argmax(dim=1)
    if temperature != 1.0:
        x.div_(float(temperature))
    if top_k is not None or top_p is not None:
        x = _filter_top_k_top_p(x, top_k, top_p)
    u = torch.rand(x.shape, dtype=torch.float32, device=x.device, generator=generator)
    u.clamp_(min=torch.finfo(torch.float32).tiny)
    gumbel = -torch.log(-torch.log(u))
    return (x + gumbel).argmax(dim=1)


def log_z_from_lse(lse_mask: torch.Tensor, lse_full: torch.Tensor) -> torch.Tensor:
    """``lse_mask - lse_full``, with -inf (not NaN) where nothing allowed has mass."""
    out = lse_mask - lse_full
    return out.masked_fill_(torch.isneginf(lse_mask), float("-inf"))


def _masked_sample_log_z(logits, bitmask, temperature, top_k, top_p, generator):
    """The ``return_log_z`` path: same draws as the plain path, plus the legal log-mass.

    Never raises on a dead row (nothing allowed, or every allowed logit -inf): that row gets
    token -1 and log_z -inf, because an SMC particle reaching a dead end is an outcome (weight
    zero), not an error.  The random numbers are drawn exactly as on the plain path, so a
    seeded generator gives the same tokens with and without ``return_log_z``.
    """
    _validate(logits, bitmask, None)
    bitmask = bitmask.to(logits.device)
    greedy = temperature is None or temperature <= 0.0
    x = logits.float()
    if x.data_ptr() == logits.data_ptr():
        x = x.clone()
    if not greedy and temperature != 1.0:
        x.div_(float(temperature))  # division, as on the plain path: identical draws
    lse_full = torch.logsumexp(x, dim=1)
    x.masked_fill_(~unpack_bitmask(bitmask, logits.shape[1]), float("-inf"))
    lse_mask = torch.logsumexp(x, dim=1)
    log_z = log_z_from_lse(lse_mask, lse_full)
    dead = torch.isneginf(lse_mask) | torch.isnan(lse_mask)
    if greedy:
        tokens = x.argmax(dim=1)
    else:
        if top_k is not None or top_p is not None:
            x = _filter_top_k_top_p(x, top_k, top_p)
        u = torch.rand(x.shape, dtype=torch.float32, device=x.device, generator=generator)
        u.clamp_(min=torch.finfo(torch.float32).tiny)
        tokens = (x - torch.log(-torch.log(u))).argmax(dim=1)
    return tokens.masked_fill_(dead, -1), log_z
