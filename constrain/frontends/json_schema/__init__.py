"""JSON Schema (draft 2020-12 and the older spellings real schemas use) -> grammar IR.

The front-end walks the schema once (:mod:`.lower`), producing rules over JSON lexemes
(:mod:`.lexemes`). Design choices, all documented in docs/json_schema.md:

* ``$ref`` without siblings becomes a rule reference, so recursive schemas need no depth cap;
  ``$ref`` with siblings and ``allOf`` are merged at the schema level (:mod:`.merge`).
* Object properties come in any order (each declared one at most once, the required ones all;
  the states are built on first visit, :mod:`constrain.ir.members`), or with
  ``property_order="declared"`` in ``properties`` order; undeclared properties may appear
  anywhere unless ``additionalProperties: false`` or ``strict=True`` (:mod:`.objects`).
* ``anyOf`` is a union; ``oneOf`` is a union of its branches, each conjoined with the
  complement of every other branch not provably disjoint from it (:mod:`.complement`,
  :mod:`.disjoint`); :class:`UnsupportedSchemaError` where a needed complement is not
  computable (``lenient=True`` treats it as ``anyOf``). ``not``, ``if``/``then``/``else`` and
  ``dependentSchemas`` use the same complements (:mod:`.applicators`).
* Integers may be spelled ``5.0`` and, unbounded, ``1e2`` (a regular subset of the spellings);
  bounded numbers without exponent (:mod:`.numbers`).
* A keyword that cannot be enforced raises :class:`UnsupportedSchemaError` naming the keyword
  and its JSON pointer, unless ``lenient=True``, which drops it with a warning (:mod:`.context`).

Layout, leaves first: :mod:`.values`, :mod:`.ir` (the internal keys a normalized schema carries,
with their typed entries), :mod:`.keywords`, :mod:`.lexemes`, :mod:`.numeric`, :mod:`.formats`,
:mod:`.normalize` (input normalisation), :mod:`.context`; then one module per keyword family
(:mod:`.refs`, :mod:`.merge`, :mod:`.applicators`, :mod:`.complement`, :mod:`.disjoint`,
:mod:`.enums`, :mod:`.numbers`, :mod:`.strings`, :mod:`.arrays`, :mod:`.objects`); and
:mod:`.lower`, the recursive core that combines them.
"""

from .context import SchemaWarning
from .lower import SchemaLowering, schema_to_grammar
from .normalize import normalize_schema_input

__all__ = ["SchemaLowering", "SchemaWarning", "normalize_schema_input", "schema_to_grammar"]
