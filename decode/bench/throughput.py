"""``python -m decode.bench throughput`` (also bare ``python -m decode.bench``): decoding throughput with and without constraints, side by side.

Why: the claim that matters to users is "constraining costs (almost) nothing per token".  One
run, one model, one prompt, greedy, the same token budget: unconstrained vs JSON schema vs
regex (vs Lark when available) at batch 1 and batch 8, plus the per-step mask overhead
(matcher advance + fill_mask, replayed on the generated tokens; and the mask+sample kernel).
Several repetitions after a warm-up; medians are reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ..constraints import Lark, Regex, as_compiled, get_vocabulary, lark_compiler  # noqa: E402
from ..kernels import masked_sample  # noqa: E402
from ..lm import logits_width  # noqa: E402
from ..loop import generate  # noqa: E402
from .output import write_json  # noqa: E402
from .report import format_table as report_table  # noqa: E402

PROMPT = [{"role": "user", "content": "List as many fruits as you can, with a short note on each, in JSON."}]

# Constraints chosen so that the output is unlikely to end before the token budget.
SCHEMA = {
    "type": "object",
    "properties": {
        "fruits": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "note": {"type": "string"}},
                "required": ["name", "note"],
            },
            "minItems": 50,
        }
    },
    "required": ["fruits"],
}
REGEX = r"([A-Z][a-z]+(, [a-z]+)*\. ){40,}"
LARK = r"""
start: item+
item: WORD ("," WORD)* "."
%import common.WORD
%import common.WS
%ignore WS
"""


def _constraints(include_lark: bool):
    out = [("unconstrained", None), ("json_schema", SCHEMA), ("regex", Regex(REGEX))]
    if include_lark:
        out.append(("lark", Lark(LARK)))
    return out


def _median(xs):
    return statistics.median(xs) if xs else float("nan")


def _replay_mask_us(compiled, token_ids) -> list[float]:
    """Per-step matcher cost (fill_mask for the step, then advance) along a token sequence."""
    m = compiled.matcher()
    buf = np.zeros((1, compiled.vocab.n_words), dtype=np.int32)
    times = []
    for t in token_ids:
        t0 = time.perf_counter()
        m.fill_mask(buf, 0)
        ok = m.advance(int(t))
        times.append((time.perf_counter() - t0) * 1e6)
        if not ok:
            break
    return times


def _kernel_us(width: int, n_words: int, batch: int, device, reps: int = 50) -> float:
    logits = torch.randn(batch, width, device=device)
    bm = torch.full((batch, n_words), -1, dtype=torch.int32, device=device)
    bm[:, ::3] = 0x0F0F0F0F
    ts = []
    for _ in range(reps + 5):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        masked_sample(logits, bm, temperature=0.0)
        if device.type == "cuda":
            torch.cuda.synchronize()
        ts.append((time.perf_counter() - t0) * 1e6)
    return _median(ts[5:])


def _one_run(model, tok, prompts, compiled, tokens: int) -> dict:
    B = len(prompts)
    t0 = time.perf_counter()
    rs = generate(model, tok, prompts, [compiled] * B, max_new_tokens=tokens, temperature=0.0)
    wall = time.perf_counter() - t0
    n = sum(len(r.token_ids) for r in rs)
    steps = rs[0].timings["steps"]
    t_first = rs[0].timings["time_to_first_token_s"]
    dec = max(r.timings["total_s"] for r in rs) - t_first
    return {
        "tok_s": n / wall,
        "decode_tok_s": (n - B) / dec if dec > 0 and n > B else float("nan"),
        "ttft": t_first,
        "tokens_per_row": n / B,
        "mask_us": sum(r.timings["mask_time_s"] for r in rs) / max(steps, 1) * 1e6,
        "results": rs,
    }


def run(model, tok, *, tokens: int, reps: int, batch_sizes, include_lark: bool, log=print):
    """Rows of the table.  Repetitions are interleaved across constraints (round-robin), so
    a slow phase of a shared machine hits every configuration alike."""
    device = next(model.parameters()).device
    width = logits_width(model)
    vocab = get_vocabulary(tok, width)
    configs = []
    for name, c in _constraints(include_lark):
        try:
            t0 = time.perf_counter()
            compiled = as_compiled(c, vocab)
            compile_ms = (time.perf_counter() - t0) * 1e3
        except NotImplementedError as e:
            log(f"  skip {name}: {e}")
            continue
        configs.append((name, c, compiled, compile_ms))
    rows = []
    for B in batch_sizes:
        prompts = [PROMPT] * B
        log(f"  batch {B}: warm-up, then {reps} interleaved rounds over {[n for n, *_ in configs]} ...")
        runs: dict[str, list[dict]] = {name: [] for name, *_ in configs}
        for name, _, compiled, _ in configs:
            _one_run(model, tok, prompts, compiled, tokens)
        for _ in range(reps):
            for name, _, compiled, _ in configs:
                runs[name].append(_one_run(model, tok, prompts, compiled, tokens))
        kernel = _kernel_us(width, vocab.n_words, B, device)
        for name, c, compiled, compile_ms in configs:
            rr = runs[name]
            last = rr[-1]["results"]
            row = {"constraint": name, "batch": B, "kernel_us": kernel,
                   "finished": sum(r.finished for r in last),
                   "compile_ms": compile_ms if compiled is not None else None}
            for key in ("tokens_per_row", "tok_s", "decode_tok_s", "mask_us"):
                row[key] = _median([r[key] for r in rr])
            row["ttft_ms"] = _median([r["ttft"] for r in rr]) * 1e3
            row["loop_mask_us_per_step"] = row.pop("mask_us")
            if compiled is not None:
                # per-step matcher cost, replayed on row 0's tokens: warm mask cache (as in the
                # timed runs) and cold (a fresh compile, every mask computed for the first time)
                warm = _replay_mask_us(compiled, last[0].token_ids)
                row["matcher_us_median"] = _median(warm)
                row["matcher_us_p90"] = float(np.percentile(warm, 90)) if warm else float("nan")
                row["matcher_cold_us_median"] = _cold_matcher_us(c, vocab, last[0].token_ids)
            rows.append(row)
    return rows


def _cold_matcher_us(c, vocab, token_ids) -> float:
    import constrain

    if isinstance(c, dict):
        compiled = constrain.compile_json_schema(c, vocab)
    elif isinstance(c, Regex):
        compiled = constrain.compile_regex(c.pattern, vocab)
    elif isinstance(c, Lark):
        compiled = lark_compiler()(c.text, vocab)
    else:
        return float("nan")
    return _median(_replay_mask_us(compiled, token_ids))


def format_table(rows) -> str:
    hdr = ["constraint", "batch", "tok/row", "tok/s", "decode tok/s", "vs unconstr.", "TTFT ms",
           "mask us/step", "matcher us warm med/p90", "cold med", "kernel us", "compile ms"]
    base = {(r["batch"]): r["tok_s"] for r in rows if r["constraint"] == "unconstrained"}
    lines = []
    for r in rows:
        b = base.get(r["batch"])
        rel = f"{r['tok_s'] / b:.2f}x" if b else "-"
        m = (f"{r['matcher_us_median']:.0f}/{r['matcher_us_p90']:.0f}"
             if "matcher_us_median" in r else "-")
        cold = r.get("matcher_cold_us_median")
        cold = "-" if cold is None or cold != cold else f"{cold:.0f}"
        lines.append([r["constraint"], str(r["batch"]), f"{r['tokens_per_row']:.0f}", f"{r['tok_s']:.1f}",
                      f"{r['decode_tok_s']:.1f}", rel, f"{r['ttft_ms']:.0f}",
                      f"{r['loop_mask_us_per_step']:.0f}", m, cold, f"{r['kernel_us']:.0f}",
                      "-" if r.get("compile_ms") is None else f"{r['compile_ms']:.0f}"])
    return report_table(hdr, lines)


def main(args: argparse.Namespace) -> int:
    """The table, for ``args`` parsed by :mod:`decode.bench.__main__` (which defines the flags,
    so that building the parser imports no torch)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    from .. import models as hf

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    if args.model in ("smollm2", "default"):
        model, tok = hf.load_default_model(progress=log)
    else:
        model, tok = hf.load_model(args.model, progress=log)
    include_lark = not args.no_lark and lark_compiler() is not None
    batch_sizes = [int(x) for x in args.batch_sizes.split(",") if x]
    dev = next(model.parameters()).device
    log(f"device {dev}, torch threads {torch.get_num_threads()}, greedy, {args.tokens} tokens, "
        f"{args.reps} reps (medians)")
    rows = run(model, tok, tokens=args.tokens, reps=args.reps, batch_sizes=batch_sizes,
               include_lark=include_lark, log=log)
    print(f"\nmodel {getattr(model.config, '_name_or_path', '') or args.model} on {dev}; "
          f"greedy; max {args.tokens} new tokens/row; medians of {args.reps} runs after warm-up")
    print(format_table(rows))
    print("\ntok/s: generated tokens (all rows) / wall time incl. prefill; decode tok/s excludes the "
          "first token.\nmask us/step: matcher advance + fill_mask inside the loop, per step (all rows); "
          "matcher us: replay of row 0's tokens, warm mask cache / cold (fresh compile); kernel us: fused mask+argmax "
          "on [batch, vocab] logits.")
    if args.json:
        write_json(args.json, rows, indent=2)
    return 0
