"""``python -m decode.bench speculative``: speculative decoding with grammar-legal drafts
against plain constrained decoding, in the same run.

Why: the claim is "fewer model passes per token, the same output".  Per setting (batch
size, temperature, draft sources) every task is decoded by the plain loop and then with
``speculative=``, back to back, so machine load drifts alike for both; the table reports
model passes per generated token (load-independent), tokens per pass, the acceptance rate
of each draft source, tokens/s of both and their ratio (total tokens over total seconds),
and, greedy, how many outputs are token-identical to the plain loop's (all must be).

The plain loop is the strongest one: its output layer computes only the allowed ids' logits
where they are few (``decode.loop.LEGAL_HEAD``, as speculative passes do).  Unless
``--no-full-head``, each task is also decoded by the plain loop with the full output layer
first, so the table shows both effects: narrow head over full head, and speculation over
the narrow-head plain loop (and over the full one).

Tasks: MaskBench development schemas (drawn as :func:`decode.bench.maskbench.load_sample`,
prompted with the schema) plus an extraction task whose prompts contain the values.
Also measured: one forward pass over k = 1, 4, 8 new tokens after a prompt (why tokens per
pass is what speed is made of on a CPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from .report import format_table
from .samplers import _default_data_dir, _schema_prompt

__all__ = ["EXTRACTION", "add_arguments", "main"]

EXTRACTION_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"}, "age": {"type": "integer"}, "occupation": {"type": "string"},
        "city": {"type": "string"}, "email": {"type": "string"}, "phone": {"type": "string"},
    },
    "required": ["name", "age", "occupation", "city", "email", "phone"],
    "additionalProperties": False,
}
_PEOPLE = [
    "Dr. Maria Gonzalez-Ruiz, 47, is a cardiologist in Barcelona. Email maria.gonzalez@stmarys.es, "
    "phone +34 612 345 678.",
    "Kwame Mensah (age 29) works as a software engineer in Accra; reach him at kwame.mensah@example.com "
    "or 0244 123 456.",
    "Our new librarian, Ingrid Johansson, 61, lives in Uppsala. Contact: ingrid.j@uppsala-bibliotek.se, "
    "+46 18 727 00 00.",
    "Tomás Herrera, a 35-year-old chef from Lima, can be reached at tomas@cevicheria-herrera.pe or "
    "+51 1 445 2211.",
]
#: (name, schema, chat messages) of the extraction task
EXTRACTION = [(f"extract:{i}", EXTRACTION_SCHEMA,
               [{"role": "user", "content": f"Extract the person's details as JSON.\n\n{text}"}])
              for i, text in enumerate(_PEOPLE)]


def _tasks(data_dir: str, sample: int, seed: int) -> list[tuple[str, object, list]]:
    from .maskbench import load_sample

    out = [(f"json:{e.id}", e.schema, _schema_prompt(e.schema)) for e in load_sample(data_dir, sample=sample, seed=seed)]
    return out + list(EXTRACTION)


def _forward_costs(model, tok, reps: int = 5) -> dict[int, float]:
    """Median seconds of one KV-cached forward over k new tokens after a 200-token prompt."""
    import torch

    from ..lm import HFCausalLM
    from ..prompts import left_pad

    ids = tok("The quick brown fox jumps over the lazy dog. " * 20, add_special_tokens=False)["input_ids"][:200]
    out = {}
    with torch.inference_mode():
        for k in (1, 4, 8):
            times = []
            for _ in range(reps):
                lm = HFCausalLM(model)
                lm.prefill(*left_pad([ids], 0))
                t = time.perf_counter()
                lm.forward(torch.tensor([ids[:k]]))
                times.append(time.perf_counter() - t)
            out[k] = statistics.median(times)
    return out


def _plain(model, tok, prompts, cons, *, legal_head: bool, **kw):
    """The plain loop with the narrow output layer on or off; (results, seconds)."""
    from .. import loop

    was = loop.LEGAL_HEAD
    loop.LEGAL_HEAD = legal_head
    try:
        t = time.perf_counter()
        res = loop.generate(model, tok, prompts, cons, **kw)
        return res, time.perf_counter() - t
    finally:
        loop.LEGAL_HEAD = was


def _run_setting(model, tok, compiled, tasks, *, batch: int, temperature: float, spec, max_new_tokens: int,
                 seed: int, log, full_head: bool = True, also=None) -> dict:
    """Every task (batch) decoded by the plain loop(s) and with ``spec``, back to back; with
    ``also`` (a second ``Speculation``, e.g. with a ``SuffixStore``), decoded a third time with
    it, right after, and its figures in ``agg["also"]`` against the same plain runs."""
    from ..loop import generate

    def new_agg():
        return {"tokens": 0, "base_passes": 0, "spec_passes": 0, "base_s": 0.0, "spec_s": 0.0, "outputs": 0,
                "identical": 0, "drafted": 0, "accepted": 0, "forced": 0, "sources": {}, "ratios": [],
                "full_s": 0.0, "full_tokens": 0, "full_identical": 0, "full_ratios": [], "base_tokens": 0,
                "base_decode_s": 0.0, "spec_decode_s": 0.0, "base_decode_tokens": 0, "spec_decode_tokens": 0}

    # the decode phase: after each batch's first token (its prompt's prefill and first
    # pass excluded, which both loops pay alike), tokens after the first per row
    ttft = lambda rs: min(r.timings["time_to_first_token_s"] for r in rs)  # noqa: E731

    def add(agg, base, base_s, spec_res, spec_s, full, full_s):
        n_base = sum(len(r.token_ids) for r in base)
        n_spec = sum(len(r.token_ids) for r in spec_res)
        agg["tokens"] += n_spec
        agg["base_passes"] += max(r.stats["forward_calls"] for r in base)
        agg["spec_passes"] += max(r.stats["forward_calls"] for r in spec_res)
        agg["base_s"] += base_s
        agg["spec_s"] += spec_s
        agg["base_tokens"] += n_base
        agg["base_decode_s"] += max(base_s - ttft(base), 0.0)
        agg["spec_decode_s"] += max(spec_s - ttft(spec_res), 0.0)
        agg["base_decode_tokens"] += sum(max(len(r.token_ids) - 1, 0) for r in base)
        agg["spec_decode_tokens"] += sum(max(len(r.token_ids) - 1, 0) for r in spec_res)
        if base_s > 0 and spec_s > 0 and n_base and n_spec:
            agg["ratios"].append((n_spec / spec_s) / (n_base / base_s))
        if full is not None:
            n_full = sum(len(r.token_ids) for r in full)
            agg["full_s"] += full_s
            agg["full_tokens"] += n_full
            agg["full_identical"] += sum(f.token_ids == b.token_ids for f, b in zip(full, base))
            if full_s > 0 and base_s > 0 and n_full and n_base:
                agg["full_ratios"].append((n_base / base_s) / (n_full / full_s))
        for b, r in zip(base, spec_res):
            agg["outputs"] += 1
            agg["identical"] += b.token_ids == r.token_ids
            agg["drafted"] += r.stats["drafted"]
            agg["accepted"] += r.stats["accepted"]
            agg["forced"] += r.stats["forced"]
            for name, v in r.stats["sources"].items():
                d = agg["sources"].setdefault(name, {"drafted": 0, "accepted": 0})
                d["drafted"] += v["drafted"]
                d["accepted"] += v["accepted"]

    agg = new_agg()
    agg2 = new_agg() if also is not None else None
    for start in range(0, len(tasks), batch):
        group = tasks[start:start + batch]
        prompts = [m for _, _, m in group]
        cons = [compiled[name] for name, _, _ in group]
        kw = dict(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed, batch=True)
        full, full_s = None, 0.0
        if full_head:
            full, full_s = _plain(model, tok, prompts, cons, legal_head=False, **kw)
        base, base_s = _plain(model, tok, prompts, cons, legal_head=True, **kw)
        t = time.perf_counter()
        spec_res = generate(model, tok, prompts, cons, speculative=spec, **kw)
        spec_s = time.perf_counter() - t
        add(agg, base, base_s, spec_res, spec_s, full, full_s)
        line = ""
        if also is not None:
            t = time.perf_counter()
            also_res = generate(model, tok, prompts, cons, speculative=also, **kw)
            also_s = time.perf_counter() - t
            add(agg2, base, base_s, also_res, also_s, full, full_s)
            line = (f"; also {also_s:.1f}s, passes {agg2['spec_passes']}, identical "
                    f"{agg2['identical']}/{agg2['outputs']}")
        n_spec = sum(len(r.token_ids) for r in spec_res)
        log(f"  {group[0][0]}{' +' + str(len(group) - 1) if len(group) > 1 else ''}: {n_spec} tokens, passes "
            f"{agg['spec_passes']}/{agg['base_passes']} for {agg['tokens']}/{agg['base_tokens']} tokens so far, "
            f"{spec_s:.1f}s vs {base_s:.1f}s" + (f" (full head {full_s:.1f}s)" if full is not None else "")
            + f", identical {agg['identical']}/{agg['outputs']}" + line)
    if agg2 is not None:
        agg["also"] = agg2
    return agg


def _row(label: str, batch: int, temperature: float, agg: dict, greedy: bool) -> list:
    toks = agg["tokens"] or 1
    src = ", ".join(f"{n} {v['accepted']}/{v['drafted']}" for n, v in agg["sources"].items()) or "-"
    base_tps = agg.get("base_tokens", 0) / agg["base_s"] if agg["base_s"] else 0.0
    spec_tps = agg["tokens"] / agg["spec_s"] if agg["spec_s"] else 0.0
    full_tps = agg.get("full_tokens", 0) / agg["full_s"] if agg.get("full_s") else 0.0
    ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "-"  # noqa: E731
    per_s = lambda n, t: agg.get(n, 0) / agg[t] if agg.get(t) else 0.0  # noqa: E731
    decode_ratio = ratio(per_s("spec_decode_tokens", "spec_decode_s"), per_s("base_decode_tokens", "base_decode_s"))
    ident = f"{agg['identical']}/{agg['outputs']}"
    if full_tps:
        ident += f", full {agg['full_identical']}/{agg['outputs']}"
    return [label, batch, f"{temperature:g}", agg["outputs"], agg["tokens"],
            f"{agg['base_passes'] / max(agg.get('base_tokens', 0), 1):.2f}", f"{agg['spec_passes'] / toks:.2f}",
            f"{toks / max(agg['spec_passes'], 1):.2f}", agg["forced"], src,
            f"{full_tps:.1f}" if full_tps else "-", f"{base_tps:.1f}", f"{spec_tps:.1f}",
            ratio(base_tps, full_tps), ratio(spec_tps, base_tps), decode_ratio,
            f"{statistics.median(agg['ratios']):.2f}x" if agg["ratios"] else "-", ratio(spec_tps, full_tps),
            ident if greedy else "-"]


HEADERS = ["tasks", "batch", "T", "outputs", "tokens", "passes/tok plain", "passes/tok spec", "tok/pass spec",
           "forced", "accepted/drafted per source", "tok/s plain full head", "tok/s plain", "tok/s spec",
           "plain narrow/full", "speedup", "decode-phase speedup", "median speedup", "speedup vs full head", "identical"]


def _plot_label(r: dict) -> str:
    return f"{r['tasks']}\nbatch {r['batch']}, T {r['temperature']:g}"


def plot_rows(rows: list[dict], path: str) -> str:
    """Two panels per setting: model passes per generated token (plain vs speculative; a
    batch's pass counted once) and tokens/s with speculation over the plain loop's in the same
    run.  ``rows``: the ``rows`` of one or more ``--json`` payloads."""
    from .plots import COLORS, _plt, _save

    plt = _plt()
    labels = [_plot_label(r) + ("" if r["drafts"] == ["grammar", "ngram", "recycling"] else "\n" + "+".join(r["drafts"]))
              for r in rows]
    x = list(range(len(rows)))
    plain = [r["base_passes"] / max(r.get("base_tokens", 0), 1) for r in rows]
    spec = [r["spec_passes"] / max(r["tokens"], 1) for r in rows]
    speed = [(r["tokens"] / r["spec_s"]) / (r["base_tokens"] / r["base_s"])
             if r["spec_s"] and r["base_s"] and r.get("base_tokens") else 0.0 for r in rows]
    # runs with the full-head plain loop (decode.loop.LEGAL_HEAD off) also show speculation over it
    vs_full = [(r["tokens"] / r["spec_s"]) / (r["full_tokens"] / r["full_s"])
               if r["spec_s"] and r.get("full_s") and r.get("full_tokens") else 0.0 for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(max(8, 1.9 * len(rows)), 3.4))
    w = 0.38
    a.bar([i - w / 2 for i in x], plain, w, color=COLORS[0], label="plain")
    a.bar([i + w / 2 for i in x], spec, w, color=COLORS[1], label="speculative")
    a.axhline(0.5, color="grey", ls="--", lw=0.8)
    a.set_ylabel("model passes per token")
    a.legend(fontsize=8)
    if any(vs_full):
        b.bar([i - w / 2 for i in x], speed, w, color=COLORS[2], label="over plain (narrow head)")
        b.bar([i + w / 2 for i in x], vs_full, w, color=COLORS[3], label="over plain (full head)")
        b.legend(fontsize=7)
    else:
        b.bar(x, speed, 0.6, color=COLORS[2])
    b.axhline(1.0, color="grey", lw=0.8)
    b.axhline(2.0, color="grey", ls="--", lw=0.8)
    b.set_ylabel("tok/s speculative / plain (same run)")
    for ax in (a, b):
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=7)
    fig.tight_layout()
    return _save(fig, Path(path))


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags (no torch imported to build them)."""
    p.add_argument("--data-dir", default=None, help="MaskBench folder (default: $DATA/maskbench, else "
                                                    "../shared/data/maskbench next to the repository)")
    p.add_argument("--sample", type=int, default=30, help="MaskBench development schemas drawn (default 30)")
    p.add_argument("--seed", type=int, default=0, help="schema draw and sampling seed (default 0)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="token budget per output (default 128)")
    p.add_argument("--batch-sizes", default="1,4", help="comma-separated (default 1,4)")
    p.add_argument("--temperatures", default="0,0.7", help="comma-separated (default 0,0.7)")
    p.add_argument("--drafts", default="grammar,ngram,recycling",
                   help="draft sources, comma-separated; several configurations separated by ';' "
                        "(default grammar,ngram,recycling)")
    p.add_argument("--max-draft", type=int, default=12, help="Speculation.max_draft (default 12, as Speculation)")
    p.add_argument("--siblings", type=int, default=0,
                   help="Speculation.siblings: tree-draft alternatives per pass, 0 for linear drafts "
                        "(default 0, as Speculation)")
    p.add_argument("--draft-model", default="default", metavar="PATH|default",
                   help="the draft model of a configuration that names the source 'model' (default: SmolLM2 "
                        "itself, which shows acceptance, not speed)")
    p.add_argument("--suffix", action="store_true",
                   help="also decode every task a third time, right after the speculative run, with a SuffixStore "
                        "(Speculation.history: a fresh store per setting that holds the earlier tasks' outputs of "
                        "that third run only, never a task's own); its row beside the store-less one")
    p.add_argument("--suffix-tokens", type=int, default=100_000, help="SuffixStore.max_tokens (default 100000)")
    p.add_argument("--no-full-head", action="store_true",
                   help="skip the plain loop with the full output layer (by default every task is also decoded "
                        "so, to show what the narrow head alone buys)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--markdown", action="store_true", help="Markdown tables")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--plot", metavar="PNG", default=None,
                   help="write the passes-per-token and speedup plot there (needs matplotlib)")
    p.add_argument("--from", dest="from_json", nargs="+", metavar="JSON", default=None,
                   help="no run: plot (--plot) the rows of these --json files, e.g. runs of several batch sizes")


def main(args: argparse.Namespace) -> int:
    if args.from_json:
        import json

        if not args.plot:
            raise SystemExit("--from needs --plot PNG")
        rows = [r for f in args.from_json for r in json.loads(Path(f).read_text())["rows"]]
        print(plot_rows(rows, args.plot))
        return 0
    import torch

    import constrain

    from .. import models
    from ..constraints import get_vocabulary
    from ..lm import logits_width
    from dataclasses import replace

    from ..speculative import Speculation, SuffixStore
    from .output import write_json

    if args.threads:
        torch.set_num_threads(args.threads)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    data_dir = args.data_dir or _default_data_dir()
    configs = [tuple(s.strip() for s in c.split(",") if s.strip()) for c in args.drafts.split(";") if c.strip()]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    temps = [float(t) for t in args.temperatures.split(",")]
    model, tok = models.load_default_model(progress=None)
    draft = None
    if any("model" in c for c in configs):
        draft = model if args.draft_model in ("default", "smollm2") else models.load_model(args.draft_model)[0]
    specs = [Speculation(drafts=c, max_draft=args.max_draft, draft_model=draft if "model" in c else None,
                         siblings=args.siblings)
             for c in configs]
    vocab = get_vocabulary(tok, logits_width(model))
    tasks, compiled = [], {}
    for name, schema, messages in _tasks(data_dir, args.sample, args.seed):
        try:
            compiled[name] = constrain.compile_json_schema(schema, vocab, options=constrain.JsonOptions.GENERATION)
        except constrain.ConstraintError as e:
            log(f"skip {name}: {type(e).__name__}")
            continue
        tasks.append((name, schema, messages))
    groups = {"maskbench": [t for t in tasks if t[0].startswith("json:")],
              "extraction": [t for t in tasks if t[0].startswith("extract:")]}
    costs = _forward_costs(model, tok)
    t0 = time.perf_counter()
    rows, payload_rows = [], []
    for spec in specs:
        for batch in batches:
            for temperature in temps:
                for gname, gtasks in groups.items():
                    if not gtasks:
                        continue
                    log(f"{gname}, drafts {','.join(spec.source_names)}, batch {batch}, T {temperature:g}")
                    also = replace(spec, history=SuffixStore(args.suffix_tokens)) if args.suffix else None
                    agg = _run_setting(model, tok, compiled, gtasks, batch=batch, temperature=temperature,
                                       spec=spec, max_new_tokens=args.max_new_tokens, seed=args.seed, log=log,
                                       full_head=not args.no_full_head, also=also)
                    for sp, a in ((spec, agg), (also, agg.pop("also", None))):
                        if a is None:
                            continue
                        label = f"{gname} ({'+'.join(sp.source_names)})"
                        rows.append(_row(label, batch, temperature, a, temperature == 0))
                        payload_rows.append({"tasks": gname, "drafts": list(sp.source_names), "batch": batch,
                                             "temperature": temperature, **{k: v for k, v in a.items()}})
    print(f"\nSmolLM2-135M-Instruct on CPU, torch threads {torch.get_num_threads()}; {len(groups['maskbench'])} "
          f"MaskBench schemas (sample {args.sample}, seed {args.seed}) + {len(groups['extraction'])} extraction "
          f"prompts; max {args.max_new_tokens} new tokens, max_draft {args.max_draft}; "
          f"{time.perf_counter() - t0:.0f} s")
    print("one forward pass over k new tokens (200-token context), median of 5: " +
          ", ".join(f"k={k}: {1000 * s:.1f} ms" for k, s in costs.items()))
    print(format_table(HEADERS, rows, markdown=args.markdown))
    print("\npasses/tok: model passes (prefill included; a batch's pass counted once) per generated token; "
          "tok/pass = its inverse; forced: tokens appended without a pass (one-token masks); plain: the plain "
          "loop with the narrow output layer (allowed ids only, decode.loop.LEGAL_HEAD), plain full head: with "
          "every logit; speedup: total tokens/s with speculation over the plain loop's, run back to back per "
          "batch; decode-phase speedup: the same after each batch's first token (prefill and first pass, which "
          "both loops pay alike, left out; the issue's target is the end-to-end speedup); median speedup: the median of those per-batch ratios; identical: greedy outputs "
          "token-identical to the plain loop's (full: the full-head plain loop's to the narrow one's)." +
          (" Rows with 'suffix' (--suffix): each task decoded a third time right after the speculative run, with a "
           "SuffixStore holding the earlier tasks' outputs of that third run (never the task's own), against the "
           "same plain runs." if args.suffix else ""))
    if args.json:
        write_json(args.json, {"kind": "speculative", "forward_costs_s": costs, "rows": payload_rows}, indent=2)
    if args.plot:
        print(plot_rows(payload_rows, args.plot))
    return 0
