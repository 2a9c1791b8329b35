"""TRANSITION SHIM: the vocabulary moved to :mod:`constrain.tokens.vocab` (phase 2 deletes this)."""

from .tokens.bytelevel import BYTES_TO_UNICODE, UNICODE_TO_BYTES
from .tokens.vocab import CONTROL_NAMES, EOS_NAMES, Vocabulary, require_eos, require_vocabulary

__all__ = ["BYTES_TO_UNICODE", "CONTROL_NAMES", "EOS_NAMES", "UNICODE_TO_BYTES", "Vocabulary", "require_eos",
           "require_vocabulary"]
