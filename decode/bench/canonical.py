"""``python -m decode.bench canonical``: the cost and the point of ``canonical_tokens=True``.

Why: a byte-level mask allows every tokenization of a legal string; ``canonical_tokens=True``
keeps only the tokenizer's own (see :mod:`constrain.tokens.canonical`).  Two tables:

1. Cost, no model: MaskBench schemas (``--files`` glob, ``--schemas`` of them) compiled for
   SmolLM2 with the option off and on, then each valid instance's canonical tokens walked
   through a fresh matcher (the first walk, "cold": every mask computed on first visit; then
   the same walk again, "warm": cached; then, after all schemas, each compiled again from
   empty caches and walked cold once more: "cold, filter warm", first visits of grammar states
   with the canonical filter's per-vocabulary rows already computed).  Compile time, per-token mask time (``mask()``; with
   the option, grammar mask AND canonical row plus the narrow-mask lookahead), the share of
   grammar-allowed tokens the option removes.  The filter itself is built once per vocabulary
   (its time is printed apart); the issue's target: within 20% of off.
2. The point, SmolLM2: ``--gen`` schemas, one sampled output each (temperature 1, ``--seed``)
   under the plain mask; at every step, the share of the masked probability mass (the model's
   probability of the tokens the grammar allows) that lies on tokens that would leave the
   canonical encoding (allowed by the grammar, removed by the option).  Also: how many of the
   plain outputs are canonical, and of outputs sampled with the option on, how many are
   canonical and valid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from .report import format_table

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="MaskBench folder (default: ../shared/data/maskbench)")
    p.add_argument("--files", default="Github_easy*", help="dataset file glob (default Github_easy*)")
    p.add_argument("--schemas", type=int, default=20, help="schemas for the cost table (default 20)")
    p.add_argument("--gen", type=int, default=5, help="schemas generated with SmolLM2 (default 5; 0: none)")
    p.add_argument("--tokens", type=int, default=96, help="max new tokens per generation (default 96)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")


def _data_dir(arg):
    if arg:
        return arg
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data", "maskbench"))


def _walk(compiled, ids) -> tuple[list[float], int, int]:
    """Mask time per token (s) along ``ids``, and the allowed-token counts summed."""
    m = compiled.matcher()
    times, allowed = [], 0
    vocab = compiled.vocab
    for t in ids:
        t0 = time.perf_counter()
        mask = m.mask()
        times.append(time.perf_counter() - t0)
        allowed += int(np.unpackbits(np.asarray(mask).view(np.uint8)).sum())
        if not m.advance(int(t)):
            raise RuntimeError(f"token {t} ({vocab.token_bytes[t]!r}) rejected")
    return times, allowed, len(ids)


def cost_table(entries, vocab, say) -> dict:
    from constrain import clear_caches, compile_json_schema
    from constrain.tokens.canonical import canonical_filter

    from .maskbench import instance_text

    t0 = time.perf_counter()
    canonical_filter(vocab)
    build_s = time.perf_counter() - t0
    say(f"[canonical] filter built in {build_s:.2f}s")
    rows = []
    tot = {k: [] for k in ("off_cold", "on_cold", "off_warm", "on_warm", "off_cold2", "on_cold2")}
    done = []
    comp = {"off": [], "on": []}
    allowed = {"off": 0, "on": 0}
    n_tok = 0
    for e in entries:
        texts = []
        for t in e.tests:
            if t.get("valid"):
                try:
                    text = instance_text(t.get("data"))
                    texts.append(vocab.encode(text))
                except Exception:  # noqa: BLE001 - untokenizable instance
                    continue
        if not texts:
            continue
        try:
            c = {}
            for mode in ("off", "on"):
                clear_caches()  # each compile from scratch (the vocabulary and its filter stay)
                t0 = time.perf_counter()
                c[mode] = compile_json_schema(e.schema, vocab, canonical_tokens=(mode == "on"))
                comp[mode].append(time.perf_counter() - t0)
        except Exception as ex:  # noqa: BLE001 - unsupported schema: skipped, counted
            say(f"[canonical] {e.id}: skipped ({type(ex).__name__})")
            continue
        row = {"schema": e.id, "tokens": 0}
        for mode in ("off", "on"):
            for phase in ("cold", "warm"):
                times = []
                for ids in texts:
                    ts, a, n = _walk(c[mode], ids)
                    times.extend(ts)
                    if phase == "warm":
                        allowed[mode] += a
                        if mode == "on":
                            n_tok += n
                tot[f"{mode}_{phase}"].extend(times)
                row[f"{mode}_{phase}_ms"] = 1e3 * float(np.mean(times))
        done.append((e.schema, texts))
        row["tokens"] = sum(len(x) for x in texts)
        row["compile_off_ms"] = 1e3 * comp["off"][-1]
        row["compile_on_ms"] = 1e3 * comp["on"][-1]
        rows.append(row)
        say(f"[canonical] {e.id}: {row['tokens']} tokens")
    # second pass: every schema compiled again from empty caches and walked cold, the
    # canonical filter's per-vocabulary rows now warm (what a long-running process sees):
    # first visits of grammar states without the vocabulary's own warm-up
    for schema, texts in done:
        for mode in ("off", "on"):
            clear_caches()
            c = compile_json_schema(schema, vocab, canonical_tokens=(mode == "on"))
            for ids in texts:
                tot[f"{mode}_cold2"].extend(_walk(c, ids)[0])
    summary = {
        "filter_build_s": build_s,
        "schemas": len(rows),
        "tokens": n_tok,
        "compile_off_ms_mean": 1e3 * float(np.mean(comp["off"])) if comp["off"] else None,
        "compile_on_ms_mean": 1e3 * float(np.mean(comp["on"])) if comp["on"] else None,
        **{f"mask_{k}_us_mean": 1e6 * float(np.mean(v)) if v else None for k, v in tot.items()},
        **{f"mask_{k}_us_p50": 1e6 * float(np.median(v)) if v else None for k, v in tot.items()},
        "allowed_per_token_off": allowed["off"] / max(n_tok, 1),
        "allowed_per_token_on": allowed["on"] / max(n_tok, 1),
    }
    return {"rows": rows, "summary": summary}


def mass_table(entries, n_gen, max_tokens, seed, threads, say) -> dict:
    import torch

    import decode
    from constrain import compile_json_schema

    from ..constraints import generation_json_options, get_vocabulary
    from ..lm import logits_width
    from ..prompts import encode_prompt

    torch.set_num_threads(threads)
    model, tok = decode.load_default_model(progress=None)
    vocab = get_vocabulary(tok, logits_width(model))
    opts = generation_json_options(None)
    rows = []
    for e in entries:
        if len(rows) >= n_gen:
            break
        try:
            plain = compile_json_schema(e.schema, vocab, **opts)
            canon = compile_json_schema(e.schema, vocab, **opts, canonical_tokens=True)
        except Exception:  # noqa: BLE001
            continue
        schema_text = json.dumps(e.schema)
        if len(schema_text) > 1500:
            continue
        msgs = [{"role": "user", "content": f"Write a JSON object for this JSON schema:\n{schema_text}"}]
        prompt = encode_prompt(tok, msgs)
        g = torch.Generator().manual_seed(seed)
        pm, cm = plain.matcher(), canon.matcher()
        past, inp = None, torch.tensor([prompt])
        shares, out = [], []
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(max_tokens):
                o = model(input_ids=inp, past_key_values=past, use_cache=True)
                past = o.past_key_values
                p = torch.softmax(o.logits[0, -1].float(), -1).numpy()
                gm = _bits(pm.mask(), vocab.size)
                cmask = _bits(cm.mask(), vocab.size)
                legal = float(p[: vocab.size][gm].sum())
                noncanon = float(p[: vocab.size][gm & ~cmask].sum())
                shares.append((noncanon, legal))
                q = np.where(gm, p[: vocab.size], 0.0)
                q = q / q.sum()
                t = int(torch.multinomial(torch.from_numpy(q), 1, generator=g))
                if not pm.advance(t):
                    break
                cm.advance(t)  # a non-canonical sample restarts the filter at it (cm.fallbacks)
                if pm.is_finished():
                    break
                out.append(t)
                inp = torch.tensor([[t]])
        gen_s = time.perf_counter() - t0
        steps = shares
        share = sum(n for n, _ in steps) / max(sum(l for _, l in steps), 1e-30)
        per_step = float(np.mean([n / l for n, l in steps if l > 0]))
        canon_out = decode.generate(model, tok, msgs, e.schema, max_new_tokens=max_tokens, seed=seed,
                                    canonical_tokens=True)
        ids_c = [i for i in canon_out.token_ids]
        rows.append({
            "schema": e.id, "steps": len(steps),
            "noncanonical_share_of_masked_mass": share, "noncanonical_share_mean_per_step": per_step,
            "max_step_share": max((n / l for n, l in steps if l > 0), default=0.0),
            "plain_output_canonical": vocab.is_canonical(out), "plain_finished": pm.is_finished(),
            "canonical_output_canonical": vocab.is_canonical(ids_c), "canonical_finished": canon_out.finished,
            "seconds": gen_s,
        })
        say(f"[canonical] generated {e.id}: {len(steps)} steps")
    return {"rows": rows}


def _bits(mask, size) -> np.ndarray:
    return np.unpackbits(np.asarray(mask).view(np.uint8), bitorder="little")[:size].astype(bool)


def main(args) -> int:
    from constrain import Vocabulary

    from .maskbench import load_sample

    def say(msg):
        print(msg, file=sys.stderr, flush=True)

    data = _data_dir(args.data)
    entries = load_sample(data, sample=None, files_glob=args.files)[: max(args.schemas, args.gen)]
    vocab = Vocabulary.from_name("smollm2")
    payload = {"kind": "canonical", "files": args.files}
    cost = cost_table(entries[: args.schemas], vocab, say)
    payload["cost"] = cost
    s = cost["summary"]
    print(f"canonical_tokens cost: {s['schemas']} schemas of {args.files}, {s['tokens']} tokens; "
          f"filter built once per vocabulary in {s['filter_build_s']:.2f}s")
    hdr = ["", "off", "on", "on/off"]

    def r(name, a, b, unit):
        return [name, f"{a:.1f} {unit}", f"{b:.1f} {unit}", f"{b / a:.2f}" if a else "-"]

    print(format_table(hdr, [
        r("compile (mean)", s["compile_off_ms_mean"], s["compile_on_ms_mean"], "ms"),
        r("mask, cold walk (mean)", s["mask_off_cold_us_mean"], s["mask_on_cold_us_mean"], "us"),
        r("mask, cold walk (p50)", s["mask_off_cold_us_p50"], s["mask_on_cold_us_p50"], "us"),
        r("mask, cold walk, filter warm (mean)", s["mask_off_cold2_us_mean"], s["mask_on_cold2_us_mean"], "us"),
        r("mask, cold walk, filter warm (p50)", s["mask_off_cold2_us_p50"], s["mask_on_cold2_us_p50"], "us"),
        r("mask, warm walk (mean)", s["mask_off_warm_us_mean"], s["mask_on_warm_us_mean"], "us"),
        r("mask, warm walk (p50)", s["mask_off_warm_us_p50"], s["mask_on_warm_us_p50"], "us"),
        r("allowed tokens per step", s["allowed_per_token_off"], s["allowed_per_token_on"], ""),
    ]))
    if args.gen:
        mass = mass_table(entries, args.gen, args.tokens, args.seed, args.threads, say)
        payload["mass"] = mass
        rows = mass["rows"]
        print()
        print(f"SmolLM2, temperature 1, seed {args.seed}, <= {args.tokens} tokens: share of the masked "
              "probability mass on non-canonical tokens (plain mask)")
        print(format_table(
            ["schema", "steps", "share of mass", "mean per step", "max step", "plain canonical",
             "canonical on: canonical", "finished (plain/on)"],
            [[x["schema"][:40], x["steps"], f"{100 * x['noncanonical_share_of_masked_mass']:.2f}%",
              f"{100 * x['noncanonical_share_mean_per_step']:.2f}%", f"{100 * x['max_step_share']:.1f}%",
              x["plain_output_canonical"], x["canonical_output_canonical"],
              f"{x['plain_finished']}/{x['canonical_finished']}"] for x in rows]))
        if rows:
            tot_n = sum(x["noncanonical_share_of_masked_mass"] * x["steps"] for x in rows)
            print(f"mean over schemas (step-weighted): {100 * tot_n / sum(x['steps'] for x in rows):.2f}%")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
    return 0
