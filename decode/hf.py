"""TRANSITION SHIM: ``decode.hf`` now lives in ``decode.integrations.hf`` (LogitsProcessor) and
``decode.models`` (model loading).  Phase 2 of issue 12 removes this module; import
``decode.LogitsProcessor`` / ``decode.load_model`` instead.
"""

from .integrations.hf import LogitsProcessor
from .models import DEFAULT_GGUF, load_default_model, load_model

__all__ = ["DEFAULT_GGUF", "LogitsProcessor", "load_default_model", "load_model"]
