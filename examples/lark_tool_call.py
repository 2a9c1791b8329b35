"""Tool calls: the shipped ``tool_call.lark`` (free text or ``<tool_call>{json}</tool_call>``),
then a grammar that forces one or more calls of one tool, whose JSON is pinned down by a JSON
Schema through structgen's ``%json{...}`` extension.

Run: ``python examples/lark_tool_call.py`` or ``--no-model``.
"""

from __future__ import annotations

import json
import re
import sys

import jsonschema
from lark_common import Env, grammars, parse_args, run

WEATHER = {
    "type": "object",
    "properties": {
        "name": {"const": "get_weather"},
        "arguments": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 40},
                           "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "arguments"],
    "additionalProperties": False,
}

# structgen's extension: a JSON Schema as a grammar element (not plain Lark; see constrain.frontends.lark).
# No free-text alternative here: the reply must be one or more calls of this tool.
SCHEMA_GRAMMAR = f"""
start: tool_call+
tool_call: "<tool_call>" _NL? %json{json.dumps(WEATHER)} _NL? "</tool_call>" _NL?
_NL: "\\n"
"""

MESSAGES = [
    {"role": "system", "content": "You can call tools. To call one, answer with "
                                  '<tool_call>{"name": ..., "arguments": {...}}</tool_call>. '
                                  "Tool: get_weather(city, unit)."},
    {"role": "user", "content": "What's the weather like in Paris right now, in celsius?"},
]


def check_schema_calls(text: str) -> bool:
    """Only tool calls, each with JSON valid under WEATHER."""
    blocks = re.findall(r"<tool_call>(.*?)</tool_call>", text, flags=re.S)
    if not blocks:
        return False
    if re.sub(r"<tool_call>.*?</tool_call>", "", text, flags=re.S).strip():
        return False
    try:
        for b in blocks:
            jsonschema.validate(json.loads(b), WEATHER)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


if __name__ == "__main__":
    env = Env(parse_args(__doc__.splitlines()[0]).no_model)
    ok = run(env, "Tool calls (constrain/grammars/tool_call.lark)", grammars.load("tool_call"), MESSAGES,
             max_new_tokens=80)
    ok &= run(env, "Tool calls with a JSON Schema (%json{...}, compact JSON)", SCHEMA_GRAMMAR, MESSAGES,
              check=check_schema_calls, max_new_tokens=80, json_whitespace="compact")
    sys.exit(0 if ok else 1)
