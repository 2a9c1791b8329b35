"""Keys of additional properties ("any string but the declared names") through the pair
product of B (the key's content without the exclusion) and F (the declared names), whose
own canonical DFA is never built (``tokens.tables.USE_DIFFERENCE_PRODUCT``):

* every mask bit along random walks equals a brute-force oracle over a small vocabulary,
  with names that are prefixes of each other and of additional keys;
* on the real vocabulary, masks along random walks equal those of the canonical-DFA table
  and of a plain walk of that DFA (no difference table), for many declared names;
* compiling and walking such a schema leaves the difference lexemes' DFAs unbuilt.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import constrain.compiled as compiled_mod
import constrain.ir.grammar as grammar_mod
import constrain.tokens.counted_table as counted_mod
import constrain.tokens.tables as tables_mod
from constrain import compile_json_schema
from oracles import check_all_masks, small_vocab
from test_tokens import _random_walk_masks

MODES = {"product": (True, True), "canonical-dfa": (True, False), "plain-table": (False, False)}


def _fresh(monkeypatch, mode: str) -> None:
    """Fresh token tables and lexemes, with the difference tables of ``mode``."""
    tables, product = MODES[mode]
    monkeypatch.setattr(tables_mod, "USE_DIFFERENCE_TABLES", tables)
    monkeypatch.setattr(tables_mod, "USE_DIFFERENCE_PRODUCT", product)
    monkeypatch.setattr(tables_mod, "_TABLES", OrderedDict())
    monkeypatch.setattr(counted_mod, "_WALKS", OrderedDict())
    monkeypatch.setattr(grammar_mod, "_LEXEMES", OrderedDict())


# declared names that are prefixes of one another; any other key (a prefix of a name
# included) is an additional property with its own value
VALUES = {"a": "1", "ab": "2", "b1": "1"}
ORACLE_SCHEMA = {"type": "object", "properties": {k: {"const": int(v)} for k, v in VALUES.items()},
                 "additionalProperties": {"const": 3}, "maxProperties": 1}


def _oracle():
    """viable / complete for compact texts of ORACLE_SCHEMA over an alphabet without ``\\``
    (so a key has one spelling): ``{}`` or ``{"k":v}`` with v the value k must have."""

    def complete(b: bytes) -> bool:
        s = b.decode()
        if s == "{}":
            return True
        if not (s.startswith('{"') and s.endswith("}")) or '"' not in s[2:]:
            return False
        k, _, rest = s[2:].partition('"')
        return rest == ":" + VALUES.get(k, "3") + "}"

    def viable(b: bytes) -> bool:
        s = b.decode()
        if s in ("", "{", "{}"):
            return True
        if not s.startswith('{"'):
            return False
        k, quote, rest = s[2:].partition('"')
        if not quote:
            return True  # inside a key: some key (a name or an additional one) goes on
        return (":" + VALUES.get(k, "3") + "}").startswith(rest)

    return viable, complete


@pytest.mark.parametrize("mode", sorted(MODES))
def test_additional_keys_beside_declared_names_match_the_oracle(monkeypatch, mode):
    """Every mask bit at every step of random walks against the brute-force oracle."""
    _fresh(monkeypatch, mode)
    vocab = small_vocab(b'{}":ab123', max_len=2,
                        extra=(b'{"a', b'{"ab"', b'ab":', b'"a":', b'b1":', b'":3}', b'":1}', b'a"', b'ab'))
    compiled = compile_json_schema(ORACLE_SCHEMA, vocab, whitespace="compact")
    viable, complete = _oracle()
    # the oracle's own sanity: names and additional keys
    assert complete(b'{"ab":2}') and complete(b'{"abb":3}') and complete(b'{"":3}') and not complete(b'{"a":3}')
    check_all_masks(compiled, vocab, viable, complete, n_walks=40, max_steps=12, seed=3)


NAMES = [f"{stem}{suffix}" for stem in ("created", "updated", "owner", "id") for suffix in ("", "At", "By", "_id", "Id")]
SCHEMAS = {
    "additional": {"type": "object", "properties": {n: {"type": "integer"} for n in NAMES},
                   "additionalProperties": {"type": "boolean"}},
    "pattern": {"type": "object", "properties": {n: {"type": "integer"} for n in NAMES[:8]},
                "patternProperties": {"^[a-z]+$": {"type": "string", "maxLength": 3}},
                "additionalProperties": {"type": "null"}},
    "nested": {"type": "array", "items": {"type": "object", "properties": {"na\u00efve": {"const": 1}, "a\"b": {"const": 2},
                                                                             "": {"const": 3}},
                                          "additionalProperties": {"type": "object", "properties": {"x": {"const": 0}},
                                                                   "additionalProperties": False}},
               "maxItems": 2},
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_product_masks_equal_the_canonical_dfa_masks(smollm2_vocab, monkeypatch, name):
    """Masks along random walks (short tokens, so that walks spell keys byte by byte, into
    and past declared names) are the same whichever table serves the keys; in product mode
    no difference lexeme's DFA is built, at compile or during the walks."""
    got = {}
    for mode in MODES:
        _fresh(monkeypatch, mode)
        monkeypatch.setattr(compiled_mod, "EAGER_ROW_BUDGET_S", 0.0 if mode == "product" else 60.0)
        c = compile_json_schema(SCHEMAS[name], smollm2_vocab)
        got[mode] = _random_walk_masks(c, smollm2_vocab, seed=13, walks=8, steps=40, max_len=2)
        minus = [lx for lx in c.rtn.lexemes if lx.minus is not None]
        assert minus
        if mode == "product":
            assert all(lx._dfa is None for lx in minus)
    for mode in ("canonical-dfa", "plain-table"):
        assert len(got[mode]) == len(got["product"])
        for a, b in zip(got["product"], got[mode]):
            assert np.array_equal(a, b)


def test_emptiness_without_the_dfa_agrees(monkeypatch):
    """``Lexeme.is_empty`` answers an infinite B minus finite F without building C, and a
    finite B (here: at most 2 characters) goes to C's DFA, empty when every word is a name."""
    from constrain.frontends.json_schema.lexemes import JsonLexemes

    _fresh(monkeypatch, "product")
    L = JsonLexemes("compact")
    lx = L.string(exclude=("a", "b"))
    assert not lx.is_empty() and lx._dfa is None
    assert not lx.dfa.is_empty()
    finite = L.string(patterns=("^[ab]$",), exclude=("a", "b"))
    assert finite.minus is not None and finite.is_empty() and finite.dfa.is_empty()
    some = L.string(max_len=1, patterns=("^[ab]*$",), exclude=("a",))
    assert not some.is_empty()
    # a counted B (a long length bound: a small automaton plus a counter, whose table has
    # cycles whatever the bound) is not read as infinite: C's DFA answers
    counted = L.string(min_len=40, max_len=40, exclude=("a",))
    assert counted.minus is not None and getattr(counted.minus[0].dfa, "counted", False)
    assert not counted.is_empty() and counted._dfa is not None


def test_splits_taken_away_by_search_equal_isin(smollm2_vocab, monkeypatch):
    """``_store_corrected`` drops C's unsplit nodes from B's splits by searching B's sorted
    splits (``LexemeTable.split_order``, kept on B for every table over it): the same array,
    in the same order, as ``isin`` over all of them; some of the items do take nodes away."""
    from constrain.tokens import DifferenceLexemeTable
    from constrain.tokens.lexeme_tables import difference_regions

    _fresh(monkeypatch, "product")
    monkeypatch.setattr(compiled_mod, "EAGER_ROW_BUDGET_S", 0.0)
    c = compile_json_schema(SCHEMAS["additional"], smollm2_vocab)
    items = []
    for t in {id(t): t for t in c.automaton.tables}.values():
        if isinstance(t, DifferenceLexemeTable):
            for q in range(min(t.n_states, 40)):
                g, f = t._representative(q)
                if 0 <= g < t.base.n_states and f < t._F_flat.shape[0]:
                    items.append((t, q, g, f))
    assert items
    taken = 0
    for (t, q, g, _), (unalive, unsplit) in zip(items, difference_regions(items)):
        base = t.base.splits(g)
        t._store_corrected(q, g, unalive, unsplit)
        want = base[~np.isin(base, unsplit)] if unsplit.size else base
        assert np.array_equal(t._splits[q], want), q
        taken += int(want.size < base.size)
    assert taken


def test_single_rows_equal_a_plain_walk_and_keep_b_arrays(smollm2_vocab, monkeypatch):
    """A difference table's rows computed one at a time (``_compute``: the depth-first walk
    along F stepping C and B, what it finds taken away from B's arrays) equal a plain walk of
    C's own automaton, rows and split sets, for every reachable state of the first 80;
    some rows take tokens away (after ``"id`` the quote would close a declared name), and
    where nothing is taken away the row and the splits are B's own arrays."""
    from constrain.tokens import DifferenceLexemeTable, LexemeTable

    _fresh(monkeypatch, "product")
    monkeypatch.setattr(compiled_mod, "EAGER_ROW_BUDGET_S", 0.0)
    c = compile_json_schema(SCHEMAS["additional"], smollm2_vocab)
    tables = [t for t in {id(t): t for t in c.automaton.tables}.values() if isinstance(t, DifferenceLexemeTable)]
    assert tables
    taken = same = 0
    for t in tables:
        plain = LexemeTable(t.dfa, smollm2_vocab)
        for q in range(min(t.n_states, 80)):
            g, f = t._representative(q)
            if not 0 <= g < t.base.n_states:
                continue
            t._rows.pop(q, None), t._splits.pop(q, None)
            t._compute(q)
            assert np.array_equal(t.row(q), plain.row(q)), q
            assert np.array_equal(np.sort(t.splits(q)), np.sort(plain.splits(q))), q
            if t.row(q) is t.base.row(g) and t.splits(q) is t.base.splits(g):
                same += 1
            elif not np.array_equal(t.row(q), t.base.row(g)):
                taken += 1
    assert taken and same
