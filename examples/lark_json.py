"""JSON text from the shipped ``json.lark`` grammar (RFC 8259).

Run: ``python examples/lark_json.py`` (SmolLM2, greedy) or ``--no-model``.
"""

from __future__ import annotations

import sys

from lark_common import grammars, main

MESSAGES = [{"role": "user", "content": "Describe the planet Mars as a JSON object with a few fields."}]

if __name__ == "__main__":
    sys.exit(main("JSON (constrain/grammars/json.lark)", grammars.load("json"), MESSAGES, max_new_tokens=120))
