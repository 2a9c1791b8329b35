"""``python -m decode.bench generate``: arguments and entry point."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

from .protocol import MODES
from .report import format_generate_report, plot_generate
from .runner import run_generate_bench


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", help="folder of *.jsonl.gz files: JSONSchemaBench's maskbench/ (README: $DATA/maskbench)")
    p.add_argument("--model", default="default",
                   help="'default' = decode.load_default_model() (SmolLM2-135M-Instruct); anything else "
                        "goes to decode.load_model (HF id or local path)")
    p.add_argument("--sample", type=int, default=None, help="number of schemas (same sample as maskbench); default all")
    p.add_argument("--seed", type=int, default=0, help="sample seed")
    p.add_argument("--files", default=None, help="glob(s) on file names, comma-separated, e.g. 'Github_*'")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated: constrained, unconstrained")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--gen-seed", type=int, default=0, help="sampling seed passed to decode.generate")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds per schema and mode (compile + generation + validation); 0: none")
    p.add_argument("--max-prompt-tokens", type=int, default=None,
                   help="skip schemas whose prompt is longer (default: model context - max_new_tokens)")
    p.add_argument("--whitespace", default=None, choices=("flexible", "compact"),
                   help="compile_json_schema whitespace option (default: the library default)")
    p.add_argument("--lenient", action="store_true", help="compile with lenient=True")
    p.add_argument("--frequency-penalty", type=float, default=0.0,
                   help="decode.generate frequency_penalty, both modes (default 0)")
    p.add_argument("--finish-within-budget", action="store_true",
                   help="constrained mode: close the output with the grammar's shortest completion "
                        "when the token budget runs out (decode.generate finish_within_budget)")
    p.add_argument("--threads", type=int, default=None, help="torch threads in the worker (default: torch's)")
    p.add_argument("--json", dest="json_out", default=None, help="write every raw figure and the summary here")
    p.add_argument("--resume", default=None, help="reuse the results in this JSON file (and write to it unless --json)")
    p.add_argument("--retry-timeouts", action="store_true",
                   help="with --resume: run the timed-out and crashed (schema, mode) jobs again")
    p.add_argument("--plots", default=None, metavar="DIR", help="write generate_coverage.png and generate_cdf.png here")
    p.add_argument("--backend", default="hf", help=argparse.SUPPRESS)  # hf | fake | module:Class (tests)
    p.add_argument("--mem-limit-gb", type=float, default=0.0, help="RLIMIT_AS of the worker (0: none)")
    p.add_argument("--start-method", default="spawn", choices=("spawn", "fork", "forkserver"))
    p.add_argument("--max-ids", type=int, default=20, help="invalid outputs listed per mode")
    p.add_argument("--no-progress", action="store_true")


def main(argv: Sequence[str] | None = None, args: argparse.Namespace | None = None) -> int:
    if args is None:
        p = argparse.ArgumentParser(prog="python -m decode.bench generate", description=__doc__.split("\n")[0])
        add_arguments(p)
        args = p.parse_args(argv)
    if args.plots:
        from ..plots import require_matplotlib

        require_matplotlib()  # before the generation run, not after it
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    json_out = args.json_out or args.resume
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
    payload = run_generate_bench(
        args.data_dir, model=args.model, modes=modes, sample=args.sample, seed=args.seed, files_glob=args.files,
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, gen_seed=args.gen_seed,
        timeout=args.timeout or None, max_prompt_tokens=args.max_prompt_tokens, whitespace=args.whitespace,
        lenient=args.lenient, threads=args.threads, frequency_penalty=args.frequency_penalty,
        finish_within_budget=args.finish_within_budget, backend=args.backend, json_out=json_out, resume=args.resume,
        retry_timeouts=args.retry_timeouts, mem_limit_gb=args.mem_limit_gb or None, start_method=args.start_method, progress=not args.no_progress,
    )
    print(format_generate_report(payload, max_ids=args.max_ids))
    if json_out:
        print(f"\nraw results: {json_out}")
    if args.plots:
        for path in plot_generate(payload, args.plots):
            print(path)
    return 0 if not payload.get("setup_error") else 1
