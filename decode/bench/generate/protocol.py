"""The generation benchmark's protocol: its two modes, the prompt (chat messages built from a
schema), and the schema without annotations for prompts that do not fit the model's context."""

from __future__ import annotations

import json
from typing import Any, Sequence

from constrain.frontends.json_schema.keywords import SCHEMA_MAPS  # keywords mapping names to subschemas


#: ``constrained``: decode under the compiled schema; ``unconstrained``: the same prompt and
#: budget without it (the model's native compliance).
MODES = ("constrained", "unconstrained")

#: The prompt of every generation, constrained or not: chat messages in which ``{schema}`` is
#: replaced by the schema as compact JSON (``json.dumps(schema, ensure_ascii=False)``).  The
#: system line asks for a bare JSON value so that the unconstrained baseline has a fair chance;
#: the same messages go through the model's chat template (``add_generation_prompt=True``).
PROMPT_TEMPLATE: tuple[dict[str, str], ...] = (
    {"role": "system",
     "content": "You are a helpful assistant that answers with only a JSON value: no explanation, "
                "no Markdown, nothing before or after the JSON."},
    {"role": "user",
     "content": "Generate a JSON value that is valid against this JSON Schema:\n{schema}"},
)



# what a prompt may leave out: text for readers, not structure ($id, $defs stay for $ref)
_PROMPT_ANNOTATIONS = frozenset({"description", "title", "examples", "example", "$comment", "default",
                                 "markdownDescription", "deprecationMessage"})


def strip_annotations(schema: Any) -> Any:
    """``schema`` without the keywords that only annotate (descriptions, titles, examples,
    defaults): what a prompt that does not fit the context shows of it. Property names and
    ``enum``/``const`` values are data and stay."""
    if isinstance(schema, list):
        return [strip_annotations(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k in _PROMPT_ANNOTATIONS:
            continue
        if k in ("enum", "const"):
            out[k] = v
        elif k in SCHEMA_MAPS and isinstance(v, dict):  # name -> schema: the names are data
            out[k] = {name: strip_annotations(sub) for name, sub in v.items()}
        else:
            out[k] = strip_annotations(v)
    return out


def build_messages(schema: Any, template: Sequence[dict] = PROMPT_TEMPLATE, *,
                   annotations: bool = True, max_chars: int | None = None) -> list[dict]:
    """The chat messages for one schema (``{schema}`` filled in). For a prompt that does not
    fit the context: ``annotations=False`` leaves descriptions out, ``max_chars`` cuts the
    schema text (marked). The constraint is always the whole schema."""
    s = json.dumps(schema if annotations else strip_annotations(schema), ensure_ascii=False)
    if max_chars is not None and len(s) > max_chars:
        s = s[:max_chars] + " ... (schema cut to fit the context)"
    return [{"role": m["role"], "content": m["content"].replace("{schema}", s)} for m in template]
