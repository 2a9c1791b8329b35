"""Triton token-bitmask kernels, used automatically for CUDA tensors.

Why: on GPU the mask must be applied without a host round trip and without materializing an
unpacked [B, V] boolean tensor; the fused sampler reads each logit once (mask + temperature +
Gumbel-max argmax in one pass over the vocabulary).

CPU tensors are accepted only under the Triton interpreter (``TRITON_INTERPRET=1``), which is
how the tests exercise these kernels without a GPU.  Triton reads that variable when a
function is decorated with ``triton.jit`` - including its own helpers (``tl.zeros``,
``tl.max``, ``tl.rand``), decorated when triton is first imported - so it must be set before
the first ``import triton`` (the tests run these kernels in a subprocess for that reason).
Our kernels are decorated lazily, once per mode.

Importing this module raises ImportError when Triton is missing; ``decode.kernels`` then
uses the torch path only.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from . import torch_impl

__all__ = ["apply_token_bitmask_", "masked_sample", "interpreting"]


def _apply_kernel(
    logits_ptr,
    logits_stride,
    mask_ptr,
    mask_stride,
    idx_ptr,
    n_rows,
    V,
    n_words,
    HAS_IDX: tl.constexpr,
    ROWS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    # one program = a [ROWS, BLOCK] tile; several rows per program keeps small vocabularies
    # (and the CPU interpreter) from paying per-program overhead for a few dozen columns
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    row_ok = rows < n_rows
    if HAS_IDX:
        lrows = tl.load(idx_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    else:
        lrows = rows.to(tl.int64)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    in_v = offs < V
    widx = offs // 32
    m2 = row_ok[:, None] & (in_v & (widx < n_words))[None, :]
    words = tl.load(mask_ptr + rows.to(tl.int64)[:, None] * mask_stride + widx[None, :], mask=m2, other=0)
    bit = (words >> (offs % 32)[None, :]) & 1
    neg = tl.full([ROWS, BLOCK], float("-inf"), tl.float32).to(logits_ptr.dtype.element_ty)
    store_mask = row_ok[:, None] & in_v[None, :] & (bit == 0)
    tl.store(logits_ptr + lrows[:, None] * logits_stride + offs[None, :], neg, mask=store_mask)


def _sample_kernel(
    logits_ptr,
    logits_stride,
    mask_ptr,
    mask_stride,
    out_ptr,
    logz_ptr,
    seed_ptr,
    n_rows,
    V,
    n_words,
    inv_temp,
    GREEDY: tl.constexpr,
    LOGZ: tl.constexpr,
    ROWS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    rows = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    row_ok = rows < n_rows
    rows64 = rows.to(tl.int64)
    best_val = tl.full([ROWS, BLOCK], float("-inf"), tl.float32)
    best_idx = tl.zeros([ROWS, BLOCK], tl.int32)
    # online log-sum-exp per lane (running max m, sum s of exp(x - m)), for the whole row
    # ("full") and for its allowed tokens ("mask"); lanes are combined once after the loop
    m_full = tl.full([ROWS, BLOCK], float("-inf"), tl.float32)
    s_full = tl.zeros([ROWS, BLOCK], tl.float32)
    m_mask = tl.full([ROWS, BLOCK], float("-inf"), tl.float32)
    s_mask = tl.zeros([ROWS, BLOCK], tl.float32)
    seed = tl.load(seed_ptr)
    for start in range(0, V, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        in_v = offs < V
        widx = offs // 32
        lm = row_ok[:, None] & in_v[None, :]
        x = tl.load(logits_ptr + rows64[:, None] * logits_stride + offs[None, :], mask=lm,
                    other=float("-inf")).to(tl.float32)
        words = tl.load(mask_ptr + rows64[:, None] * mask_stride + widx[None, :],
                        mask=lm & (widx < n_words)[None, :], other=0)
        allowed = ((words >> (offs % 32)[None, :]) & 1) != 0
        if LOGZ:
            xs = x * inv_temp
            m_new = tl.maximum(m_full, xs)
            live = m_new > float("-inf")
            s_full = tl.where(live, s_full * tl.exp(m_full - m_new) + tl.exp(xs - m_new), 0.0)
            m_full = m_new
            xa = tl.where(allowed, xs, float("-inf"))
            m_new = tl.maximum(m_mask, xa)
            live = m_new > float("-inf")
            s_mask = tl.where(live, s_mask * tl.exp(m_mask - m_new) + tl.exp(xa - m_new), 0.0)
            m_mask = m_new
        x = tl.where(allowed, x, float("-inf"))
        if not GREEDY:
            u = tl.rand(seed, rows64[:, None] * V + offs.to(tl.int64)[None, :])
            u = tl.maximum(u, 1.1754943508222875e-38)
            x = x * inv_temp - tl.log(-tl.log(u))
        take = x > best_val
        best_val = tl.where(take, x, best_val)
        best_idx = tl.where(take, offs[None, :], best_idx)
    m = tl.max(best_val, axis=1)
    cand = tl.where(best_val == m[:, None], best_idx, 2147483647)
    idx = tl.min(cand, axis=1)
    # -1 flags a row with no finite allowed logit; the host turns it into a ValueError
    # (or, with log_z requested, reports it as a dead row)
    idx = tl.where(m == float("-inf"), -1, idx)
    tl.store(out_ptr + rows64, idx.to(tl.int64), mask=row_ok)
    if LOGZ:
        mf = tl.max(m_full, axis=1)
        sf = tl.sum(tl.where(m_full > float("-inf"), s_full * tl.exp(m_full - mf[:, None]), 0.0), axis=1)
        mm = tl.max(m_mask, axis=1)
        sm = tl.sum(tl.where(m_mask > float("-inf"), s_mask * tl.exp(m_mask - mm[:, None]), 0.0), axis=1)
        lse_full = mf + tl.log(sf)
        lse_mask = mm + tl.log(sm)
        logz = tl.where(mm > float("-inf"), lse_mask - lse_full, float("-inf"))
        tl.store(logz_ptr + rows64, logz, mask=row_ok)


def _tile(V: int, budget: int = 4096, max_block: int = 1024) -> tuple[int, int]:
    """(ROWS, BLOCK): BLOCK covers the vocabulary up to max_block, ROWS fills the tile budget."""
    block = min(max_block, max(16, triton.next_power_of_2(max(V, 1))))
    rows = max(1, min(64, budget // block))
    return rows, block


_KERNELS: dict[bool, dict[str, object]] = {}


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1)."""
    try:
        return bool(triton.knobs.runtime.interpret)
    except AttributeError:  # older Triton without knobs
        return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _kernels() -> dict[str, object]:
    mode = interpreting()
    ks = _KERNELS.get(mode)
    if ks is None:
        ks = _KERNELS[mode] = {
            "apply": triton.jit(_apply_kernel),
            "sample": triton.jit(_sample_kernel),
        }
    return ks


def _lang_interpreted() -> bool:
    """Were triton.language's own jitted helpers created in interpreter mode?"""
    return type(tl.zeros).__name__ == "InterpretedFunction"


def _check_device(t: torch.Tensor) -> None:
    if t.device.type != "cpu":
        return
    if not interpreting():
        raise RuntimeError(
            "Triton kernels need GPU tensors; to run them on CPU set TRITON_INTERPRET=1 before "
            "the first `import triton`, or use decode.kernels.torch_impl"
        )
    if not _lang_interpreted():
        raise RuntimeError(
            "TRITON_INTERPRET=1 was set after triton was imported; triton.language helpers are "
            "already compiled-mode functions - set it before the first `import triton`"
        )


def apply_token_bitmask_(logits: torch.Tensor, bitmask: torch.Tensor, indices=None, *,
                         check: bool = True) -> torch.Tensor:
    """In-place: disallowed logits -> -inf (see decode.kernels.apply_token_bitmask_)."""
    torch_impl._validate(logits, bitmask, indices)
    _check_device(logits)
    if logits.stride(1) != 1:
        raise ValueError("logits must be contiguous along the vocabulary dimension")
    V = logits.shape[1]
    bitmask = bitmask.to(logits.device).contiguous()
    if check:
        torch_impl.check_bitmask_rows(bitmask, V, indices)
    rows, n_words = bitmask.shape
    if rows == 0 or V == 0:
        return logits
    if indices is not None:
        idx = torch_impl._as_index(indices, logits.device).contiguous()
        has_idx = True
    else:
        idx = bitmask  # unused dummy pointer
        has_idx = False
    R, BLOCK = _tile(V)
    grid = (triton.cdiv(rows, R), triton.cdiv(V, BLOCK))
    _kernels()["apply"][grid](
        logits, logits.stride(0), bitmask, bitmask.stride(0), idx, rows, V, n_words,
        HAS_IDX=has_idx, ROWS=R, BLOCK=BLOCK,
    )
    return logits


def _seed_tensor(generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gdev = generator.device if generator is not None else device
    seed = torch.randint(0, 2**62, (1,), dtype=torch.int64, generator=generator, device=gdev)
    return seed.to(device)


def _apply_unchecked(x: torch.Tensor, bitmask: torch.Tensor) -> None:
    """The masking kernel on a contiguous fp32 copy, without the all-masked-row check."""
    rows, n_words = bitmask.shape
    V = x.shape[1]
    if rows == 0 or V == 0:
        return
    R, BLOCK = _tile(V)
    _kernels()["apply"][(triton.cdiv(rows, R), triton.cdiv(V, BLOCK))](
        x, x.stride(0), bitmask, bitmask.stride(0), bitmask, rows, V, n_words,
        HAS_IDX=False, ROWS=R, BLOCK=BLOCK,
    )


def _launch_sample(logits, bitmask, inv_temp, greedy, generator, return_log_z):
    """One pass of the fused kernel -> (tokens with -1 for dead rows, log_z or None)."""
    B, V = logits.shape
    out = torch.empty(B, dtype=torch.int64, device=logits.device)
    logz = torch.empty(B if return_log_z else 1, dtype=torch.float32, device=logits.device)
    if B == 0:
        return out, (logz if return_log_z else None)
    if greedy:
        seed = torch.zeros(1, dtype=torch.int64, device=logits.device)
    else:
        seed = _seed_tensor(generator, logits.device)
    R, BLOCK = _tile(V)
    _kernels()["sample"][(triton.cdiv(B, R),)](
        logits, logits.stride(0), bitmask, bitmask.stride(0), out, logz, seed, B, V,
        bitmask.shape[1], inv_temp, GREEDY=greedy, LOGZ=bool(return_log_z), ROWS=R, BLOCK=BLOCK,
    )
    return out, (logz if return_log_z else None)


def masked_sample(
    logits: torch.Tensor,
    bitmask: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    return_log_z: bool = False,
):
    """Fused mask + temperature + Gumbel-max sample (see decode.kernels.masked_sample).

    top_k / top_p need a sort over the allowed tokens, so with them the mask is applied by
    the Triton kernel on an fp32 copy and the filtering/sampling runs in torch (``log_z``
    then comes from a greedy pass of the fused kernel, which reads the row once more).
    With ``return_log_z`` the kernel also keeps two online log-sum-exps per row (all tokens,
    allowed tokens) in the same pass; dead rows give token -1 and log_z -inf instead of
    raising.
    """
    torch_impl._validate(logits, bitmask, None)
    _check_device(logits)
    V = logits.shape[1]
    bitmask = bitmask.to(logits.device).contiguous()
    if not return_log_z:
        torch_impl.check_bitmask_rows(bitmask, V)
    greedy = temperature is None or temperature <= 0.0
    inv_temp = 1.0 if greedy else 1.0 / float(temperature)
    if logits.stride(1) != 1:
        logits = logits.contiguous()
    if not greedy and (top_k is not None or top_p is not None):
        x = logits.float()
        if x.data_ptr() == logits.data_ptr():
            x = x.clone()
        x = x.contiguous()
        log_z = None
        if return_log_z:
            _, log_z = _launch_sample(x, bitmask, inv_temp, True, None, True)
        _apply_unchecked(x, bitmask)
        if not return_log_z:
            torch_impl.check_finite_rows(x)
        if temperature != 1.0:
            x.div_(float(temperature))
        x = torch_impl._filter_top_k_top_p(x, top_k, top_p)
        u = torch.rand(x.shape, dtype=torch.float32, device=x.device, generator=generator)
        u.clamp_(min=torch.finfo(torch.float32).tiny)
        tokens = (x - torch.log(-torch.log(u))).argmax(dim=1)
        if not return_log_z:
            return tokens
        return tokens.masked_fill_(torch.isneginf(log_z), -1), log_z
    out, log_z = _launch_sample(logits, bitmask, inv_temp, greedy, generator, return_log_z)
    if return_log_z:
        return out, log_z
    bad = (out < 0).nonzero()
    if bad.numel():
        raise ValueError(
            f"all tokens are masked in row {int(bad[0, 0])}: every allowed token already has "
            "logit -inf/NaN"
        )
    return out
