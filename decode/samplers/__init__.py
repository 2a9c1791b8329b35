"""Samplers: how the next token of each row is chosen from its logits and its grammar mask.

The loop hands a :class:`Sampler` the logits of the rows still running, their masks and their
batch indices, and gets one token per row back.  :class:`MaskedSampler` is the reference
(temperature / top-k / top-p through the fused mask+sample kernel, optional repetition
penalties); new samplers (rejection, SMC, aligned) are new modules here.
``finish_within_budget`` closing lives in :mod:`decode.samplers.budget`: there the grammar, not
the model, writes an output's last tokens.
"""

from .base import MaskedSampler, Sampler
from .budget import close_within_budget, finish_margin
from .penalties import RepetitionPenalties

__all__ = ["MaskedSampler", "RepetitionPenalties", "Sampler", "close_within_budget", "finish_margin"]
