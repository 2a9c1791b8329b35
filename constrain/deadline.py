"""TRANSITION SHIM: the compile budget moved to :mod:`constrain.budget` (phase 2 deletes this)."""

from .budget import (DEFAULT_MAX_MEMORY_BYTES, check_deadline, check_size, compile_budget, compile_deadline,
                     current_location, format_bytes, memory_budget, schema_location, state_budget)

__all__ = ["DEFAULT_MAX_MEMORY_BYTES", "check_deadline", "check_size", "compile_budget", "compile_deadline",
           "current_location", "format_bytes", "memory_budget", "schema_location", "state_budget"]
