"""``$dynamicRef`` where its target does not depend on the dynamic scope, rewritten to ``$ref``.

Draft 2020-12: a ``$dynamicRef`` resolves like ``$ref``; only when that initial target was made
by a ``$dynamicAnchor`` of the same name does it move to the outermost resource *in the dynamic
scope* declaring that name (and stays on the initial target when none does). So where the
initial target is not a dynamic anchor, or where no other schema object of the documents a
reference can reach declares a ``$dynamicAnchor`` of that name, every evaluation path lands on
the initial target: the keyword is a plain ``$ref``, exactly. And the root resource is the
outermost of every dynamic scope: where it declares the name, every path lands there (a
``$ref`` to that declaration, by absolute URI and JSON pointer). Any other ``$dynamicRef``
(the name declared by several resources, none the root: the target depends on the path) is an
``UnsupportedSchemaError``.

The rewrite works on a copy of the documents that hold a ``$dynamicRef`` (never the caller's
objects), before indexing, so every later step sees ``$ref`` only.
"""

from __future__ import annotations

import copy
from typing import Any

from ...errors import UnsupportedSchemaError
from .keywords import SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_VALUES, find_keywords
from .values import ptr_escape


def _walk(node: Any, ptr: str, base: str, out: list, depth: int = 0, old_ids: bool = False) -> None:
    """(schema object, pointer, base URI) of every schema object, in document order."""
    from .refs import join_uri

    if depth > 200 or not isinstance(node, dict):
        return
    v = node.get("$id", node.get("id") if old_ids else None)
    if isinstance(v, str) and not v.startswith("#"):
        base = join_uri(base, v).partition("#")[0]
    out.append((node, ptr, base))
    for k, sub in node.items():
        if k in SCHEMA_MAPS and isinstance(sub, dict):
            for name, s in sub.items():
                _walk(s, f"{ptr}/{k}/{ptr_escape(name)}", base, out, depth + 1, old_ids)
        elif k in SCHEMA_LISTS and isinstance(sub, list):
            for i, s in enumerate(sub):
                _walk(s, f"{ptr}/{k}/{i}", base, out, depth + 1, old_ids)
        elif k in SCHEMA_VALUES:
            _walk(sub, f"{ptr}/{k}", base, out, depth + 1, old_ids)


def static_dynamic_refs(root: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``(root, resources)`` with every ``$dynamicRef`` replaced by an equivalent ``$ref`` (copies
    where something changes), or ``UnsupportedSchemaError`` where the target depends on the
    dynamic scope."""
    from .refs import join_uri

    docs = {"": root, **resources}
    if not any(find_keywords(d, ("$dynamicRef",)) for d in docs.values()):
        return root, resources
    docs = {k: copy.deepcopy(d) if find_keywords(d, ("$dynamicRef",)) else d for k, d in docs.items()}
    nodes: dict[str, list] = {}
    for uri, d in docs.items():
        nodes[uri] = []
        _walk(d, "#", uri.partition("#")[0], nodes[uri])
    # documents (and embedded resources) by URI, and which documents a reference can reach
    where = {}
    for uri, lst in nodes.items():
        for node, _, base in lst:
            if base:
                where.setdefault(base, uri)
    reach, todo = {""}, [""]
    while todo:
        for node, _, base in nodes[todo.pop()]:
            for k in ("$ref", "$dynamicRef"):
                r = node.get(k)
                if isinstance(r, str):
                    doc = where.get(join_uri(base, r).partition("#")[0]) if join_uri(base, r).partition("#")[0] else None
                    if doc is not None and doc not in reach:
                        reach.add(doc)
                        todo.append(doc)
    declared: dict[str, list] = {}  # $dynamicAnchor name -> schema objects declaring it (reachable documents)
    anchors: dict[str, Any] = {}  # base + "#" + name -> object ($anchor and $dynamicAnchor)
    resource_at: dict[str, Any] = {}
    for uri in reach:
        for node, _, base in nodes[uri]:
            resource_at.setdefault(base, node)
            for k in ("$anchor", "$dynamicAnchor"):
                if isinstance(node.get(k), str):
                    anchors.setdefault(base + "#" + node[k], node)
            if isinstance(node.get("$dynamicAnchor"), str):
                declared.setdefault(node["$dynamicAnchor"], []).append(node)
    root_base = nodes[""][0][2] if nodes[""] else ""
    in_root = {}  # name -> JSON pointer of the root resource's $dynamicAnchor declaring it
    for node, ptr, base in nodes[""]:
        if base == root_base and isinstance(node.get("$dynamicAnchor"), str):
            in_root.setdefault(node["$dynamicAnchor"], ptr)
    for uri in reach:
        for node, ptr, base in nodes[uri]:
            ref = node.get("$dynamicRef")
            if not isinstance(ref, str):
                continue
            target_uri = join_uri(base, ref)
            frag = target_uri.partition("#")[2]
            if frag and not frag.startswith("/"):
                target = anchors.get(target_uri) if target_uri.partition("#")[0] else anchors.get(base + "#" + frag)
                dynamic = target is not None and target.get("$dynamicAnchor") == frag
                if dynamic and len(declared.get(frag, [])) > 1 and frag in in_root and (root_base or base == root_base):
                    ref = root_base + in_root[frag]  # the root resource binds the name on every path
                elif dynamic and len(declared.get(frag, [])) > 1:
                    raise UnsupportedSchemaError("$dynamicRef", f"{uri}{ptr}" if uri else ptr,
                                                 f"{len(declared[frag])} schemas declare $dynamicAnchor {frag!r}: "
                                                 "the target depends on the dynamic scope")
            node.pop("$dynamicRef")
            if "$ref" in node:
                node.setdefault("allOf", []).append({"$ref": ref})
            else:
                node["$ref"] = ref
    root = docs.pop("")
    return root, docs
