"""Samplers: how the next token of each row is chosen from its logits and its grammar mask.

The loop hands a :class:`Sampler` the logits of the rows still running, their masks and their
batch indices, and gets one token per row back.  :class:`MaskedSampler` is the reference
(temperature / top-k / top-p through the fused mask+sample kernel, optional repetition
penalties); new samplers (rejection, SMC, aligned) are new modules here.
``decode.sample``'s strategies live here too: ``awrs`` (adaptive weighted rejection sampling,
single-token checks, unbiased weights), ``smc`` (the particle loop, the exact-mask proposal,
resampling), ``asap`` (grammar-aligned sampling: a trie of sampled prefixes whose learned
expected-future-grammaticality estimates steer later draws towards ``pi``), ``predicate`` (a
constraint as two Python checks, and the walkers both read) and ``samples`` (``Samples``
and the argument checks every method shares).
``finish_within_budget`` closing lives in :mod:`decode.samplers.budget`: there the grammar, not
the model, writes an output's last tokens.
"""

from .asap import GrammarAligned
from .awrs import AWRSProposal, awrs_select
from .base import MaskedSampler, Sampler
from .budget import close_within_budget, finish_margin
from .penalties import RepetitionPenalties
from .predicate import Predicate
from .samples import Samples
from .smc import MaskedProposal, run_particles

__all__ = ["AWRSProposal", "GrammarAligned", "MaskedProposal", "MaskedSampler", "Predicate", "RepetitionPenalties",
           "Sampler", "Samples", "awrs_select", "close_within_budget", "finish_margin", "run_particles"]
