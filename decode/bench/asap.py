"""``python -m decode.bench asap``: grammar-aligned sampling (ASAp) against token masking on SmolLM2.

Why: token masking samples ``p(y) / prod_t Z_t`` instead of the model's law restricted to the
language, ``pi(y) ∝ p(y) 1[y in L]``; ASAp (``decode.GrammarAligned``) claims to converge to
``pi`` over repeated draws for one prompt.  This benchmark measures that claim the way the GAD
paper does (Park et al. 2024, ``scripts/plot/plot.py``; ALGORITHMS.md 2.3):

- the reference law ``P^`` is the model's probability ``p(y)`` (EOS included) renormalised
  over every distinct output either method sampled (``pi`` itself is unknown: the constraint
  allows every tokenization of every string);
- the metric is ``KL(Q_window || P^)``, ``Q_window`` the empirical law of a sliding window of
  ``n/4`` consecutive samples, against the index of the window's last sample.

"Output" is read two ways, both reported: the output *string* (the paper's "distinct strings";
``P^(s)`` sums ``p`` over the tokenizations of ``s`` that were drawn; the targets are judged
on it) and the *token sequence* (stricter: ASAp's own law is over token sequences, so every
draw that explores a new non-canonical tokenization, whose ``p`` is tiny, costs KL there).

Three small grammars where masking is visibly biased, each a finite language (so the budget
never cuts an output): fixed-length binary strings with even parity, 3-character arithmetic
expressions equal to 6, and a small SQL grammar over a toy schema.  ``n`` samples each with
ASAp (one ``GrammarAligned``, drawn in order) and with token masking (``decode.sample(method=
"masked")``), the same seed, temperature 1, each method with its own fresh ``HFTokenLM`` cache.
Forward passes: ASAp's are LM rows for prefixes new to its trie; masking's are its LM rows
(one per token drawn, EOS included), the cost of sampling without a trie.

The issue's targets, reported as measured: ASAp's final-window KL < 0.05 on each grammar,
masking's > 0.2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from .report import format_table

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__all__ = ["GRAMMARS", "AsapGrammar", "add_arguments", "main", "reference_law", "window_kl"]

KL_TARGET_ASAP = 0.05
KL_TARGET_MASKED = 0.2


@dataclass
class AsapGrammar:
    """One benchmark language: a constraint given as ``decode.Regex`` / ``decode.Lark`` text and
    the user message that asks for it."""

    name: str
    kind: str          # "regex" or "lark"
    text: str
    prompt: str


def _parity_regex(bits: int) -> str:
    words = [format(i, f"0{bits}b") for i in range(2 ** bits)]
    return "(" + "|".join(w for w in words if w.count("1") % 2 == 0) + ")"


def _equals_regex(value: int) -> str:
    exprs = [f"{a}{op}{b}" for a in range(10) for b in range(10) for op in "+*"
             if (a + b if op == "+" else a * b) == value]
    return "(" + "|".join(e.replace("+", r"\+").replace("*", r"\*") for e in exprs) + ")"


SQL_GRAMMAR = r'''
start: "SELECT " column " FROM " table where?
column: "name" | "age" | "*"
table: "users" | "orders"
where: " WHERE id = " DIGIT
DIGIT: "1" | "2" | "3"
'''

GRAMMARS: tuple[AsapGrammar, ...] = (
    AsapGrammar("parity", "regex", _parity_regex(4),
                "Write a binary string of exactly 4 digits with an even number of 1s. Answer with the string only."),
    AsapGrammar("arithmetic", "regex", _equals_regex(6),
                "Write an arithmetic expression of exactly 3 characters (a digit, + or *, a digit) that equals 6. "
                "Answer with the expression only."),
    AsapGrammar("sql", "lark", SQL_GRAMMAR,
                "Tables: users(id, name, age), orders(id, user_id, total). Write one short SQL query. "
                "Answer with the query only."),
)


# --- the metric (pure functions, tested without a model) -------------------------------------

def reference_law(logp: dict) -> dict:
    """``P^``: the sequences' model log-probabilities renormalised over the sequences given."""
    m = max(logp.values())
    w = {y: math.exp(v - m) for y, v in logp.items()}
    total = sum(w.values())
    return {y: v / total for y, v in w.items()}


def window_kl(samples: Sequence, law: dict, window: int, stride: int = 1) -> list[tuple[int, float]]:
    """``KL(empirical law of samples[i-window:i] || law)`` for ``i = window, window+stride, ...``
    (and the last index), as ``(i, kl)``; ``law`` must cover every sample."""
    if window < 1 or window > len(samples):
        return []
    counts = Counter(samples[:window])
    out = []

    def kl() -> float:
        return sum(c / window * math.log(c / window / law[y]) for y, c in counts.items() if c)

    ends = list(range(window, len(samples) + 1, stride))
    if ends[-1] != len(samples):
        ends.append(len(samples))
    i = window
    for end in ends:
        while i < end:
            counts[samples[i]] += 1
            counts[samples[i - window]] -= 1
            i += 1
        out.append((end, kl()))
    return out


def sequence_logprobs(lm, prompt: list[int], seqs, eos_ids, batch: int = 64) -> dict:
    """``log p(y EOS)`` of each token sequence (EOS: any of ``eos_ids``), from one LM row per prefix."""
    import numpy as np

    contexts = sorted({tuple(y[:t]) for y in seqs for t in range(len(y) + 1)})
    rows: dict = {}
    for k in range(0, len(contexts), batch):
        chunk = contexts[k:k + batch]
        lp = lm.logprobs([prompt + list(c) for c in chunk]).detach().double().cpu().numpy()
        for c, r in zip(chunk, lp):
            rows[c] = r
    eos = np.asarray(list(eos_ids), dtype=np.int64)
    out = {}
    for y in seqs:
        s = sum(float(rows[tuple(y[:t])][tok]) for t, tok in enumerate(y))
        r = rows[tuple(y)][eos]
        m = float(r.max())
        out[tuple(y)] = s + m + math.log(float(np.exp(r - m).sum()))
    return out


# --- the run ----------------------------------------------------------------------------------

def run_grammar(model, tok, vocab, g: AsapGrammar, *, n: int, seed: int, max_new_tokens: int, log) -> dict:
    import decode
    from decode.bench.samplers import CountingLM
    from decode.constraints import as_compiled
    from decode.lms.hf import HFTokenLM
    from decode.prompts import encode_prompt

    compiled = as_compiled(decode.Regex(g.text) if g.kind == "regex" else decode.Lark(g.text), vocab)
    prompt = encode_prompt(tok, [{"role": "user", "content": g.prompt}])
    lm_a = CountingLM(HFTokenLM(model, tok, vocab=vocab))
    ga = decode.GrammarAligned(lm_a, prompt, compiled, max_new_tokens=max_new_tokens)
    t0 = time.perf_counter()
    asap = ga.sample(n, seed=seed)
    asap_s = time.perf_counter() - t0
    log(f"  {g.name}: ASAp {n} samples in {asap_s:.0f} s, {asap.stats['forward_calls']} forward passes, "
        f"{asap.stats['trie_nodes']} trie nodes")
    lm_m = CountingLM(HFTokenLM(model, tok, vocab=vocab))
    t0 = time.perf_counter()
    masked = decode.sample(lm_m, prompt, compiled, method="masked", n=n, max_new_tokens=max_new_tokens, seed=seed)
    masked_s = time.perf_counter() - t0
    log(f"  {g.name}: masked {n} samples in {masked_s:.0f} s, {lm_m.rows} LM rows")
    seqs_a = [tuple(y) for y, f in zip(asap.token_ids, asap.finished) if f]
    seqs_m = [tuple(y) for y, f in zip(masked.token_ids, masked.finished) if f]
    union = sorted(set(seqs_a) | set(seqs_m))
    logp = sequence_logprobs(lm_a.lm, prompt, union, vocab.eos_ids.tolist())
    law = reference_law(logp)
    window = max(1, n // 4)
    stride = max(1, n // 200)
    text = {y: vocab.decode_bytes(y).decode("utf-8", errors="replace") for y in union}
    string_law: dict = {}
    for y, p in law.items():
        string_law[text[y]] = string_law.get(text[y], 0.0) + p
    kl_a = window_kl([text[y] for y in seqs_a], string_law, window, stride=stride)
    kl_m = window_kl([text[y] for y in seqs_m], string_law, window, stride=stride)
    kl_a_tok = window_kl(seqs_a, law, window, stride=stride)
    kl_m_tok = window_kl(seqs_m, law, window, stride=stride)
    sq = sum(p * p for p in law.values())
    last = lambda seqs: sum(law[y] for y in seqs[-window:]) / max(1, len(seqs[-window:]))  # noqa: E731
    top = sorted(string_law, key=lambda t: -string_law[t])[:8]
    tokenizations = Counter(text[y] for y in union)
    last_a = [text[y] for y in seqs_a[-window:]]
    last_m = [text[y] for y in seqs_m[-window:]]
    return {
        "grammar": g.name, "n": n, "window": window, "distinct": len(union),
        "distinct_texts": len(set(text.values())),
        "asap": {"kl": kl_a, "final_kl": kl_a[-1][1] if kl_a else math.nan, "kl_tokens": kl_a_tok,
                 "final_kl_tokens": kl_a_tok[-1][1] if kl_a_tok else math.nan, "seconds": asap_s,
                 "forward_calls": asap.stats["forward_calls"], "tokens_drawn": asap.stats["tokens_drawn"],
                 "trie_hits": asap.stats["trie_hits"], "trie_nodes": asap.stats["trie_nodes"],
                 "restarts": asap.stats["restarts"], "finished": len(seqs_a), "root_efg": asap.stats["root_efg"],
                 "mean_phat": last(seqs_a)},
        "masked": {"kl": kl_m, "final_kl": kl_m[-1][1] if kl_m else math.nan, "kl_tokens": kl_m_tok,
                   "final_kl_tokens": kl_m_tok[-1][1] if kl_m_tok else math.nan, "seconds": masked_s,
                   "lm_rows": lm_m.rows, "forward_calls": masked.stats["forward_calls"], "finished": len(seqs_m),
                   "mean_phat": last(seqs_m)},
        "sum_phat_sq": sq,
        "asap_texts": [text[y] for y in seqs_a], "masked_texts": [text[y] for y in seqs_m],
        "string_law": string_law,
        "top": [{"text": t, "tokenizations": tokenizations[t], "phat": string_law[t],
                 "asap_freq": last_a.count(t) / max(1, len(last_a)),
                 "masked_freq": last_m.count(t) / max(1, len(last_m))} for t in top],
    }


def format_results(results: Sequence[dict], *, markdown: bool = False) -> str:
    hdr = ["grammar", "strings / token seqs", "KL ASAp", "KL masked", "KL ASAp (tok)", "KL masked (tok)", "ASAp fwd",
           "ASAp tokens", "saved", "masked rows", "ASAp s", "masked s", "E[P^] ASAp / masked / sum P^2"]
    lines = []
    for r in results:
        a, m = r["asap"], r["masked"]
        saved = 1 - a["forward_calls"] / a["tokens_drawn"] if a["tokens_drawn"] else math.nan
        lines.append([r["grammar"], f"{r['distinct_texts']} / {r['distinct']}", f"{a['final_kl']:.3f}",
                      f"{m['final_kl']:.3f}", f"{a['final_kl_tokens']:.3f}", f"{m['final_kl_tokens']:.3f}",
                      str(a["forward_calls"]), str(a["tokens_drawn"]), f"{100 * saved:.0f}%", str(m["lm_rows"]),
                      f"{a['seconds']:.0f}", f"{m['seconds']:.0f}",
                      f"{a['mean_phat']:.3f} / {m['mean_phat']:.3f} / {r['sum_phat_sq']:.3f}"])
    return format_table(hdr, lines, markdown=markdown)


def format_top(r: dict, *, markdown: bool = False) -> str:
    hdr = ["output", "tokenizations drawn", "P^", "ASAp freq", "masked freq"]
    lines = [[repr(t["text"]), str(t["tokenizations"]), f"{t['phat']:.3f}", f"{t['asap_freq']:.3f}",
              f"{t['masked_freq']:.3f}"] for t in r["top"]]
    return format_table(hdr, lines, markdown=markdown)


def plot_kl(results: Sequence[dict], path: str) -> str:
    """One panel per grammar: window KL against the sample index, ASAp and masking."""
    from pathlib import Path

    from .plots import COLORS, _plt, _save

    plt = _plt()
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.2), squeeze=False)
    for ax, r in zip(axes[0], results):
        for key, label, color in (("asap", "ASAp", COLORS[0]), ("masked", "token masking", COLORS[1])):
            pts = r[key]["kl"]
            ax.plot([i for i, _ in pts], [k for _, k in pts], label=f"{label} (strings)", color=color, lw=1.5)
            pts = r[key]["kl_tokens"]
            ax.plot([i for i, _ in pts], [k for _, k in pts], label=f"{label} (token seqs)", color=color, lw=1,
                    ls=":")
        ax.axhline(KL_TARGET_ASAP, color="grey", ls=":", lw=1)
        ax.axhline(KL_TARGET_MASKED, color="grey", ls="--", lw=1)
        ax.set_title(f"{r['grammar']} ({r['distinct_texts']} strings, {r['distinct']} token seqs)", fontsize=10)
        ax.set_xlabel("sample index")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("KL(window of n/4 || P^)")
    axes[0][0].legend(fontsize=8)
    return _save(fig, Path(path))


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags (no torch imported to build them)."""
    p.add_argument("--n", type=int, default=1000, help="samples per method and grammar (default 1000)")
    p.add_argument("--grammars", default=",".join(g.name for g in GRAMMARS),
                   help=f"comma-separated subset of {', '.join(g.name for g in GRAMMARS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-new-tokens", type=int, default=48, help="token budget (default 48; the languages "
                                                                  "are finite and fit)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--plot", metavar="PNG", default=None, help="write the window-KL plot there (needs matplotlib)")
    p.add_argument("--markdown", action="store_true", help="Markdown tables")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")


def main(args: argparse.Namespace) -> int:
    import torch

    from .. import models
    from ..constraints import get_vocabulary
    from ..lm import logits_width
    from .output import write_json

    if args.threads:
        torch.set_num_threads(args.threads)
    by_name = {g.name: g for g in GRAMMARS}
    names = [s.strip() for s in args.grammars.split(",") if s.strip()]
    unknown = [s for s in names if s not in by_name]
    if unknown:
        print(f"asap benchmark: unknown grammar(s) {unknown}; choose from {sorted(by_name)}", file=sys.stderr)
        return 2
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    model, tok = models.load_default_model(progress=None)
    vocab = get_vocabulary(tok, logits_width(model))
    t0 = time.perf_counter()
    results = []
    for name in names:
        results.append(run_grammar(model, tok, vocab, by_name[name], n=args.n, seed=args.seed,
                                   max_new_tokens=args.max_new_tokens, log=log))
    print(f"\nSmolLM2-135M-Instruct on CPU, torch threads {torch.get_num_threads()}; n={args.n} samples per method, "
          f"window n/4, temperature 1, seed {args.seed}; {time.perf_counter() - t0:.0f} s")
    print(format_results(results, markdown=args.markdown))
    for r in results:
        print(f"\n{r['grammar']}: most likely outputs under P^ (strings) and their frequencies in the last window")
        print(format_top(r, markdown=args.markdown))
    ok_a = all(r["asap"]["final_kl"] < KL_TARGET_ASAP for r in results)
    ok_m = all(r["masked"]["final_kl"] > KL_TARGET_MASKED for r in results)
    print(f"\ntarget 'ASAp final-window KL (strings) < {KL_TARGET_ASAP} on each grammar': {'holds' if ok_a else 'does NOT hold'}")
    print(f"target 'masked final-window KL (strings) > {KL_TARGET_MASKED} on each grammar': "
          f"{'holds' if ok_m else 'does NOT hold'}")
    print("KL: KL(empirical law of the last n/4 samples || P^), P^ = the model's p(y) renormalised over every "
          "distinct output either method drew, outputs read as strings (the targets) or as token sequences (tok); fwd: LM rows (ASAp: prefixes new to its trie; masked: one "
          "per token drawn); saved: ASAp's token draws served by the trie without a forward pass.")
    if args.plot:
        print(plot_kl(results, args.plot))
    if args.json:
        write_json(args.json, {"kind": "asap", "config": vars(args) | {"plot": args.plot}, "results": results},
                   indent=2)
    return 0
