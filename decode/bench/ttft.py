"""``python -m decode.bench ttft``: time to first token with the compile overlapped with the
prefill (``decode.loop.OVERLAP_COMPILE``, the default) against compiling first.

Why: a server that gets a new schema with each request waits for its compile; ``generate``
now compiles on a thread while the prompt's prefill runs (issue 18), so the first token
should come after max(compile, prefill) rather than their sum. Per schema (the ``--schemas``
biggest, by JSON text, of a ``--sample`` of MaskBench), ``generate(max_new_tokens=1)`` on
SmolLM2 with the schema in the prompt, from cold compile caches (the decode LRU and
constrain's lexeme tables, shared rows and lexemes are emptied before each call; the
vocabulary is kept), sequential then overlapped in alternating order, ``--repeat`` times;
the median wall time of each call is time to first token. Also the prefill alone (the same
call unconstrained) and the compile alone (``timings["compile_s"]`` of the sequential call).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from .report import format_table

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__all__ = ["add_arguments", "main"]

_COLD = ("decode.compiled_constraints", "constrain.tokens.lexeme_tables", "constrain.tokens.shared_rows",
         "constrain.grammar.lexemes", "constrain.counted.walks")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="MaskBench folder (default: ../shared/data/maskbench)")
    p.add_argument("--sample", type=int, default=200, help="MaskBench schemas to pick the biggest from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--schemas", type=int, default=5, help="the biggest schemas of the sample, by JSON text")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the compile thread comes on top)")
    p.add_argument("--markdown", action="store_true")


def _cold() -> None:
    from constrain import cache

    with cache._REGISTRY_LOCK:
        clears = [cache._REGISTRY[n][0] for n in _COLD if n in cache._REGISTRY]
    for clear in clears:
        clear()


def main(args: argparse.Namespace) -> int:
    import torch

    import decode
    import decode.loop as loop

    from .canonical import _data_dir
    from .maskbench import load_sample

    torch.set_num_threads(args.threads)
    model, tok = decode.load_default_model(progress=None)
    entries = load_sample(_data_dir(args.data), sample=args.sample, seed=args.seed)
    entries.sort(key=lambda e: -len(json.dumps(e.schema)))
    rows = []
    picked = 0
    for e in entries:
        if picked >= args.schemas:
            break
        schema = e.schema
        text = json.dumps(schema)
        prompt = [{"role": "user", "content": "Write one JSON instance of this schema:\n" + text[:6000]}]

        def call(constraint, overlap):
            loop.OVERLAP_COMPILE = overlap
            _cold()
            t = time.perf_counter()
            r = decode.generate(model, tok, prompt, constraint, max_new_tokens=1, seed=0)
            return time.perf_counter() - t, r

        try:
            call(schema, False)  # a compile error skips the schema; warms the model's code paths
        except Exception:  # noqa: BLE001 - schemas structgen cannot compile are not this bench's point
            continue
        picked += 1
        seq, ovl, comp, pre = [], [], [], []
        same = True
        for k in range(args.repeat):
            order = (False, True) if k % 2 == 0 else (True, False)
            out = {}
            for overlap in order:
                out[overlap] = call(schema, overlap)
            seq.append(out[False][0])
            ovl.append(out[True][0])
            comp.append(out[False][1].timings["compile_s"])
            same &= out[False][1].token_ids == out[True][1].token_ids
            pre.append(call(None, True)[0])
        loop.OVERLAP_COMPILE = True
        from decode.prompts import encode_prompt
        n_prompt = len(encode_prompt(tok, prompt))
        med = statistics.median
        rows.append([f"{e.file}:{e.line}", f"{len(text):,}", f"{n_prompt:,}",
                     f"{med(comp) * 1e3:.0f}", f"{med(pre) * 1e3:.0f}", f"{med(seq) * 1e3:.0f}",
                     f"{med(ovl) * 1e3:.0f}", f"{med(ovl) / med(seq):.2f}", "yes" if same else "NO"])
        print(f"[ttft] {rows[-1][0]}: sequential {rows[-1][5]} ms, overlapped {rows[-1][6]} ms", flush=True)
    header = ["schema", "schema chars", "prompt tokens", "compile (ms)", "prefill alone (ms)",
              "TTFT sequential (ms)", "TTFT overlapped (ms)", "overlapped / sequential", "same token"]
    print(f"TTFT on SmolLM2 (CPU, torch threads {args.threads}), median of {args.repeat}, cold compile caches")
    print(format_table(header, rows, markdown=args.markdown))
    return 0
