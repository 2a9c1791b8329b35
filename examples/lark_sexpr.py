"""An S-expression (a Lisp subset) from the shipped ``sexpr.lark`` grammar.

Run: ``python examples/lark_sexpr.py`` or ``--no-model``.
"""

from __future__ import annotations

import sys

from lark_common import grammars, main

MESSAGES = [
    {"role": "system", "content": "Answer with one Scheme expression only, for example (define (double x) (* 2 x))."},
    {"role": "user", "content": "Define a function square that returns the square of its argument."},
]

if __name__ == "__main__":
    sys.exit(main("S-expressions (constrain/grammars/sexpr.lark)", grammars.load("sexpr"), MESSAGES,
                  max_new_tokens=60))
