"""The declared draft's vocabulary: keywords a schema's ``$schema`` does not define are ignored.

Why: the lowering reads every schema with the 2020-12 vocabulary, but a document that declares
``draft-04`` is validated by a draft-4 validator, to which ``const``, ``if``/``then``/``else``,
``propertyNames`` and ``contains`` are unknown words with no effect on validity.  Enforcing them
would refuse instances that are valid by the declared draft (real schemas do mix them: MaskBench
has draft-04 documents using ``if``/``then`` and ``const``).  So before lowering, each keyword
introduced after the declared draft is removed from every schema object, with one
:class:`~.context.SchemaWarning` naming the first place.

Drafts 3 and 4 share the cut (draft 3's own keywords, ``extends``/``disallow``/``divisibleBy``,
are not read either way); no ``$schema`` (or an unknown one) means 2020-12 and keeps everything.
"""

from __future__ import annotations

import copy
import re
import warnings
from typing import Any

from .values import ptr_escape

__all__ = ["FIRST_DRAFT", "declared_draft", "keywords_after", "to_declared_draft"]

# the first draft that gives each keyword (read by the lowering) a meaning; 2019 = 2019-09,
# 2020 = 2020-12.  ``$dynamicRef`` is resolved before lowering (dynamic_refs.py) and not cut.
FIRST_DRAFT = {
    "const": 6, "contains": 6, "propertyNames": 6,
    "if": 7, "then": 7, "else": 7,
    "dependentRequired": 2019, "dependentSchemas": 2019, "unevaluatedItems": 2019,
    "unevaluatedProperties": 2019, "minContains": 2019, "maxContains": 2019,
    "prefixItems": 2020,
}
# values that are data, not schemas: never searched for keywords
_DATA = ("enum", "const", "default", "examples", "example")
# keywords whose value maps names (not keywords) to schemas
_NAMED = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies")


def declared_draft(schema: Any) -> int:
    """3, 4, 6, 7, 2019 or 2020 from a document's ``$schema`` (2020 when absent or unknown)."""
    uri = schema.get("$schema") if isinstance(schema, dict) else None
    if not isinstance(uri, str):
        return 2020
    m = re.search(r"draft-0(\d)", uri)
    if m:
        return int(m.group(1))
    return 2019 if "2019-09" in uri else 2020


def keywords_after(draft: int) -> frozenset[str]:
    """The keywords the lowering reads that ``draft`` does not define."""
    return frozenset(k for k, first in FIRST_DRAFT.items() if first > draft)


def to_declared_draft(schema: Any, draft: int | None = None) -> Any:
    """``schema`` without the keywords its declared draft (or ``draft``) does not define: the
    same object when there are none, else a copy.  Every dict reachable outside data values
    (``enum``, ``const``, ``default``, ``examples``) counts as a schema object, so a ``$ref`` to
    an unusual place still sees the declared vocabulary; the names inside ``properties``,
    ``$defs`` and the like are names, never cut."""
    cut = keywords_after(declared_draft(schema) if draft is None else draft)
    if not cut or not any(not cut.isdisjoint(node) for node, _ in _schema_objects(schema)):
        return schema
    schema = copy.deepcopy(schema)
    first = None
    for node, ptr in _schema_objects(schema):
        for k in [k for k in node if k in cut]:
            first = first or f"{ptr}/{ptr_escape(k)}"
            del node[k]  # before the walk reads the node's values: cut subtrees are not visited
    from .context import SchemaWarning

    warnings.warn(f"{first}: not a keyword of the declared draft ({schema.get('$schema')}); ignored, "
                  "as a validator of that draft ignores it", SchemaWarning, stacklevel=3)
    return schema


def _schema_objects(root: Any):
    """(object, JSON pointer) of every schema object of the document, parents first; iterative,
    so deep documents cost no recursion.  A caller may delete keys of the object it was given
    before asking for the next one."""
    stack = [(root, "#")]
    while stack:
        node, ptr = stack.pop()
        if isinstance(node, list):
            stack.extend((v, f"{ptr}/{i}") for i, v in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        yield node, ptr
        for k, v in node.items():
            if k in _DATA:
                continue
            if k in _NAMED and isinstance(v, dict):
                stack.extend((s, f"{ptr}/{ptr_escape(k)}/{ptr_escape(n)}") for n, s in v.items())
            else:
                stack.append((v, f"{ptr}/{ptr_escape(k)}"))
