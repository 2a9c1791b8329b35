"""``$ref`` / ``$defs`` / ``$id`` / ``$anchor`` resolution within one schema document.

``$ref`` without siblings becomes a rule reference (see :meth:`.lower.SchemaLowering.value`),
so recursive schemas need no depth cap; remote references are refused. Every schema object's
base URI is known (its ``$id`` joined onto its parent's, RFC 3986), so a reference made where
it sits (``resolve(ref, ptr, at=the schema object)``) resolves against its own resource: a
``#/$defs/x`` inside an embedded ``$id`` resource means that resource's ``$defs``, and URNs
work as bases. Without ``at`` (schemas built during lowering) or when the joined URI names no
resource of the document, the older lookup applies: against the root, a relative ``$id``
matched by its last path segment.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, uses_relative

from ...errors import ConstraintError, SchemaError, UnsupportedSchemaError
from .keywords import SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_VALUES, find_keywords
from .values import ptr_escape


class RefsMixin:
    """``$id``/``id``/``$anchor`` indexing and ``$ref`` resolution within one document."""

    def _index_ids(self, node: Any, ptr: str, depth: int = 0, base: str = "", remote: bool = False) -> None:
        """Register ``$id``/``id`` and ``$anchor`` of every schema object (not of data values:
        only keywords that hold subschemas are descended into), and its base URI. ``remote``:
        a document of ``resources``, indexed by absolute URIs only."""
        if depth > 200 or not isinstance(node, dict):
            return
        for k in ("$id", "id"):
            v = node.get(k)
            if isinstance(v, str) and not (k == "id" and not v.startswith(("http", "urn", "#", "/")) and "." not in v):
                if not remote:
                    self._ids.setdefault(v, node)
                    self._ids.setdefault(v.rstrip("#"), node)
                if not v.startswith("#") and not ("$ref" in node and self.ref_overrides_siblings):
                    # (drafts 4-7: an $id beside $ref is ignored with the other siblings)
                    base = join_uri(base, v).partition("#")[0]
                    self._resources.setdefault(base, node)
                    if remote:
                        self._remote_bases.add(base)
        self._base_of[id(node)] = base
        for anchor in (node.get("$anchor"), node.get("$dynamicAnchor")):  # both are anchors for $ref
            if not isinstance(anchor, str):
                continue
            self._anchors.setdefault(base + "#" + anchor, node)
            key = "#" + anchor
            if not remote:
                if key in self._ids and self._ids[key] is not node:
                    self._ambiguous.add(key)  # the same anchor under different base URIs
                self._ids.setdefault(key, node)
        for k, v in node.items():
            if k in SCHEMA_MAPS and isinstance(v, dict):
                for name, sub in v.items():
                    self._index_ids(sub, f"{ptr}/{k}/{ptr_escape(name)}", depth + 1, base, remote)
            elif k in SCHEMA_LISTS and isinstance(v, list):
                for i, sub in enumerate(v):
                    self._index_ids(sub, f"{ptr}/{k}/{i}", depth + 1, base, remote)
            elif k in SCHEMA_VALUES:
                self._index_ids(v, f"{ptr}/{k}", depth + 1, base, remote)

    def resolve(self, ref: str, ptr: str, at: Any = None) -> tuple[Any, str]:
        """The schema a ``$ref`` points to and its pointer; ``at``: the schema object holding
        the ``$ref``, whose base URI the reference is resolved against."""
        if not isinstance(ref, str):
            raise SchemaError(f"$ref at {ptr} must be a string")
        base = self._base_of.get(id(at)) if at is not None else None
        if base is not None and join_uri(base, ref).partition("#")[0]:
            hit = self._resolve_in_resource(join_uri(base, ref), ref, ptr)
            if hit is not None:
                return hit
        base, _, frag = ref.partition("#")
        if base:
            node = self._ids.get(base)
            if node is None:
                # a relative $id like "definitions.json" registered by its last path segment
                for k, v in self._ids.items():
                    if k.endswith("/" + base) or k == base:
                        node = v
                        break
            if node is None:
                if base.startswith(("http://", "https://")) and base.rstrip("/").rstrip("#") == str(self.root.get("$id", "") if isinstance(self.root, dict) else "").rstrip("/").rstrip("#"):
                    node = self.root
                else:
                    raise UnsupportedSchemaError("$ref", ptr, f"remote reference {ref!r} is not available")
            target_ptr = f"{ref}"
        else:
            node = self.root
            target_ptr = "#"
        if frag and not frag.startswith("/"):
            hit = self._ids.get("#" + frag)
            if "#" + frag in self._ambiguous:
                raise UnsupportedSchemaError("$anchor", ptr, f"anchor {frag!r} is defined under several base URIs")
            if hit is None:
                raise SchemaError(f"$ref {ref!r} at {ptr}: anchor {frag!r} not found")
            return hit, f"#{frag}"
        node, parts = _follow_pointer(node, frag, ref, ptr)
        target_ptr += "".join("/" + ptr_escape(part) for part in parts)
        return node, (target_ptr if not base else ref)

    def _resolve_in_resource(self, uri: str, ref: str, ptr: str) -> tuple[Any, str] | None:
        """``uri`` (absolute) inside a resource of this document, or None if it names none."""
        doc, _, frag = uri.partition("#")
        node = self._resources.get(doc)
        if node is None:
            return None
        if doc in self._remote_bases:
            # the root was checked for dynamic references as a whole; another document only
            # where a reference reaches into it (every reference is resolved here)
            hit = find_keywords(node, ("$dynamicRef", "$recursiveRef"))
            if hit:
                raise UnsupportedSchemaError(hit[0], f"{doc}{hit[1]}", "dynamic references (dynamic scope) "
                                             "are not supported")
            mine = self.root.get("$schema", "") if isinstance(self.root, dict) else ""
            theirs = node.get("$schema", "") if isinstance(node, dict) else ""
            if isinstance(theirs, str) and theirs and theirs.rstrip("#") != str(mine or
                                                                                 _DRAFT_2020_12).rstrip("#"):
                raise UnsupportedSchemaError("$schema", f"{doc}#", f"{ref!r} reaches a document of another draft "
                                             f"({theirs}); its keywords would be read as this document's draft")
        if frag and not frag.startswith("/"):
            hit = self._anchors.get(doc + "#" + frag)
            if hit is None:
                raise SchemaError(f"$ref {ref!r} at {ptr}: anchor {frag!r} not found in {doc!r}")
            return hit, uri
        node, _ = _follow_pointer(node, frag, ref, ptr, f" in {doc!r}")
        return node, uri

    def reaches(self, node: Any, ptr: str, hit) -> bool:
        """Whether ``hit`` holds for a schema object reachable in ``node``, following ``$ref`` to
        its target (a branch that is a ``$ref`` says what its target says) and into the
        internal entries (tuples: :class:`~.ir.Xof`, :class:`~.ir.Conditional`); a dynamic
        reference, or one that does not resolve, counts as a hit. Conservative: objects inside
        ``properties`` and the like, which apply to members, count too; ``$defs`` count only
        where referenced."""
        seen: set[int] = set()
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, (list, tuple)):
                stack.extend(n)
                continue
            if not isinstance(n, dict) or id(n) in seen:
                continue
            seen.add(id(n))
            if hit(n) or "$dynamicRef" in n or "$recursiveRef" in n:
                return True
            if isinstance(n.get("$ref"), str):
                try:
                    stack.append(self.resolve(n["$ref"], ptr, at=n)[0])
                except ConstraintError:
                    return True
            stack.extend(v for k, v in n.items() if k not in ("enum", "const", "default", "examples", "example", "$defs", "definitions")
                         and isinstance(v, (dict, list, tuple)))
        return False


def _follow_pointer(node: Any, frag: str, ref: str, ptr: str, where: str = "") -> tuple[Any, list[str]]:
    """The value at the JSON pointer ``frag`` (``/a/b``, URI-escaped, empty for the whole
    document) inside ``node``, and the pointer's decoded parts; a :class:`SchemaError` naming
    ``ref``, its place ``ptr`` and the missing part where it does not resolve."""
    parts = []
    for raw in frag.split("/")[1:] if frag else []:
        part = unquote(raw.replace("~1", "/").replace("~0", "~"))
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SchemaError(f"$ref {ref!r} at {ptr} does not resolve{where} (no {part!r})")
        parts.append(part)
    return node, parts


_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"


def join_uri(base: str, ref: str) -> str:
    """RFC 3986 reference resolution of ``ref`` against ``base``, also for schemes urllib does not
    resolve relative references in (``urn:``: a fragment-only reference keeps the base)."""
    if not base:
        return ref
    if ref.startswith("#"):
        return base.partition("#")[0] + ref
    if urlsplit(ref).scheme:
        return ref
    if urlsplit(base).scheme in uses_relative:
        return urljoin(base, ref)
    return ref
