"""``structgen`` console script.

Why a CLI: the quickest way to see a constraint at work on a real model (and to script
structured extraction from a shell) without writing Python.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys

__all__ = ["main", "build_parser"]

EPILOG = """\
examples:
  structgen generate --schema person.json "Invent a person."
  structgen generate --pydantic mymodels:Recipe --temperature 0 "A pancake recipe."
  structgen generate --regex '\\d{3}-\\d{4}' --no-chat "Phone: "
  structgen bench maskbench ../shared/data/maskbench --tokenizer smollm2
  structgen bench test-suite ../shared/data/json-schema-test-suite --json /tmp/ts.json
  structgen bench coverage ../shared/data/maskbench --from /tmp/mb.json --plots docs/img
  structgen bench generate ../shared/data/maskbench --model default --sample 100 --json /tmp/gen.json
  python -m decode.bench            # decoding throughput, constrained vs not
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="structgen",
        description="Structured generation: outputs that always match a JSON schema, regex or grammar.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser(
        "generate", help="generate constrained text from a prompt",
        description="Generate text constrained by a JSON schema, Pydantic model, regex or Lark grammar. "
                    "The output goes to stdout; progress messages go to stderr.",
    )
    src = g.add_mutually_exclusive_group()
    src.add_argument("--schema", metavar="FILE", help="JSON Schema file ('-' reads stdin)")
    src.add_argument("--pydantic", metavar="MODULE:CLASS", help="Pydantic model class, e.g. myapp.models:Person")
    src.add_argument("--regex", metavar="PATTERN", help="regular expression the whole output must match")
    src.add_argument("--grammar", metavar="FILE", help="Lark grammar file")
    g.add_argument("prompt", help="the prompt (sent as a user chat message unless --no-chat)")
    g.add_argument("--model", default="smollm2",
                   help="HF model id or local path (default: the bundled SmolLM2-135M-Instruct)")
    g.add_argument("--max-new-tokens", type=int, default=256, metavar="N")
    g.add_argument("--temperature", type=float, default=0.0, metavar="T", help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, default=None)
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--seed", type=int, default=None, metavar="S")
    g.add_argument("--system", default=None, help="system message for the chat template")
    g.add_argument("--no-chat", action="store_true", help="use the prompt as raw text (no chat template)")
    g.add_argument("--timings", action="store_true", help="print timings to stderr")
    g.add_argument("--no-strict", action="store_true",
                   help="let the output carry properties the schema does not declare (schemas are compiled "
                        "with decode.GENERATION_JSON_OPTIONS: strict, canonical keys/enum strings, nothing "
                        "after the value, one line break per whitespace run)")

    b = sub.add_parser(
        "bench", help="benchmarks (forwards to `python -m constrain.bench`)", add_help=False,
        description="Forwards all arguments to `python -m constrain.bench`.",
    )
    b.add_argument("args", nargs=argparse.REMAINDER)
    return p


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _load_constraint(args):
    import decode

    if args.schema:
        text = sys.stdin.read() if args.schema == "-" else open(args.schema, encoding="utf-8").read()
        return json.loads(text)
    if args.pydantic:
        mod_name, _, cls_name = args.pydantic.partition(":")
        if not cls_name:
            raise SystemExit("structgen: --pydantic expects MODULE:CLASS")
        sys.path.insert(0, os.getcwd())
        return getattr(importlib.import_module(mod_name), cls_name)
    if args.regex is not None:
        return decode.Regex(args.regex)
    if args.grammar:
        return decode.Lark(open(args.grammar, encoding="utf-8").read())
    return None


def _cmd_generate(args) -> int:
    import decode

    constraint = _load_constraint(args)
    if args.model in ("smollm2", "default"):
        model, tok = decode.load_default_model(progress=_progress)
    else:
        model, tok = decode.load_model(args.model, progress=_progress)
    if args.no_chat:
        prompt = args.prompt
    else:
        prompt = ([{"role": "system", "content": args.system}] if args.system else []) + [
            {"role": "user", "content": args.prompt}
        ]
    _progress("structgen: generating ...")
    try:
        r = decode.generate(model, tok, prompt, constraint, max_new_tokens=args.max_new_tokens,
                            temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                            seed=args.seed,
                            json_options={"strict": False} if getattr(args, "no_strict", False) else None)
    except NotImplementedError as e:
        print(f"structgen: {e}", file=sys.stderr)
        return 2
    print(r.text)
    if args.timings:
        print(json.dumps(r.timings, indent=2), file=sys.stderr)
    if not r.finished:
        print(f"structgen: output incomplete after {args.max_new_tokens} tokens "
              "(raise --max-new-tokens)", file=sys.stderr)
        return 1
    return 0


def _cmd_bench(args) -> int:
    return subprocess.call([sys.executable, "-m", "constrain.bench", *args.args])


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":  # everything after it belongs to constrain.bench
        return subprocess.call([sys.executable, "-m", "constrain.bench", *argv[1:]])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "generate":
        return _cmd_generate(args)
    if args.command == "bench":
        return _cmd_bench(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
