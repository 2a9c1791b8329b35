"""``python -m constrain.bench <benchmark> ...`` -- see ``--help``."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m constrain.bench",
                                description="structgen benchmarks")
    sub = p.add_subparsers(dest="bench", required=True)
    from . import maskbench

    mb = sub.add_parser("maskbench", help="MaskBench: per-schema compile time, per-token mask time, "
                                          "correctness on valid/invalid instances")
    maskbench.add_arguments(mb)
    rp = sub.add_parser("report", help="print the tables of a MaskBench --json file again")
    rp.add_argument("json_file")
    rp.add_argument("--markdown", action="store_true")
    rp.add_argument("--max-ids", type=int, default=50)
    args = p.parse_args(argv)
    if args.bench == "maskbench":
        return maskbench.main(args=args)
    if args.bench == "report":
        import json

        with open(args.json_file, encoding="utf-8") as f:
            payload = json.load(f)
        print(maskbench.format_report(payload, markdown=args.markdown, max_ids=args.max_ids))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
