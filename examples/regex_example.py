"""Regex-constrained answers: the output always matches the pattern, even for a 135M model.

Shows one constraint per batch row: three questions, three patterns, one batched call.
"""

from __future__ import annotations

import os
import re
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import decode  # noqa: E402

QUESTIONS = [
    ("On what date did Apollo 11 land on the Moon? Answer as YYYY-MM-DD.", r"(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"),
    ("Is the Earth round? Answer yes or no.", r"(yes|no)"),
    ("Give a US phone number for a pizza shop.", r"\(\d{3}\) \d{3}-\d{4}"),
]


def main() -> int:
    model, tok = decode.load_default_model()
    prompts = [[{"role": "user", "content": q}] for q, _ in QUESTIONS]
    constraints = [decode.Regex(p) for _, p in QUESTIONS]
    results = decode.generate(model, tok, prompts, constraints, temperature=0.0, max_new_tokens=24)
    for (q, pattern), r in zip(QUESTIONS, results):
        ok = re.fullmatch(pattern, r.text) is not None
        print(f"Q: {q}\n   pattern {pattern}\nA: {r.text!r}  (matches: {ok}, {r.timings['n_tokens']} tokens)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
