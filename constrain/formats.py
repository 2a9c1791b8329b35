"""TRANSITION SHIM: moved to :mod:`constrain.frontends.json_schema.formats`; phase 2 deletes this.

Re-exports every name of the new module (private ones too: tests and the benchmarks import
a few), so old imports keep working. Monkeypatching must target the new module.
"""

from .frontends.json_schema import formats as _moved

globals().update({_k: _v for _k, _v in vars(_moved).items() if not _k.startswith("__")})
__all__ = list(_moved.__all__)
del _moved
