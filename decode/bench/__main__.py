"""``python -m decode.bench <benchmark> ...`` (``structgen bench ...`` runs it in-process) -- see
``--help``.

Bare ``python -m decode.bench``, or one starting with an option (the flags of the throughput
table, ``--tokens 32 ...``), runs ``throughput``, as ``python -m decode.bench`` always did.
The mask-only benchmark modules are imported to build the parser (they import no torch);
:mod:`.throughput`, which does, only when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys


# name, module of decode.bench (its add_arguments(parser) and main(args=...)), help; every
# module is imported to build the parser, so none may import torch at module level
# (:mod:`.throughput`, which does, has its flags defined below).
BENCHMARKS = (
    ("maskbench", "maskbench",
        "MaskBench: per-schema compile time, per-token mask time, "
        "correctness on valid/invalid instances"),
    ("test-suite", "test_suite",
        "the official JSON Schema Test Suite through every engine's masks: "
        "per keyword file compiled / unsupported / correct / wrong-accept / "
        "wrong-reject"),
    ("peer-suite", "peer_suite",
        "other engines' JSON Schema test cases (shared/data/peer-suite) through "
        "structgen's masks: wrong accepts / rejects, compile errors by class"),
    ("coverage", "coverage",
        "per dataset file: declared coverage (compiles) and exactness "
        "(MaskBench pass), compile errors by keyword"),
    ("compile-errors", "compile_errors",
        "compile-only pass over MaskBench schemas: failures grouped by error "
        "class, keyword and budget, one JSON line per schema"),
    ("grammars", "grammars",
        "compile and per-token mask time of each shipped Lark grammar on each "
        "tokenizer, and the json grammar next to the JSON Schema path"),
    ("generate", "generate",
        "end-to-end generation on a model (JSONSchemaBench protocol): per schema, "
        "constrained vs unconstrained output validity, compile time, TTFT, TPOT"),
    ("samplers", "samplers",
        "decode.sample's samplers (masked, AWRS, SMC with each proposal) on "
        "SmolLM2 over cold constraints: tok/s, constraint checks per token, "
        "masks, forward calls (optionally genlm-control side by side)"),
    ("speculative", "speculative",
        "speculative decoding with grammar-legal drafts vs plain constrained "
        "decoding on SmolLM2: passes per token, acceptance per draft source, "
        "tok/s ratio, greedy identity"),
    ("asap", "asap",
        "grammar-aligned sampling (ASAp) vs token masking on SmolLM2, three small "
        "grammars: window KL to the model's law over the outputs seen, forward "
        "passes saved by the trie"),
    ("bfcl", "bfcl",
        "function calling on BFCL's non-live categories (bfcl-eval's data and AST "
        "checker): constrained vs unconstrained, calls that parse and validate, AST "
        "accuracy, tokens and seconds per case"),
    ("serve", "serve",
        "structgen serve under 1, 4, 16 concurrent clients (OpenAI API over HTTP), "
        "constrained vs unconstrained: req/s, tok/s, p50/p99 latency, rows per step"),
    ("healing", "healing",
        "token healing on SmolLM2: log-likelihood of the true continuation of JSON "
        "instances cut at random, without healing, healed, and cut at a token "
        "boundary"),
    ("repair", "repair",
        "decode.repair on corrupted MaskBench instances with SmolLM2: share valid, "
        "edit distance to the draft, share recovering the original; sketch vs "
        "draft-in-prompt vs regenerating from scratch"),
    ("ttft", "ttft",
        "time to first token on SmolLM2 with the schema compile overlapped with the "
        "prompt's prefill vs compiled first, on the biggest schemas of a MaskBench sample"),
    ("canonical", "canonical",
        "canonical_tokens=True: compile and per-token mask time off vs on over "
        "MaskBench schemas, and the share of SmolLM2's masked probability mass "
        "on non-canonical tokens"),
)


def _throughput_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of :mod:`.throughput`, defined here so that building the parser imports no torch."""
    p.add_argument("--model", default="smollm2", help="HF id/path (default: bundled SmolLM2-135M-Instruct)")
    p.add_argument("--tokens", type=int, default=32, help="max new tokens per row (default 32)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions after a warm-up (default 3)")
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-lark", action="store_true")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["throughput"] + argv  # the old `python -m decode.bench [--tokens N ...]`
    p = argparse.ArgumentParser(prog="python -m decode.bench", description="structgen benchmarks")
    sub = p.add_subparsers(dest="bench", required=True)
    for name, module, help_text in BENCHMARKS:
        importlib.import_module(f".{module}", __package__).add_arguments(sub.add_parser(name, help=help_text))

    rp = sub.add_parser("report", help="print the tables of a MaskBench (or test-suite, generate) --json file again")
    rp.add_argument("json_file")
    rp.add_argument("--markdown", action="store_true")
    rp.add_argument("--max-ids", type=int, default=50)
    pl = sub.add_parser("plots", help="PNG plots from a maskbench, test-suite or generate --json file (needs matplotlib)")
    pl.add_argument("json_file")
    pl.add_argument("--out", default=".", help="folder for the PNG files")
    pl.add_argument("--prefix", default=None, help="file name prefix (default: from the JSON kind)")
    tp = sub.add_parser("throughput", help="decoding throughput on a model, constrained vs not (the default "
                                           "benchmark): tok/s, TTFT, mask and kernel time per step")
    _throughput_arguments(tp)
    args = p.parse_args(argv)
    if getattr(args, "plots", None) or getattr(args, "plot", None) or args.bench == "plots":
        from .plots import MissingExtraError, require_matplotlib

        try:
            require_matplotlib()  # before the run, not after it
        except MissingExtraError as e:
            print(f"structgen bench {args.bench}: {e}", file=sys.stderr)
            return 2
    modules = {name: module for name, module, _ in BENCHMARKS}
    if args.bench in modules:
        return importlib.import_module(f".{modules[args.bench]}", __package__).main(args=args)
    if args.bench == "throughput":
        from . import throughput

        return throughput.main(args)
    if args.bench in ("report", "plots"):
        import json

        from . import generate, healing, maskbench, repair, test_suite

        with open(args.json_file, encoding="utf-8") as f:
            payload = json.load(f)
        if args.bench == "plots":
            from . import plots

            if payload.get("kind") == "generate":
                for path in generate.plot_generate(payload, args.out, prefix=args.prefix or "generate"):
                    print(path)
                return 0
            for path in plots.plot_any(payload, args.out, prefix=args.prefix):
                print(path)
            return 0
        if payload.get("kind") == "generate":
            print(generate.format_generate_report(payload, max_ids=args.max_ids))
            return 0
        if payload.get("kind") in ("healing", "repair"):
            print((healing if payload["kind"] == "healing" else repair).format_report(payload))
            return 0
        if payload.get("kind") == "test-suite":
            print(test_suite.format_suite_report(payload, markdown=args.markdown, max_items=args.max_ids))
            return 0
        print(maskbench.format_report(payload, markdown=args.markdown, max_ids=args.max_ids))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
