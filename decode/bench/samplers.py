"""``python -m decode.bench samplers``: the samplers of ``decode.sample`` side by side on SmolLM2.

Why: AWRS (adaptive weighted rejection sampling) is worth having only if checking the few
tokens it samples is cheaper than the full vocabulary mask token masking computes at every
step -- above all on a cold grammar, where every mask is computed for the first time.  This
benchmark measures that claim instead of assuming it: the same constraints, prompts, token
budget and seed through ``masked``, ``awrs``, ``smc`` with the AWRS proposal and ``smc`` with
the exact-mask proposal, and per run

- **tok/s**: token draws (one per live sequence per step, EOS included; counted as the rows the
  LM was asked for) over the wall time of :func:`decode.sample`;
- **checks/tok**: constraint checks per draw, where a full mask counts ``|V|`` checks (it decides
  every token) and a single-token AWRS check counts 1 -- so masked sampling sits at ``|V|`` and
  AWRS at ``stats["tokens_checked"] / draws`` plus ``|V|`` per rejection-cap fallback mask;
- **masks** (full masks filled), **fwd** (LM calls), **checks** (single-token checks).

Every run compiles its constraint from cold caches (``constrain.clear_caches()`` first) and
gets a fresh :class:`decode.HFTokenLM` (no KV state carried from another sampler's run), so no
sampler profits from the work of the one before it.  Constraints: ``--sample`` MaskBench
development schemas (``$DATA/maskbench``, drawn as :func:`decode.bench.maskbench.load_sample`
draws) plus the shipped ``sql`` and ``arithmetic`` Lark grammars.

The issue's targets are reported as measured, not tuned for: AWRS checks >= 10x fewer tokens
per step than a full mask, and AWRS tok/s >= masked tok/s on cold grammars.

``--genlm-python PY`` also runs genlm-control (an interpreter where ``genlm-control`` is
installed, e.g. ``/tmp/genlm-venv/bin/python``) on one shared SMC task (the same SmolLM2
weights from ``decode.models``' cache, the same prompt ids, regex, particles and token budget)
in a subprocess, and prints seconds per SMC run and the weighted posterior next to ours.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .report import format_table

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__all__ = ["SAMPLERS", "BenchConstraint", "CountingLM", "add_arguments", "main", "run_core", "summarize"]

#: (label, method, proposal) for ``decode.sample``
SAMPLERS: tuple[tuple[str, str, str], ...] = (
    ("masked", "masked", "awrs"),
    ("awrs", "awrs", "awrs"),
    ("smc-awrs", "smc", "awrs"),
    ("smc-masked", "smc", "masked"),
)

#: the shared genlm-control task: a short regex whose outputs end well inside the budget, so
#: neither library's treatment of sequences cut by the budget matters
#: the shared SMC task: a JSON answer whose value can be checked (several tokens per output, most
#: of them forced by the constraint, so the per-token work of both engines shows)
GENLM_PROMPT = [{"role": "user", "content": 'Is the sky blue? Answer in JSON, {"answer": "yes"}, '
                                            '{"answer": "no"} or {"answer": "maybe"}.'}]
GENLM_REGEX = r'\{"answer": "(yes|no|maybe)"\}'


@dataclass
class BenchConstraint:
    """One benchmark constraint: how to compile it (cold) and the chat prompt that goes with it."""

    name: str
    kind: str                      # "json" or "lark"
    compile: Callable              # vocab -> constrain.Compiled
    messages: list


class CountingLM:
    """A ``TokenLM`` wrapper counting the rows asked for: one row is one token draw.

    Why: ``decode.sample``'s stats count LM calls and checks but not draws, and a draw is
    the unit every per-token figure of this table divides by (SMC's resampled copies included,
    since each live particle draws its own token).  It also times the LM calls, so the
    benchmark can report the rest (masks, checks, sampling, resampling) per draw: the part in
    which the samplers differ, which the forward pass otherwise drowns on CPU."""

    def __init__(self, lm):
        self.lm = lm
        self.vocab = lm.vocab
        self.rows = 0
        self.seconds = 0.0  # inside the LM: what every sampler pays alike

    def logprobs(self, contexts):
        self.rows += len(contexts)
        t = time.perf_counter()
        out = self.lm.logprobs(contexts)
        self.seconds += time.perf_counter() - t
        return out


def _default_data_dir() -> str:
    if os.environ.get("DATA"):
        return os.path.join(os.environ["DATA"], "maskbench")
    return str(Path(__file__).resolve().parents[3] / "shared" / "data" / "maskbench")


def _schema_prompt(schema) -> list:
    text = json.dumps(schema, ensure_ascii=False)
    if len(text) > 1500:  # a long schema only lengthens the prompt; the constraint has all of it
        text = text[:1500] + " ..."
    return [{"role": "user", "content": f"Write a JSON value that matches this JSON Schema:\n{text}"}]


def load_constraints(data_dir: str, sample: int, seed: int = 0, *, lark: bool = True) -> list[BenchConstraint]:
    """``sample`` MaskBench schemas (as ``maskbench.load_sample`` draws them) + the sql and arithmetic grammars."""
    import constrain
    from constrain import grammars

    from .maskbench import load_sample

    out: list[BenchConstraint] = []
    if sample > 0:
        for e in load_sample(data_dir, sample=sample, seed=seed):
            out.append(BenchConstraint(
                f"json:{e.id}", "json",
                lambda v, s=e.schema: constrain.compile_json_schema(s, v, options=constrain.JsonOptions.GENERATION),
                _schema_prompt(e.schema)))
    if lark:
        out.append(BenchConstraint("lark:sql", "lark", lambda v: constrain.compile_lark(grammars.load("sql"), v),
                                   [{"role": "user", "content": "Write an SQL query listing the names of users "
                                                                "older than 30 from the table users."}]))
        out.append(BenchConstraint("lark:arithmetic", "lark",
                                   lambda v: constrain.compile_lark(grammars.load("arithmetic"), v),
                                   [{"role": "user", "content": "Write an arithmetic expression equal to 42."}]))
    return out


def run_core(make_lm: Callable[[], object], constraints: Sequence[tuple[str, Callable, list]], *,
             samplers: Sequence[tuple[str, str, str]] = SAMPLERS, n: int = 4, max_new_tokens: int = 24,
             seed: int = 0, temperature: float = 1.0, log=lambda m: None) -> list[dict]:
    """One row per (constraint, sampler): the counts and rates of one ``decode.sample`` run.

    ``make_lm()``: a fresh ``TokenLM`` for each run; ``constraints``: ``(name, compile(vocab),
    prompt_ids)``.  Each run starts from cold constraint caches.  A constraint that does not
    compile gives one row with ``error`` set (the others still run).
    """
    import constrain
    from constrain.errors import ConstraintError

    from ..sampling import sample

    rows = []
    for name, compile_fn, prompt_ids in constraints:
        for label, method, proposal in samplers:
            constrain.clear_caches()
            lm = CountingLM(make_lm())
            V = int(lm.vocab.size)
            t0 = time.perf_counter()
            try:
                compiled = compile_fn(lm.vocab)
            except ConstraintError as e:
                log(f"  {name}: does not compile ({type(e).__name__}: {str(e)[:120]})")
                rows.append({"constraint": name, "sampler": None, "error": f"{type(e).__name__}: {e}"})
                break
            compile_s = time.perf_counter() - t0
            s = sample(lm, prompt_ids, compiled, method=method, proposal=proposal, n=n,
                       max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
            st = s.stats
            draws = lm.rows
            checks = st["tokens_checked"] + V * st["masks_computed"]
            row = {"constraint": name, "sampler": label, "method": method, "proposal": proposal,
                   "vocab": V, "n": n, "max_new_tokens": max_new_tokens, "compile_s": compile_s,
                   "seconds": st["seconds"], "tokens": draws,
                   "tok_s": draws / st["seconds"] if st["seconds"] > 0 else math.nan,
                   "lm_seconds": lm.seconds, "sampler_seconds": max(0.0, st["seconds"] - lm.seconds),
                   "forward_calls": st["forward_calls"], "masks_computed": st["masks_computed"],
                   "tokens_checked": st["tokens_checked"], "checks": checks,
                   "checks_per_token": checks / draws if draws else math.nan,
                   "single_checks_per_token": st["tokens_checked"] / draws if draws else math.nan,
                   "resamples": st["resamples"], "finished": sum(s.finished),
                   "log_ml": s.log_ml}
            rows.append(row)
            log(f"  {name:40s} {label:10s} {draws:4d} draws {row['tok_s']:7.1f} tok/s "
                f"{row['checks_per_token']:9.1f} checks/tok {st['masks_computed']:4d} masks")
    return rows


def summarize(rows: Sequence[dict]) -> dict:
    """Totals per sampler (draws, seconds, checks, masks, calls over every constraint) and the targets.

    ``targets``: ``awrs_checks_10x`` -- AWRS's checks per draw (fallback masks included) are at
    most a tenth of ``|V|``, the full mask's; ``awrs_faster`` -- AWRS's total draws per second
    are at least masked sampling's.  ``None`` where a sampler is missing.
    """
    per: dict[str, dict] = {}
    for r in rows:
        if r.get("sampler") is None:
            continue
        a = per.setdefault(r["sampler"], {"tokens": 0, "seconds": 0.0, "checks": 0, "masks_computed": 0,
                                          "forward_calls": 0, "tokens_checked": 0, "vocab": r["vocab"], "runs": 0,
                                          "sampler_seconds": 0.0})
        for k in ("tokens", "seconds", "checks", "masks_computed", "forward_calls", "tokens_checked",
                  "sampler_seconds"):
            a[k] += r.get(k, 0.0)
        a["runs"] += 1
    for a in per.values():
        a["tok_s"] = a["tokens"] / a["seconds"] if a["seconds"] > 0 else math.nan
        a["checks_per_token"] = a["checks"] / a["tokens"] if a["tokens"] else math.nan
        a["reduction"] = a["vocab"] / a["checks_per_token"] if a["checks_per_token"] else math.inf
        a["sampler_ms_per_token"] = 1000 * a["sampler_seconds"] / a["tokens"] if a["tokens"] else math.nan
    targets = {"awrs_checks_10x": None, "awrs_faster": None}
    if "awrs" in per:
        targets["awrs_checks_10x"] = bool(per["awrs"]["reduction"] >= 10)
        if "masked" in per:
            targets["awrs_faster"] = bool(per["awrs"]["tok_s"] >= per["masked"]["tok_s"])
    return {"per_sampler": per, "targets": targets}


def format_rows(rows: Sequence[dict], *, markdown: bool = False) -> str:
    hdr = ["constraint", "sampler", "draws", "tok/s", "checks/tok", "|V|/checks", "masks", "checks", "fwd",
           "finished", "compile s"]
    lines = []
    for r in rows:
        if r.get("sampler") is None:
            lines.append([r["constraint"], "-", "compile error: " + r["error"][:60]] + [""] * (len(hdr) - 3))
            continue
        cpt = r["checks_per_token"]
        lines.append([r["constraint"], r["sampler"], str(r["tokens"]), f"{r['tok_s']:.1f}", f"{cpt:.1f}",
                      f"{r['vocab'] / cpt:.0f}x" if cpt else "inf", str(r["masks_computed"]),
                      str(r["tokens_checked"]), str(r["forward_calls"]), f"{r['finished']}/{r['n']}",
                      f"{r['compile_s']:.2f}"])
    return format_table(hdr, lines, markdown=markdown)


def format_summary(summary: dict, *, markdown: bool = False) -> str:
    hdr = ["sampler", "runs", "draws", "seconds", "tok/s", "ms/tok outside the LM", "checks/tok", "|V|/checks",
           "masks", "fwd"]
    lines = []
    for name, a in summary["per_sampler"].items():
        lines.append([name, str(a["runs"]), str(a["tokens"]), f"{a['seconds']:.1f}", f"{a['tok_s']:.1f}",
                      f"{a.get('sampler_ms_per_token', math.nan):.2f}",
                      f"{a['checks_per_token']:.1f}", f"{a['reduction']:.0f}x", str(a["masks_computed"]),
                      str(a["forward_calls"])])
    t = summary["targets"]
    verdict = lambda x: "n/a" if x is None else ("holds" if x else "does NOT hold")  # noqa: E731
    return (format_table(hdr, lines, markdown=markdown)
            + f"\n\ntarget 'AWRS checks >= 10x fewer tokens per step than a full mask': {verdict(t['awrs_checks_10x'])}"
            + f"\ntarget 'AWRS tok/s >= masked tok/s on cold grammars': {verdict(t['awrs_faster'])}")


# --- genlm-control, in its own interpreter ----------------------------------------------------

GENLM_WORKER = r'''
import asyncio, json, sys, time
cfg = json.load(sys.stdin)
import numpy as np
import torch
torch.manual_seed(cfg["seed"]); np.random.seed(cfg["seed"])
torch.set_num_threads(cfg["threads"])
from genlm.control import AWRS, SMC, BoolFSA, PromptedLLM
t0 = time.perf_counter()
llm = PromptedLLM.from_name(cfg["model_dir"], backend="hf",
                            hf_opts={"device_map": None, "torch_dtype": torch.float32})
llm.prompt_ids = list(cfg["prompt_ids"])
fsa = BoolFSA.from_regex(cfg["regex"])
smc = SMC(AWRS(llm, fsa.coerce(llm, f=b"".join), seed=cfg["seed"]))
load_s = time.perf_counter() - t0
async def go():
    out = []
    for _ in range(cfg["runs"]):
        t, c = time.perf_counter(), time.process_time()
        seqs = await smc(n_particles=cfg["n"], ess_threshold=cfg["ess_threshold"], max_tokens=cfg["max_tokens"])
        dt, dc = time.perf_counter() - t, time.process_time() - c
        post = {str(k): float(v) for k, v in seqs.decoded_posterior.items()}
        out.append({"seconds": dt, "cpu_seconds": dc, "posterior": post, "log_ml": float(seqs.log_ml)})
    return out
print(json.dumps({"load_s": load_s, "runs": asyncio.run(go())}))
'''


def run_genlm(python: str, *, model_dir: str, prompt_ids: list[int], regex: str, n: int, max_tokens: int,
              runs: int, seed: int, ess_threshold: float = 0.5, threads: int = 2, timeout_s: float = 900) -> dict:
    """genlm-control's SMC (AWRS token sampler, BoolFSA regex condition) in interpreter ``python``.

    Returns ``{"load_s", "runs": [{"seconds", "posterior", "log_ml"}]}``, or ``{"error": ...}``
    with the worker's last stderr lines when it fails (a missing package, an API change)."""
    cfg = {"model_dir": model_dir, "prompt_ids": prompt_ids, "regex": regex, "n": n, "max_tokens": max_tokens,
           "runs": runs, "seed": seed, "ess_threshold": ess_threshold, "threads": threads}
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    try:
        p = subprocess.run([python, "-c", GENLM_WORKER], input=json.dumps(cfg), capture_output=True, text=True,
                           timeout=timeout_s, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": f"{type(e).__name__}: {e}"}
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: " + "\n".join(p.stderr.strip().splitlines()[-6:])}
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": "unreadable worker output: " + p.stdout[-500:]}


def _posterior_text(post: dict, k: int = 4) -> str:
    items = sorted(post.items(), key=lambda kv: -kv[1])[:k]
    return ", ".join(f"{t!r}: {w:.2f}" for t, w in items) or "(no finished particle)"


def compare_genlm(model, tok, python: str, *, n: int, runs: int, seed: int, max_new_tokens: int,
                  threads: int = 2, log=print) -> dict:
    """The shared SMC task through ``decode.sample`` (SMC, AWRS proposal) and through genlm-control."""
    import constrain

    from .. import models
    from ..constraints import get_vocabulary
    from ..lms.hf import HFTokenLM
    from ..lm import logits_width
    from ..prompts import encode_prompt
    from ..sampling import sample

    prompt_ids = encode_prompt(tok, GENLM_PROMPT)
    full = get_vocabulary(tok, logits_width(model))
    # genlm-control's EOS is the tokenizer's eos_token alone (<|im_end|>); structgen's vocabulary
    # also ends on <|endoftext|>, which gives the same strings another end probability: the
    # same EOS set, or the two engines target different laws
    vocab = constrain.Vocabulary.from_token_bytes(list(full.token_bytes), eos_ids=[int(tok.eos_token_id)])
    compiled = constrain.compile_regex(GENLM_REGEX, vocab)
    ours = []
    # one LM (and its cache) for every run, as genlm-control's worker keeps one PromptedLLM
    lm = HFTokenLM(model, tok, vocab=vocab)
    for r in range(runs):
        c = time.process_time()
        s = sample(lm, prompt_ids, compiled, method="smc", proposal="awrs", n=n, max_new_tokens=max_new_tokens,
                   seed=seed + r)
        ours.append({"seconds": s.stats["seconds"], "cpu_seconds": time.process_time() - c,
                     "posterior": s.posterior(), "log_ml": s.log_ml})
    log(f"  genlm-control ({python}): {runs} SMC runs of {n} particles ...")
    theirs = run_genlm(python, model_dir=str(models.convert_smollm2_model()), prompt_ids=prompt_ids,
                       regex=GENLM_REGEX, n=n, max_tokens=max_new_tokens, runs=runs, seed=seed,
                       threads=threads)
    return {"regex": GENLM_REGEX, "prompt": GENLM_PROMPT, "n": n, "max_new_tokens": max_new_tokens,
            "structgen": ours, "genlm": theirs}


def posterior_stats(runs: Sequence[dict]) -> dict[str, tuple[float, float]]:
    """Per answer: the mean of its posterior weight over runs and the standard error of that mean.

    A run is one SMC estimate of the posterior; runs are independent, so two engines that
    sample the same law have means that differ by about their combined standard errors."""
    answers = sorted({t for r in runs for t in r["posterior"]})
    out = {}
    for t in answers:
        w = [float(r["posterior"].get(t, 0.0)) for r in runs]
        se = statistics.stdev(w) / math.sqrt(len(w)) if len(w) > 1 else math.nan
        out[t] = (statistics.fmean(w), se)
    return out


def posterior_gap(a: Sequence[dict], b: Sequence[dict]) -> tuple[str, float]:
    """The answer whose mean posterior weight differs most between two engines, in combined
    standard errors (|z|; |z| < 2 everywhere: equal within sampling noise)."""
    pa, pb = posterior_stats(a), posterior_stats(b)
    worst, z_max = "", 0.0
    for t in sorted(set(pa) | set(pb)):
        (ma, sa), (mb, sb) = pa.get(t, (0.0, 0.0)), pb.get(t, (0.0, 0.0))
        se = math.sqrt((sa if math.isfinite(sa) else 0.0) ** 2 + (sb if math.isfinite(sb) else 0.0) ** 2)
        z = abs(ma - mb) / se if se > 0 else (0.0 if ma == mb else math.inf)
        if z >= z_max:
            worst, z_max = t, z
    return worst, z_max


def format_genlm(cmp: dict, *, markdown: bool = False) -> str:
    hdr = ["engine", "runs", "s/run (median)", "s/run (mean)", "CPU s/run (median)", "log_ml (mean)",
           "posterior: mean weight +- s.e. over runs"]
    lines = []
    engines = (("structgen", cmp["structgen"]), ("genlm-control 0.4.1", cmp["genlm"].get("runs")))
    for name, runs in engines:
        if not runs:
            lines.append([name, "0", "-", "-", "-", "-", "error: " + cmp["genlm"].get("error", "?")[:200]])
            continue
        secs = sorted(r["seconds"] for r in runs)
        lml = [r["log_ml"] for r in runs if r["log_ml"] is not None and math.isfinite(r["log_ml"])]
        post = sorted(posterior_stats(runs).items(), key=lambda kv: -kv[1][0])
        cpu = sorted(r.get("cpu_seconds", math.nan) for r in runs)
        lines.append([name, str(len(runs)), f"{secs[len(secs) // 2]:.3f}", f"{sum(secs) / len(secs):.3f}",
                      f"{cpu[len(cpu) // 2]:.3f}",
                      f"{sum(lml) / len(lml):.3f}" if lml else "-inf",
                      ", ".join(f"{t!r}: {m:.3f} +- {se:.3f}" for t, (m, se) in post[:4])])
    text = (f"SMC, AWRS proposal, regex {cmp['regex']!r}, {cmp['n']} particles, budget {cmp['max_new_tokens']} "
            f"tokens, ESS threshold 0.5\n\n" + format_table(hdr, lines, markdown=markdown))
    ours, theirs = cmp["structgen"], cmp["genlm"].get("runs")
    if ours and theirs and len(ours) > 1 and len(theirs) > 1:
        t, z = posterior_gap(ours, theirs)
        def median(runs, key):
            return sorted(r.get(key, math.nan) for r in runs)[len(runs) // 2]

        ratio = median(theirs, "seconds") / median(ours, "seconds")
        cpu_ratio = median(theirs, "cpu_seconds") / median(ours, "cpu_seconds")
        text += (f"\n\nmedian s/run, genlm-control / structgen: {ratio:.2f}x (CPU s/run: {cpu_ratio:.2f}x); "
                 f"largest posterior gap: {t!r} at "
                 f"|z| = {z:.2f} ({'equal' if z < 2 else 'NOT equal'} within sampling noise, |z| < 2)")
    return text


def plot_summary(summary: dict, path: str) -> str:
    """Two panels per sampler: constraint checks per draw (log scale, |V| for a full mask) and
    milliseconds per draw outside the LM (the work in which the samplers differ)."""
    from .plots import COLORS, _plt, _save

    plt = _plt()
    per = summary["per_sampler"]
    names = list(per)
    colors = [COLORS[i % len(COLORS)] for i in range(len(names))]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.bar(names, [per[n]["checks_per_token"] for n in names], color=colors)
    a.set_yscale("log")
    a.set_ylabel("constraint checks per draw")
    a.set_title("checks (a full mask = |V|)")
    b.bar(names, [per[n].get("sampler_ms_per_token", math.nan) for n in names], color=colors)
    b.set_ylabel("ms per draw outside the LM")
    b.set_title("masks, checks, sampling, resampling")
    for ax in (a, b):
        ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    return _save(fig, Path(path))


# --- the command ------------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags (no torch imported to build them)."""
    p.add_argument("--data-dir", default=None, help="MaskBench folder (default: $DATA/maskbench, else "
                                                    "../shared/data/maskbench next to the repository)")
    p.add_argument("--sample", type=int, default=20, help="MaskBench development schemas drawn (default 20)")
    p.add_argument("--seed", type=int, default=0, help="schema draw and sampling seed (default 0)")
    p.add_argument("--n", type=int, default=4, help="samples / particles per run (default 4)")
    p.add_argument("--max-new-tokens", type=int, default=24, help="token budget per sequence (default 24)")
    p.add_argument("--no-lark", action="store_true", help="skip the sql and arithmetic grammars")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--genlm-python", default=None, metavar="PY",
                   help="an interpreter with genlm-control installed: also run the shared SMC task there")
    p.add_argument("--genlm-runs", type=int, default=3, help="SMC runs per engine for --genlm-python (default 3)")
    p.add_argument("--genlm-particles", type=int, default=None, metavar="N",
                   help="particles per SMC run for --genlm-python (default: --n)")
    p.add_argument("--genlm-only", action="store_true",
                   help="run only the genlm-control comparison (needs --genlm-python)")
    p.add_argument("--markdown", action="store_true", help="Markdown tables")
    p.add_argument("--json", metavar="FILE", help="also write rows, summary (and the genlm comparison) as JSON")
    p.add_argument("--plot", metavar="PNG", default=None,
                   help="write the per-sampler checks and time-outside-the-LM plot there (needs matplotlib)")


def main(args: argparse.Namespace) -> int:
    import torch

    from .. import models
    from ..constraints import get_vocabulary
    from ..lm import logits_width
    from ..lms.hf import HFTokenLM
    from ..prompts import encode_prompt
    from .output import write_json

    if args.threads:
        torch.set_num_threads(args.threads)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    data_dir = args.data_dir or _default_data_dir()
    if args.genlm_only and not args.genlm_python:
        log("--genlm-only needs --genlm-python")
        return 2
    cons = [] if args.genlm_only else load_constraints(data_dir, args.sample, args.seed, lark=not args.no_lark)
    runs = len(cons) * len(SAMPLERS)
    # measured on 2 shared CPU cores (docs/benchmarks.md): ~1.5 s compile per run; masked and AWRS
    # draw ~40 tokens/s, SMC (either proposal) ~3 tokens/s
    draws = args.n * args.max_new_tokens
    est = runs * 1.5 + len(cons) * (2 * draws / 40 + 2 * draws / 3)
    if args.genlm_python:
        est += 60 + args.genlm_runs * 20
    log(f"samplers benchmark: {len(cons)} constraints x {len(SAMPLERS)} samplers = {runs} runs, n={args.n}, "
        f"max {args.max_new_tokens} tokens; expected duration ~{est / 60:.1f} min on 2 CPU cores")
    model, tok = models.load_default_model(progress=None)
    vocab = get_vocabulary(tok, logits_width(model))
    payload = {"kind": "samplers", "config": {"data_dir": data_dir, "sample": args.sample, "seed": args.seed,
                                              "n": args.n, "max_new_tokens": args.max_new_tokens}}
    if cons:
        t0 = time.perf_counter()
        core = [(c.name, c.compile, encode_prompt(tok, c.messages)) for c in cons]
        rows = run_core(lambda: HFTokenLM(model, tok, vocab=vocab), core, n=args.n,
                        max_new_tokens=args.max_new_tokens, seed=args.seed, log=log)
        summary = summarize(rows)
        print(f"\nSmolLM2-135M-Instruct on CPU, torch threads {torch.get_num_threads()}; {len(cons)} constraints, "
              f"n={args.n}, max {args.max_new_tokens} new tokens, temperature 1, seed {args.seed}; "
              f"{time.perf_counter() - t0:.0f} s")
        print(format_rows(rows, markdown=args.markdown))
        print("\nper sampler, all constraints:")
        print(format_summary(summary, markdown=args.markdown))
        print("\ndraws: token draws (one per live sequence per step, EOS included); checks/tok: constraint checks "
              "per draw, a full mask counting |V| and a single-token AWRS check 1; masks: full masks filled; fwd: LM "
              "calls; every run compiles from cold caches with a fresh LM cache.")
        payload.update(rows=rows, summary=summary)
        if args.plot:
            print(plot_summary(summary, args.plot))
    if args.genlm_python:
        cmp = compare_genlm(model, tok, args.genlm_python, n=args.genlm_particles or args.n, runs=args.genlm_runs,
                            seed=args.seed, max_new_tokens=args.max_new_tokens,
                            threads=torch.get_num_threads(), log=log)
        print()
        print(format_genlm(cmp, markdown=args.markdown))
        payload["genlm"] = cmp
    if args.json:
        write_json(args.json, payload, indent=2)
    return 0
