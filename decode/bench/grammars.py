"""``python -m decode.bench grammars``: compile and per-token mask time of the shipped grammars.

For each tokenizer and each shipped Lark grammar: compile time (fresh process caches are
not cleared between grammars, as in a server), then for a fixed set of sample texts in the
grammar's language, the canonical tokenization is walked with a fresh matcher, timing
mask + advance per token (first visits included). The ``json`` grammar is also compared with
the JSON Schema path (schema ``true``, i.e. any JSON value) on the same JSON texts.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
import warnings
from pathlib import Path

import numpy as np

from .engines import load_bench_tokenizer
from .output import write_json
from .report import format_table as report_table, percentiles

SAMPLES = {
    "arithmetic": ["1 + 2 * 3", "(4.5 - 2) / 7 ^ 2", "-(3 + 4) * 12.25", "((1))", "2 ^ 3 ^ 2 - 10 / 5"],
    "sql": ["SELECT name FROM users WHERE age > 30;", "SELECT DISTINCT id, name FROM users ORDER BY name ASC LIMIT 10",
            "SELECT * FROM users", "SELECT name FROM users WHERE name = 'Ann' AND age < 40 GROUP BY name"],
    "tool_call": ["Sure, here is the answer.",
                  '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>',
                  '<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call><tool_call>{"name": "b", "arguments": {"x": [1, 2]}}</tool_call>'],
    "sexpr": ["(define (f x) (* x x))", "(list 1 2 \"three\" 'four)", "(+ 1 (- 5 2))"],
}


def _json_samples(data_dir: Path | None, n: int) -> list[str]:
    texts: list[str] = []
    if data_dir is not None:
        for f in sorted(data_dir.glob("*.jsonl.gz")):
            with gzip.open(f, "rt") as fh:
                for line in fh:
                    for t in json.loads(line)["tests"]:
                        if t["valid"]:
                            texts.append(json.dumps(t["data"], ensure_ascii=False))
                    if len(texts) >= n:
                        return texts[:n]
    return texts or ['{"a": [1, 2.5, true, null], "b": {"c": "d"}}']


def _time_texts(compiled, vocab, texts: list[str]) -> tuple[list[float], int]:
    times: list[float] = []
    rejected = 0
    for text in texts:
        m = compiled.matcher()
        try:
            ids = vocab.encode(text)
        except ValueError:
            continue
        ok = True
        for t in ids:
            t0 = time.perf_counter()
            mask = m.mask()
            bit = (int(mask[t >> 5]) >> (t & 31)) & 1
            adv = m.advance(t)
            times.append(time.perf_counter() - t0)
            if not (bit and adv):
                ok = False
                break
        rejected += not (ok and m.is_accepting())
    return times, rejected


def run(tokenizers: list[str], data_dir: Path | None, n_json: int, log=print) -> list[dict]:
    from constrain import compile_json_schema, compile_lark, grammars

    rows = []
    for name in tokenizers:
        vocab = load_bench_tokenizer(name).vocab
        jsons = _json_samples(data_dir, n_json)
        cases = [(g, compile_lark, grammars.load(g), SAMPLES.get(g, jsons)) for g in grammars.names()]
        cases.append(("json (JSON Schema path)", compile_json_schema, True, jsons))
        for label, compile_fn, source, texts in cases:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                compiled = compile_fn(source, vocab)
                compile_ms = (time.perf_counter() - t0) * 1e3
            times, rejected = _time_texts(compiled, vocab, texts)
            us = np.array(times) * 1e6
            p = percentiles(us.tolist(), (50, 90, 99)) if us.size else {}
            rows.append({"tokenizer": name, "grammar": label, "compile_ms": compile_ms, "texts": len(texts),
                         "tokens": int(us.size), "rejected": rejected, "mean_us": float(us.mean()) if us.size else 0.0,
                         **{f"p{int(k)}_us": v for k, v in p.items()}})
            log(f"[grammars] {name} {label}: compile {compile_ms:.1f} ms, {us.size} tokens")
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as a Markdown table (the form docs/benchmarks.md quotes)."""
    headers = ["tokenizer", "grammar", "compile (ms)", "texts", "tokens", "rejected",
               "per-token mean / p50 / p90 / p99 (µs)"]
    cells = [[r["tokenizer"], r["grammar"], f"{r['compile_ms']:.1f}", r["texts"], r["tokens"], r["rejected"],
              f"{r['mean_us']:.1f} / {r.get('p50_us', 0):.1f} / {r.get('p90_us', 0):.1f} / {r.get('p99_us', 0):.1f}"]
             for r in rows]
    return report_table(headers, cells, align="llrrrrr", markdown=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizers", default="smollm2,tekken,mistral")
    p.add_argument("--data", default=None, help="MaskBench folder for JSON sample texts (valid instances)")
    p.add_argument("--json-texts", type=int, default=100, help="number of JSON sample texts")
    p.add_argument("--json", dest="json_out", default=None, help="write the raw rows here")


def main(args) -> int:
    import sys

    rows = run([t for t in args.tokenizers.split(",") if t], Path(args.data) if args.data else None,
               args.json_texts, log=lambda m: print(m, file=sys.stderr))
    print(format_table(rows))
    if args.json_out:
        write_json(args.json_out, {"kind": "grammars", "rows": rows}, indent=1)
    return 0
