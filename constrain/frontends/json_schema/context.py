"""The lowering context: what every keyword family reads and reports through.

Options (``strict``, ``lenient``), the lexeme factory of the chosen whitespace policy, the
named rules built so far (with the schema pointer each came from), and :meth:`unsupported`:
a keyword that cannot be enforced raises :class:`UnsupportedSchemaError` naming it and its
JSON pointer, or under ``lenient=True`` is dropped with a :class:`SchemaWarning`. ``_types``
(the type set a schema admits) and ``_validator`` (a jsonschema validator sharing the root's
``$ref`` resolution, used to filter finite value sets) live here because every family uses them.
"""

from __future__ import annotations

import warnings
from typing import Any

from ...errors import OptionError, SchemaError, UnsupportedSchemaError
from ...ir import Expr, NOTHING, Ref
from . import formats
from .keywords import TYPE_NAMES, has_unevaluated
from .lexemes import JsonLexemes
from .values import type_of


class SchemaWarning(UserWarning):
    """A schema keyword was ignored (unknown format, or dropped in lenient mode)."""


class LoweringContext:
    """The state one schema's lowering shares: options, the rules built so far, the
    ``$id`` index, and the reporting of what cannot be enforced (strict vs lenient)."""

    def __init__(self, root: Any, *, strict: bool, lenient: bool, lexemes: JsonLexemes, property_order: str = "any",
                 format_assertion: bool = True, openapi_formats: bool = False, resources: Any = None):
        self.root = root
        self.format_assertion = bool(format_assertion)
        self.openapi_formats = bool(openapi_formats)
        self.strict = strict
        if property_order not in ("any", "declared"):
            raise OptionError(f"property_order must be 'any' or 'declared', not {property_order!r}")
        self.property_order = property_order
        self.lenient = lenient
        self.L = lexemes
        self.rules: dict[str, Expr] = {}
        self.origins: dict[str, str] = {}
        self._ids: dict[str, Any] = {}
        self._ambiguous: set[str] = set()
        self._resources: dict[str, Any] = {}  # absolute $id (no fragment) -> schema object
        self._anchors: dict[str, Any] = {}  # absolute $id + "#" + $anchor -> schema object
        self._remote_bases: set[str] = set()  # the URIs of the resources documents and their $ids
        declared = root.get("$schema", "") if isinstance(root, dict) else ""
        self.ref_overrides_siblings = isinstance(declared, str) and any(
            f"draft-0{n}" in declared for n in (3, 4, 6, 7))
        self._base_of: dict[int, str] = {}  # id() of every schema object of the document -> base URI
        self._index_ids(root, "#")
        for uri, doc in (resources or {}).items():  # other documents, each at its URI
            base = uri.partition("#")[0]
            self._resources.setdefault(base, doc)
            self._remote_bases.add(base)
            self._index_ids(doc, base, base=base, remote=True)
        self._validator_cls = None
        # drafts 3 and 4 count 1.0 as a number only; later drafts as an integer
        self.float_integers = not (isinstance(declared, str) and any(f"draft-0{n}" in declared for n in (3, 4)))
        self._sub_names: dict[int, str] = {}
        self._keep: list = []  # keeps keyed schema objects alive so their ids stay unique
        self._suffixes: dict[str, int] = {}  # fresh_rule_name: the next suffix to try per base
        self._conjunctions: dict[tuple[int, ...], dict] = {}
        self._reads_annotations: bool | None = None

    def reads_annotations(self) -> bool:
        """Whether an ``unevaluated*`` that constrains (not ``true``/``{}``) is reachable from the
        root, referenced documents included: only then do annotations change any verdict."""
        if self._reads_annotations is None:
            self._reads_annotations = self.reaches(self.root, "#", has_unevaluated)
        return self._reads_annotations

    def conjunction(self, parts: list) -> Any:
        """``{"allOf": parts}`` (the one part itself when alone), the same object each time
        these same schema objects are conjoined.

        Why: :meth:`sub` names a rule by its schema object, so a conjunction rebuilt at every
        level of a recursion (a key matching two patterns whose schemas lead back to the same
        object, the value of a property two patterns match) would unfold level after level
        until a budget stops it; interned, the next level reaches the same object, hence the
        same rule, and the recursion closes."""
        parts = [p for p in parts if p is not True and p != {}] or [True]  # `true` conjoins nothing
        if len(parts) == 1:
            return parts[0]
        key = tuple(id(p) for p in parts)
        hit = self._conjunctions.get(key)
        if hit is None:
            hit = self._conjunctions[key] = {"allOf": list(parts)}
            self._keep.append(parts)  # the parts' ids stay theirs
        return hit

    def fresh_rule_name(self, base: str) -> str:
        """``base``, else the first of ``base#1``, ``base#2``, ... that names no rule yet.

        The next suffix is remembered per base: an enum of 2,000 objects makes 4,000 value
        rules at one pointer, and probing from ``#1`` each time was quadratic (2.2 s)."""
        k = self._suffixes.get(base, 0)
        name = base if k == 0 else f"{base}#{k}"
        while name in self.rules:
            k += 1
            name = f"{base}#{k}"
        self._suffixes[base] = k + 1
        return name

    def unsupported(self, keyword: str, ptr: str, why: str = "") -> None:
        """Raise, or in lenient mode warn that ``keyword`` at ``ptr`` is dropped."""
        if self.lenient:
            warnings.warn(f"ignoring {keyword!r} at {ptr}" + (f": {why}" if why else ""), SchemaWarning, stacklevel=4)
            return
        raise UnsupportedSchemaError(keyword, ptr, why)

    def format_parts(self, fmt: Any, ptr: str):
        """``formats.format_parts(fmt)``: the [(regex, length cap)] union a known format asserts;
        None when ``format`` is only an annotation (``format_assertion=False``, or an unknown
        format, which warns: the spec says to ignore it; OpenAPI's ``byte`` is one unless
        ``openapi_formats=True``). ``lenient=True``: host names take A-labels by syntax (their
        Punycode cannot be checked by an automaton), with a warning."""
        if not self.format_assertion:
            return None
        if fmt in formats.OPENAPI_FORMATS and not self.openapi_formats:
            warnings.warn(f"format {fmt!r} at {ptr} is OpenAPI's, not JSON Schema's: ignored (an annotation; "
                          "openapi_formats=True asserts it)", SchemaWarning, stacklevel=4)
            return None
        a_labels = self.lenient and fmt in formats.A_LABEL_FORMATS
        fp = formats.format_parts(fmt, a_labels=a_labels)
        if fp is None:
            warnings.warn(f"unknown format {fmt!r} at {ptr} ignored (format is an annotation)", SchemaWarning,
                          stacklevel=4)
        elif a_labels:
            warnings.warn(f"format {fmt!r} at {ptr}: A-labels (xn--...) accepted by syntax, their Punycode "
                          "not checked (lenient=True)", SchemaWarning, stacklevel=4)
        return fp

    def rule(self, name: str, make, origin: str) -> Expr:
        """A named rule (built once; cycles resolve through the name)."""
        if name not in self.rules:
            self.rules[name] = NOTHING  # placeholder while the body is built
            self.origins[name] = origin
            self.rules[name] = make()
        return Ref(name)

    def _types(self, s: dict) -> set[str]:
        t = s.get("type")
        if t is None:
            return {"null", "boolean", "object", "array", "string", "number"}
        ts = set(t if isinstance(t, list) else [t])
        for x in ts:
            if x not in TYPE_NAMES:
                raise SchemaError(f"unknown type {x!r}")
        return ts

    def _values_valid(self, vals: list, schema: dict, keyword: str, ptr: str) -> list:
        """The listed values (an enum's, a const's) that ``schema`` accepts, judged by jsonschema.

        Where jsonschema cannot evaluate ``schema`` (a pattern Python's ``re`` rejects, say) the
        compile is refused: keeping the values unchecked would silently accept ones the schema
        forbids."""
        try:
            validator = self._validator(schema)
            return [v for v in vals if validator.is_valid(v)]
        except Exception as e:
            raise UnsupportedSchemaError(
                keyword, ptr, f"the values cannot be checked against the keywords beside them "
                f"({type(e).__name__}: {e})") from e

    def _type_ok(self, v: Any, s: dict) -> bool:
        if "type" not in s:
            return True
        ts = self._types(s)
        t = type_of(v)
        return t in ts or (t == "integer" and "number" in ts)

    def _validator(self, schema: dict):
        import jsonschema

        if self._validator_cls is None:
            self._validator_cls = jsonschema.validators.validator_for(
                self.root if isinstance(self.root, dict) else {}, default=jsonschema.Draft202012Validator)
        if isinstance(self.root, dict):
            try:
                if getattr(self, "_root_validator", None) is None:
                    self._root_validator = self._validator_cls(self.root)
                # evolve keeps the resolver of the root, so "#/definitions/..." resolves
                return self._root_validator.evolve(schema=schema)
            except Exception:  # pragma: no cover - older jsonschema
                pass
        try:
            from referencing import Registry, Resource

            resource = Resource.from_contents(self.root if isinstance(self.root, dict) else {},
                                              default_specification=__import__("referencing.jsonschema").jsonschema.DRAFT202012)
            registry = Registry().with_resource("urn:structgen-root", resource)
            return self._validator_cls(schema, registry=registry)
        except Exception:  # pragma: no cover - older jsonschema
            return self._validator_cls(schema)
