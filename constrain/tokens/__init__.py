"""The token layer: a vocabulary's exact bytes and trie, and grammars walked over it.

Below it, byte automata (:mod:`constrain.automata`) and the grammar IR (:mod:`constrain.ir`);
above it, :mod:`constrain.compiled` and the matcher. Modules, bottom up: :mod:`.bytelevel`,
:mod:`.hf_vocab`, :mod:`.vocab` (:class:`Vocabulary`), :mod:`.canonical` (the canonical-token filter),
:mod:`.bitmask`, :mod:`.trie` (walks),
:mod:`.lexeme_tables` / :mod:`.counted_table` (token rows of one lexeme), :mod:`.tables`
(the shared cache and the :class:`TokenTable` interface), :mod:`.completion` and
:mod:`.token_automaton` (:class:`TokenAutomaton`: parser states x lexeme rows -> masks).
"""

from .bitmask import bits_at, clear_bits, count_bits, pack_bits, set_bits
from .canonical import CanonicalFilter, canonical_filter
from .counted_table import CountedLexemeTable
from .lexeme_tables import DENSE_MIN_NODES, DifferenceLexemeTable, LexemeTable, compute_rows_batched
from .tables import TokenTable, lexeme_table
from .token_automaton import TokenAutomaton
from .trie import DenseTrie, child_lists, csr_positions, dense_trie, row_from_nodes, tokens_at_nodes, walk_trie
from .vocab import Vocabulary, require_eos, require_vocabulary

__all__ = ["CanonicalFilter", "CountedLexemeTable", "DENSE_MIN_NODES", "DenseTrie", "DifferenceLexemeTable", "LexemeTable", "TokenAutomaton",
           "TokenTable", "Vocabulary", "bits_at", "canonical_filter", "child_lists", "clear_bits", "compute_rows_batched", "count_bits", "csr_positions", "dense_trie",
           "lexeme_table", "pack_bits", "require_eos", "require_vocabulary", "row_from_nodes", "set_bits",
           "tokens_at_nodes", "walk_trie"]
