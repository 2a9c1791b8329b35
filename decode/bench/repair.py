"""``python -m decode.bench repair``: ``decode.repair`` on corrupted MaskBench instances.

Protocol (issue 19): for each sampled MaskBench schema that compiles, its first valid instance
(``json.dumps``) is corrupted one way, the kinds taken in turn:

- ``quotes``: the quotes around every object key dropped (``{name: "x"}``);
- ``comma``: a trailing comma before a closing ``}`` or ``]``;
- ``type``: a number or boolean put in quotes (``"age": "31"``);
- ``prose``: a sentence before the JSON and one after it.

Each draft is repaired by SmolLM2-135M-Instruct, greedy, three ways: ``sketch``
(``decode.repair``: the draft in the prompt and as a copy source), ``prompt`` (the draft in
the prompt only) and ``scratch`` (regenerating from scratch: ``decode.generate`` under the
schema, the prompt asking for an instance of the schema, no draft).  Reported per method:
share of outputs that validate against the schema (``jsonschema``), mean Levenshtein distance
to the draft (characters), share that recover the original instance exactly (the same
JSON value) and seconds per draft.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

from .report import format_table

__all__ = ["CORRUPTIONS", "add_arguments", "corrupt", "main", "run_repair"]

CORRUPTIONS = ("quotes", "comma", "type", "prose")
_SCALAR = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false")


def _outside_strings(text: str):
    """Indices of the characters of JSON ``text`` outside string literals (opening quotes included)."""
    out, in_str, esc = [], False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        out.append(i)
    return out


def corrupt(text: str, kind: str, rng: random.Random) -> str | None:
    """``text`` (compact-ish JSON) corrupted the way ``kind`` says; None where it cannot be."""
    if kind == "prose":
        return f"Sure! Here is the JSON you asked for:\n{text}\nLet me know if you need anything else."
    outside = _outside_strings(text)
    if kind == "comma":
        spots = [i for i in outside if text[i] in "}]" and i > 0 and text[i - 1] not in "{["]
        if not spots:
            return None
        i = rng.choice(spots)
        return text[:i] + "," + text[i:]
    if kind == "quotes":
        keys = list(re.finditer(r'"((?:[^"\\]|\\.)*)": ', text))
        # keys only: a match that starts outside a string literal
        starts = set(outside)
        keys = [m for m in keys if m.start() in starts]
        if not keys:
            return None
        out, last = [], 0
        for m in keys:
            out.append(text[last:m.start()])
            out.append(m.group(1) + ": ")
            last = m.end()
        return "".join(out) + text[last:]
    if kind == "type":
        starts = set(outside)
        spots = [m for m in _SCALAR.finditer(text) if m.start() in starts and
                 (m.start() == 0 or not text[m.start() - 1].isalnum())]
        if not spots:
            return None
        m = rng.choice(spots)
        return text[:m.start()] + '"' + m.group(0) + '"' + text[m.end():]
    raise ValueError(kind)


def _cases(data_dir, n: int, seed: int, max_len: int, max_schema: int, vocab):
    from ..constraints import as_compiled, generation_json_options
    from .maskbench import instance_text, load_sample

    rng = random.Random(seed)
    entries = load_sample(data_dir, sample=max(4 * n, 50), seed=seed)
    rng.shuffle(entries)
    cases, skipped = [], {"no short valid instance": 0, "schema too long": 0, "compile error": 0}
    for e in entries:
        if len(cases) >= n:
            break
        tests = [t for t in e.tests if t.get("valid") and "data" in t
                 and isinstance(t["data"], (dict, list)) and 8 <= len(instance_text(t["data"])) <= max_len]
        if not tests:
            skipped["no short valid instance"] += 1
            continue
        if len(json.dumps(e.schema)) > max_schema:
            skipped["schema too long"] += 1
            continue
        try:
            as_compiled(e.schema, vocab, **generation_json_options())
        except Exception:  # noqa: BLE001 - unsupported keyword, budget: not repair's business
            skipped["compile error"] += 1
            continue
        data = tests[0]["data"]
        text = instance_text(data)
        kinds = CORRUPTIONS[len(cases) % len(CORRUPTIONS):] + CORRUPTIONS[:len(cases) % len(CORRUPTIONS)]
        for kind in kinds:
            draft = corrupt(text, kind, rng)
            if draft is not None and draft != text:
                break
        cases.append({"schema_key": e.key, "schema": e.schema, "data": data, "text": text, "kind": kind,
                      "draft": draft})
    return cases, skipped


def _valid(schema, value) -> bool:
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema)
        cls(schema, format_checker=None).validate(value)
        return True
    except jsonschema.ValidationError:
        return False
    except Exception:  # noqa: BLE001 - a schema jsonschema cannot handle: count as not validated
        return False


def run_repair(model, tok, data_dir, *, n: int = 100, seed: int = 0, max_len: int = 400, max_schema: int = 3000,
               methods=("sketch", "prompt", "scratch"), progress=None) -> dict:
    from ..constraints import get_vocabulary
    from ..draft_repair import edit_distance, repair
    from ..lm import logits_width
    from ..loop import generate

    vocab = get_vocabulary(tok, logits_width(model))
    cases, skipped = _cases(data_dir, n, seed, max_len, max_schema, vocab)
    rows = []
    for i, c in enumerate(cases):
        row = {k: c[k] for k in ("schema_key", "kind", "draft", "text")}
        budget = 2 * len(vocab.encode(c["draft"])) + 32
        for m in methods:
            t0 = time.perf_counter()
            try:
                if m == "scratch":
                    msg = [{"role": "user", "content": "Write a JSON instance of this schema:\n"
                                                       + json.dumps(c["schema"])}]
                    res = generate(model, tok, msg, c["schema"], max_new_tokens=budget, temperature=0.0,
                                   finish_within_budget=True)
                    text, err = res.text, None
                else:
                    text, err = repair(model, tok, c["draft"], c["schema"], method=m, max_new_tokens=budget).text, None
            except Exception as e:  # noqa: BLE001 - reported, counted as not valid
                text, err = "", f"{type(e).__name__}: {e}"[:200]
            try:
                value = json.loads(text)
                ok = _valid(c["schema"], value)
            except json.JSONDecodeError:
                value, ok = None, False
            row[m] = {"text": text, "valid": ok, "error": err, "edit_distance": edit_distance(text, c["draft"]),
                      "recovered": ok and value == c["data"], "seconds": time.perf_counter() - t0}
        rows.append(row)
        if progress:
            progress(i + 1, len(cases), {"kind": "repair", "n": len(rows), "seed": seed, "skipped": skipped,
                                         "methods": list(methods), "rows": rows})
    return {"kind": "repair", "n": len(rows), "seed": seed, "skipped": skipped, "methods": list(methods),
            "rows": rows}


def summarize(payload: dict) -> list[list]:
    out = []
    rows = payload["rows"]
    for m in payload["methods"]:
        rs = [r[m] for r in rows]
        if not rs:
            continue
        n = len(rs)
        out.append([m, n, f"{sum(r['valid'] for r in rs) / n:.0%}",
                    f"{sum(r['edit_distance'] for r in rs) / n:.1f}",
                    f"{sorted(r['edit_distance'] for r in rs)[n // 2]}",
                    f"{sum(r['recovered'] for r in rs) / n:.0%}",
                    f"{sum(r['seconds'] for r in rs) / n:.2f}", sum(r["error"] is not None for r in rs)])
    return out


def by_kind(payload: dict) -> list[list]:
    out = []
    for kind in CORRUPTIONS:
        sel = [r for r in payload["rows"] if r["kind"] == kind]
        if not sel:
            continue
        cells = [kind, len(sel)]
        for m in payload["methods"]:
            cells.append(f"{sum(r[m]['recovered'] for r in sel) / len(sel):.0%} / "
                         f"{sum(r[m]['edit_distance'] for r in sel) / len(sel):.1f}")
        out.append(cells)
    return out


def format_report(payload: dict) -> str:
    head = ["method", "drafts", "valid", "mean edit dist.", "median", "recovered", "s / draft", "errors"]
    text = format_table(head, summarize(payload))
    text += "\n\n" + format_table(["corruption", "n"] + [f"{m}: recovered / dist." for m in payload["methods"]],
                                  by_kind(payload))
    sk = ", ".join(f"{k}: {v}" for k, v in payload["skipped"].items() if v)
    return text + (f"\nschemas skipped: {sk}" if sk else "")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", nargs="?", default=None, help="MaskBench folder (default: ../shared/data/maskbench)")
    p.add_argument("-n", type=int, default=100, help="schemas / drafts (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default="sketch,prompt,scratch", help="comma-separated (default all three)")
    p.add_argument("--max-len", type=int, default=400, help="longest instance used, characters (default 400)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", metavar="FILE", help="also write every draft and output as JSON")


def main(args) -> int:
    import torch

    from ..models import load_default_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = load_default_model(progress=lambda m: print(m, file=sys.stderr))
    data = args.data_dir or str(Path(__file__).resolve().parents[3] / "shared" / "data" / "maskbench")
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    bad = [m for m in methods if m not in ("sketch", "prompt", "scratch")]
    if bad:
        print(f"bench repair: unknown method(s) {bad}", file=sys.stderr)
        return 2
    def write(payload):
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(payload, f, ensure_ascii=False, indent=1)

    def progress(i, n, partial):
        print(f"\r{i}/{n}", end="", file=sys.stderr, flush=True)
        write(partial)  # a long run on a busy machine: what is done so far is on disk

    payload = run_repair(model, tok, data, n=args.n, seed=args.seed, max_len=args.max_len, methods=methods,
                         progress=progress)
    print(file=sys.stderr)
    print(format_report(payload))
    write(payload)
    return 0
