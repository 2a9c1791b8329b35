"""TRANSITION SHIM: the JSON Schema front-end moved to :mod:`constrain.frontends.json_schema`
(a package, one module per keyword family); phase 2 deletes this.

Re-exports the public names and the ones other modules import (``_SCHEMA_MAPS``: the
benchmarks' schema walker; ``_Compiler``: the old name of the lowering class).
"""

from .frontends.json_schema import SchemaLowering, SchemaWarning, normalize_schema_input, schema_to_grammar
from .frontends.json_schema.keywords import ANNOTATIONS, SCHEMA_MAPS as _SCHEMA_MAPS, VALIDATION_KEYWORDS  # noqa: F401

_Compiler = SchemaLowering

__all__ = ["schema_to_grammar", "normalize_schema_input", "SchemaWarning"]
