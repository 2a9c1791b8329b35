"""JSON options: how JSON texts may be spelled, defined once for every entry that takes them.

``compile_json_schema`` takes them for the whole output, ``compile_lark`` for its ``%json{...}``
blocks, and ``decode.generate`` narrows them for generation. Before this module the same eight
options were restated in four signatures (with a default that had drifted); now each entry
builds one :class:`JsonOptions` -- from ``options=`` and/or its keyword arguments -- and the
defaults live only here.

The defaults accept every JSON spelling of a valid instance (bounded whitespace runs aside);
:attr:`JsonOptions.GENERATION` is the narrowing generation uses: one canonical spelling of
literals and strings, no trailing whitespace, no blank-line runs, properties in declared order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar

from .errors import OptionError

__all__ = ["DEFAULT", "JsonOptions"]


class _Default:
    """Marks a keyword argument left out (``None`` is a meaningful value: "unbounded")."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<JsonOptions default>"

    def __reduce__(self):
        return (_Default, ())


#: The value of a JSON-option keyword that was not passed: the :class:`JsonOptions` default
#: (or the ``options=`` argument's value) applies.
DEFAULT: Any = _Default()


@dataclass(frozen=True)
class JsonOptions:
    """How the JSON texts of a schema may be spelled (see ``compile_json_schema``).

    ``strict``: undeclared properties are forbidden (names in ``required`` count as declared);
    ``lenient``: keywords that cannot be enforced are dropped with a warning naming each;
    ``whitespace``: ``"flexible"`` (wherever JSON allows it) or ``"compact"`` (none), in runs
    of at most ``max_whitespace`` characters (``None``: unbounded) with at most
    ``max_newlines`` line feeds each (``None``: any); ``trailing_whitespace=False`` ends the
    text right after the root value; ``canonical_literals`` spells strings the schema fixes
    only as ``json.dumps(s, ensure_ascii=False)`` does; ``canonical_strings`` does so for every
    string (implies ``canonical_literals``); ``property_order``: ``"any"`` accepts an object's
    properties in any order (as JSON Schema does), ``"declared"`` only in ``properties``
    order (undeclared ones between and after them), a narrowing generation uses;
    ``format_assertion``: ``True`` (default) enforces ``format`` (what generation wants),
    ``False`` reads it as draft 2020-12's default annotation vocabulary does (no check);
    ``openapi_formats``: also enforce OpenAPI's string format ``byte`` (base64), which JSON
    Schema does not define, so by default it is an unknown format: a warning, no check (a
    validator accepts ``"caBundle": "-----BEGIN ..."``); generation turns it on.
    """

    strict: bool = False
    lenient: bool = False
    whitespace: str = "flexible"
    max_whitespace: int | None = 16
    max_newlines: int | None = None
    trailing_whitespace: bool = True
    canonical_literals: bool = False
    canonical_strings: bool = False
    property_order: str = "any"
    format_assertion: bool = True
    openapi_formats: bool = False

    #: The narrowing ``decode.generate`` applies (``decode.GENERATION_JSON_OPTIONS`` as a dict).
    GENERATION: ClassVar["JsonOptions"]

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in declaration order."""
        return tuple(f.name for f in fields(cls))

    def replace(self, **changes: Any) -> "JsonOptions":
        """A copy with ``changes``; an unknown name is an :class:`OptionError`."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise OptionError(f"unknown JSON option(s) {unknown}; expected some of {list(self.names())}")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Every option by name (the keyword arguments of ``schema_to_grammar``)."""
        return asdict(self)

    @classmethod
    def build(cls, options: "JsonOptions | None" = None, **keywords: Any) -> "JsonOptions":
        """``options`` (default: the defaults) with the ``keywords`` that were passed
        (not :data:`DEFAULT`) replacing its values: how compile entries merge both forms."""
        if options is None:
            options = _DEFAULTS
        elif not isinstance(options, JsonOptions):
            raise OptionError(f"options must be a JsonOptions, not {type(options).__name__}")
        given = {k: v for k, v in keywords.items() if v is not DEFAULT}
        return options.replace(**given) if given else options


_DEFAULTS = JsonOptions()
JsonOptions.GENERATION = JsonOptions(strict=True, canonical_literals=True, canonical_strings=True,
                                     trailing_whitespace=False, whitespace="flexible", max_whitespace=16,
                                     max_newlines=1, property_order="declared",
                                     openapi_formats=True)
