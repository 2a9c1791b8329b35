"""``python -m decode.bench healing``: does token healing give the true continuation back its likelihood?

Protocol (issue 19): valid JSON instances of MaskBench schemas (``json.dumps``, as the
MaskBench protocol serializes them), each cut at a random character boundary; the prompt is
``"JSON:\\n" + text[:c]``, the continuation the next ``--window`` bytes ``C = text[c:c+w]``.
The model's log-likelihood (nats) of ``C`` is measured three ways, each along the canonical
tokenization of the bytes scored (one path, the one the tokenizer itself would write):

- **cut** (no healing): ``log p(canon(C) | tok(prompt))``: the model continues the split the
  cut forced on the prompt's last token;
- **healed**: ``decode.heal`` takes the last ``k`` prompt tokens off (their bytes ``R``); the
  continuation's likelihood under the healed condition is
  ``log p(canon(R + C) | kept) - log P(output starts with R | kept)``, the second term exact
  (a sum over the first tokens that cover ``R``, recursing through the tokens that are proper
  prefixes of it);
- **uncut**: the prompt cut instead at the start ``c'`` of the canonical token of the whole
  text that holds byte ``c`` (a natural boundary), the same two terms with ``R = text[c':c]``.

Targets: healing never lowers the mean (healed >= cut) and closes at least half the gap
``(healed - cut) / (uncut - cut) >= 0.5``.  Every cut is reported in the JSON output.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

from .report import format_table

__all__ = ["add_arguments", "main", "run_healing"]

PREFIX = "JSON:\n"


def _instances(data_dir, n_schemas: int, seed: int, max_len: int):
    from .maskbench import instance_text, load_sample

    entries = load_sample(data_dir, sample=n_schemas, seed=seed)
    out = []
    for e in entries:
        for t in e.tests:
            if t.get("valid") and "data" in t:
                text = instance_text(t["data"])
                if 8 <= len(text.encode()) <= max_len:
                    out.append((e.key, text))
                    break
    return out


class _Scorer:
    """Log-probabilities from one full forward per context (contexts are short)."""

    def __init__(self, model, vocab):
        import torch

        self.torch = torch
        self.model = model
        self.vocab = vocab
        self.device = next(model.parameters()).device
        self.passes = 0
        self._last: dict[tuple, object] = {}

    def rows(self, ids: list[int]):
        """log-softmax rows ``[len(ids), V]``: row i is the law of the token after ``ids[:i+1]``."""
        torch = self.torch
        with torch.inference_mode():
            x = torch.tensor([ids], dtype=torch.long, device=self.device)
            logits = self.model(input_ids=x).logits[0, :, : self.vocab.size].float()
            self.passes += 1
            return torch.log_softmax(logits, dim=-1)

    def next_law(self, ctx: list[int]):
        key = tuple(ctx)
        hit = self._last.get(key)
        if hit is None:
            if len(self._last) > 256:
                self._last.clear()
            hit = self._last[key] = self.rows(ctx)[-1]
        return hit

    def sequence(self, ctx: list[int], seq: list[int]) -> float:
        """``log p(seq | ctx)``; also caches the law right after ``ctx``."""
        lp = self.rows(ctx + seq)
        self._last[tuple(ctx)] = lp[len(ctx) - 1]
        return float(sum(lp[len(ctx) - 1 + i, t] for i, t in enumerate(seq)))

    def prefix(self, ctx: list[int], data: bytes, budget: list[int]) -> float:
        """``P(the next bytes start with data | ctx)``, exact up to ``budget`` extra passes."""
        if not data:
            return 1.0
        v = self.vocab
        law = self.next_law(ctx).double().exp()
        node, total, partial = 0, 0.0, []
        for i, c in enumerate(data):
            node = v.child(node, c)
            if node < 0:
                break
            if i < len(data) - 1:
                partial.extend((int(t), i + 1) for t in v.node_tokens(node).tolist())
        if node > 0:
            lo, hi = int(v.node_token_ptr[node]), int(v.node_token_ptr[int(v.trie_end[node])])
            ids = v.node_token_ids[lo:hi]
            total += float(law[self.torch.from_numpy(ids.astype("int64"))].sum())
        for t, n in partial:
            if budget[0] <= 0:
                break
            p = float(law[t])
            if p < 1e-9:
                continue
            budget[0] -= 1
            total += p * self.prefix(ctx + [t], data[n:], budget)
        return total


def _encode(tok, text: str) -> list[int]:
    return list(tok(text, add_special_tokens=False)["input_ids"])


def run_healing(model, tok, data_dir, *, n: int = 200, seed: int = 0, window: int = 32, max_len: int = 600,
                max_prefix_passes: int = 32, progress=None) -> dict:
    from ..constraints import get_vocabulary
    from ..healing import heal
    from ..lm import logits_width

    vocab = get_vocabulary(tok, logits_width(model))
    scorer = _Scorer(model, vocab)
    rng = random.Random(seed)
    # enough schemas to have n instances; each gives its first short valid instance
    pool = _instances(data_dir, max(n * 3, 50), seed, max_len)
    rng.shuffle(pool)
    rows = []
    t0 = time.perf_counter()
    for key, text in pool[:n]:
        chars = len(text)
        c = rng.randrange(1, chars)
        head, cont = text[:c], text[c:]
        cont_b = cont.encode()[:window]
        while True:  # a window ending inside a character: shorten it
            try:
                cont = cont_b.decode()
                break
            except UnicodeDecodeError:
                cont_b = cont_b[:-1]
        prompt = _encode(tok, PREFIX + head)
        # cut
        cut = scorer.sequence(prompt, _encode(tok, cont))
        # healed
        h = heal(vocab, prompt, None)
        budget = [max_prefix_passes]
        if h.k:
            num = scorer.sequence(h.prompt_ids, _encode(tok, h.removed.decode("utf-8", "replace") + cont))
            den = scorer.prefix(h.prompt_ids, h.removed, budget)
            healed = num - math.log(den) if den > 0 else -math.inf
        else:
            healed = cut
        # uncut: the canonical token of the whole text that holds byte c
        full = _encode(tok, PREFIX + text)
        cut_byte = len((PREFIX + head).encode())
        pos, start, kept = 0, 0, 0
        for i, t in enumerate(full):
            nb = len(vocab.token_bytes[t] or b"")
            if pos + nb > cut_byte:
                start, kept = pos, i
                break
            pos += nb
        else:
            start, kept = pos, len(full)
        r_u = (PREFIX + text).encode()[start:cut_byte]
        budget_u = [max_prefix_passes]
        if r_u:
            num = scorer.sequence(full[:kept], _encode(tok, r_u.decode("utf-8", "replace") + cont))
            den = scorer.prefix(full[:kept], r_u, budget_u)
            uncut = num - math.log(den) if den > 0 else -math.inf
        else:
            uncut = scorer.sequence(full[:kept], _encode(tok, cont))
        rows.append({"schema": key, "cut_at": c, "chars": chars, "window": cont, "k": h.k,
                     "removed": h.removed.decode("utf-8", "replace"), "mid_token": bool(r_u),
                     "cut": cut, "healed": healed, "uncut": uncut,
                     "prefix_exact": budget[0] > 0 and budget_u[0] > 0})
        if progress:
            progress(len(rows), n)
    return {"kind": "healing", "n": len(rows), "seed": seed, "window": window, "rows": rows,
            "forward_passes": scorer.passes, "seconds": time.perf_counter() - t0}


def summarize(payload: dict) -> list[list]:
    rows = payload["rows"]

    def stats(sel, label):
        if not sel:
            return [label, 0, "-", "-", "-", "-", "-", "-"]
        m = lambda k: sum(r[k] for r in sel) / len(sel)  # noqa: E731
        cut, healed, uncut = m("cut"), m("healed"), m("uncut")
        gap = uncut - cut
        closed = (healed - cut) / gap if gap > 0 else float("nan")
        worse = sum(r["healed"] < r["cut"] - 1e-6 for r in sel) / len(sel)
        return [label, len(sel), f"{cut:.2f}", f"{healed:.2f}", f"{uncut:.2f}", f"{closed:.0%}",
                f"{worse:.0%}", f"{sum(r['k'] > 0 for r in sel) / len(sel):.0%}"]

    return [stats(rows, "all cuts"),
            stats([r for r in rows if r["mid_token"]], "inside a token"),
            stats([r for r in rows if not r["mid_token"]], "at a token boundary")]


def format_report(payload: dict) -> str:
    head = ["cuts", "n", "LL cut", "LL healed", "LL uncut", "gap closed", "healed < cut", "healed (k>0)"]
    out = format_table(head, summarize(payload))
    exact = sum(r["prefix_exact"] for r in payload["rows"])
    return (out + f"\nmean log-likelihood (nats) of the next {payload['window']} bytes; "
            f"{payload['n']} cuts, {payload['forward_passes']} forward passes, {payload['seconds']:.0f} s; "
            f"prefix sums exact on {exact}/{payload['n']}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", nargs="?", default=None, help="MaskBench folder (default: ../shared/data/maskbench)")
    p.add_argument("-n", type=int, default=200, help="cuts (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--window", type=int, default=32, help="continuation bytes scored (default 32)")
    p.add_argument("--max-len", type=int, default=600, help="longest instance used, bytes (default 600)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", metavar="FILE", help="also write every cut as JSON")


def _default_data() -> str:
    here = Path(__file__).resolve().parents[3] / "shared" / "data" / "maskbench"
    return str(here)


def main(args) -> int:
    import torch

    from ..models import load_default_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = load_default_model(progress=lambda m: print(m, file=sys.stderr))
    payload = run_healing(model, tok, args.data_dir or _default_data(), n=args.n, seed=args.seed,
                          window=args.window, max_len=args.max_len,
                          progress=lambda i, n: print(f"\r{i}/{n}", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    print(format_report(payload))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(payload, f, ensure_ascii=False, indent=1)
    return 0
