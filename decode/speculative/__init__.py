"""Speculative decoding with grammar-legal drafts: lossless, several tokens per model pass.

Structured outputs are full of text the grammar already knows (property names, punctuation,
enum values, closing brackets) or that the prompt holds (values copied in extraction
tasks).  Here that text becomes *drafts* that one model pass verifies with the target's
masked law at every position, so the output law is exactly that of sequential masked
sampling and greedy output is token-for-token the plain loop's (ALGORITHMS.md section 3),
unlike jump-forward, which appends forced text in a tokenization the model may not have
chosen.  Tokens that are the only ones their mask allows are appended without a pass.

One module per concept: :mod:`.config` (``Speculation``, the settings), :mod:`.drafts` (the
draft sources and the ``Drafter`` that keeps their legal prefix), :mod:`.model_draft` (``ModelDraft``, a draft model's masked guesses), :mod:`.suffix`
(``SuffixStore``, earlier generations' outputs shared across requests, and its source), :mod:`.verify` (the
target's law per position and the acceptance rule), :mod:`.step` (``SpeculativeStep``, the
strategy that ``decode.generate``'s loop runs, with KV-cache rollback), :mod:`.particles`
(the same over a ``decode.TokenLM`` for ``decode.sample``).
"""

from .config import DRAFT_SOURCES, Speculation, as_speculation
from .drafts import (Draft, DraftContext, Drafter, DraftSource, FreeWalk, GrammarDraft, NgramDraft,
                     RecyclingDraft, make_sources, single_token)
from .model_draft import ModelDraft
from .particles import run_speculative
from .step import SpeculativeStep
from .suffix import SuffixDraft, SuffixStore
from .verify import TorchChooser, greedy_targets, target_probs, verify_greedy, verify_sampled

__all__ = ["DRAFT_SOURCES", "Draft", "DraftContext", "DraftSource", "Drafter", "FreeWalk", "GrammarDraft",
           "ModelDraft", "NgramDraft", "RecyclingDraft", "SpeculativeStep", "Speculation", "SuffixDraft", "SuffixStore", "TorchChooser", "as_speculation",
           "greedy_targets", "make_sources", "run_speculative", "single_token", "target_probs", "verify_greedy",
           "verify_sampled"]
