"""An arithmetic expression from the shipped ``arithmetic.lark`` grammar.

The grammar is written with left-recursive rules (``sum: sum "+" product | product``);
structgen rewrites them into loops. Run: ``python examples/lark_arithmetic.py`` or
``--no-model``.
"""

from __future__ import annotations

import sys

from lark_common import grammars, main

MESSAGES = [
    {"role": "system", "content": "Answer with an arithmetic expression only, for example 2 * (3 + 4)."},
    {"role": "user", "content": "The area of a 3 by 4 rectangle plus the area of a circle of radius 2 "
                                "(use 3.14 for pi)."},
]

if __name__ == "__main__":
    sys.exit(main("Arithmetic (constrain/grammars/arithmetic.lark)", grammars.load("arithmetic"), MESSAGES,
                  max_new_tokens=40))
