"""Grammar drafts are canonical (ALGORITHMS.md 3.6 and 3.7.4), on the three tokenizer families.

At every token boundary of a valid output's canonical tokenization where the grammar forces
bytes, :class:`~decode.speculative.GrammarDraft`'s draft must (1) round-trip: its bytes are
a prefix of the forced bytes (the rest, the leftover, is left to the model), and (2) be
canonical: a prefix of the tokens the tokenizer itself gives the rest of the output, so the
draft never proposes a split the model has not seen.  The corpus: hand-made schemas whose
forced text spans several tokens (long keys, enum values, nested objects) and the bridge
case of optional ``orderId`` / ``orderName`` (after ``{"`` the grammar forces ``order``,
which ends inside a token where a tokenizer has ``orderId`` or ``orderName``), plus MaskBench
schemas with their valid instances on SmolLM2's tokenizer.
"""

from __future__ import annotations

import json

import pytest

import constrain
from decode.speculative import DraftContext, GrammarDraft
from tests import paths

MASKBENCH = paths.SHARED_DATA / "maskbench"

ORDER = {"type": "object", "properties": {"orderId": {"type": "integer"}, "orderName": {"type": "string"}},
         "additionalProperties": False}
PERSON = {"type": "object", "properties": {
    "name_of_the_person": {"type": "string"}, "date_of_birth": {"type": "string", "format": "date"},
    "favourite_colour": {"enum": ["ultramarine", "burnt sienna", "yellow ochre"]},
    "address": {"type": "object", "properties": {"street_address": {"type": "string"},
                                                 "postal_code": {"type": "string"}},
                "required": ["street_address", "postal_code"], "additionalProperties": False},
    "is_active_customer": {"type": "boolean"}},
    "required": ["name_of_the_person", "favourite_colour", "address", "is_active_customer"],
    "additionalProperties": False}
ITEMS = {"type": "array", "items": {"type": "object", "properties": {
    "productIdentifier": {"const": "SKU-0001"}, "quantityOrdered": {"type": "integer"}},
    "required": ["productIdentifier", "quantityOrdered"], "additionalProperties": False}}

CORPUS = [
    (ORDER, ['{"orderId": 12}', '{"orderName": "Bob"}', '{"orderId": 7, "orderName": "x"}', '{}']),
    (PERSON, ['{"name_of_the_person": "Ann Lee", "favourite_colour": "burnt sienna", "address": '
              '{"street_address": "1 Main St", "postal_code": "90210"}, "is_active_customer": true}',
              '{"name_of_the_person":"Bo","date_of_birth":"2001-02-03","favourite_colour":"yellow ochre",'
              '"address":{"street_address":"x","postal_code":"y"},"is_active_customer":false}']),
    (ITEMS, ['[{"productIdentifier": "SKU-0001", "quantityOrdered": 3}, '
             '{"productIdentifier": "SKU-0001", "quantityOrdered": 10}]']),
]


def check_drafts(vocab, compiled, text: str) -> tuple[int, int]:
    """Walk ``text``'s canonical tokens; at each position with forced bytes, check the grammar
    draft.  Returns (positions with forced bytes, drafted tokens)."""
    ids = vocab.encode(text)
    draft = GrammarDraft(vocab)
    m = compiled.matcher()
    forced_positions = drafted = 0
    for j, t in enumerate(ids):
        forced = m.forced_bytes()
        if forced:
            forced_positions += 1
            got = draft.propose(DraftContext(m, list(ids[:j]), vocab), 64)
            data = vocab.decode_bytes(got)
            assert forced.startswith(data), (text, j, forced, data)  # round trip: data + leftover == forced
            assert list(got) == list(ids[j:j + len(got)]), (text, j, forced, got, ids[j:j + len(got)])
            drafted += len(got)
        assert m.advance(int(t)), (text, j)
    return forced_positions, drafted


@pytest.mark.parametrize("schema,texts", CORPUS, ids=["order", "person", "items"])
def test_grammar_drafts_are_canonical(family, schema, texts):
    name, tok, vocab = family
    compiled = constrain.compile_json_schema(schema, vocab, options=constrain.JsonOptions.GENERATION)
    forced = drafted = 0
    for text in texts:
        f, d = check_drafts(vocab, compiled, text)
        forced, drafted = forced + f, drafted + d
    assert forced > 0 and drafted > 0  # not vacuous


def test_bridge_token_order_id(family):
    """After ``{"`` the grammar forces ``order``; the draft never commits to a split of
    ``orderId`` / ``orderName`` that the tokenizer would not make."""
    name, tok, vocab = family
    compiled = constrain.compile_json_schema(ORDER, vocab, options=constrain.JsonOptions.GENERATION)
    m = compiled.matcher()
    for t in vocab.encode('{"'):
        assert m.advance(t)
    assert m.forced_bytes().startswith(b"order")
    got = GrammarDraft(vocab).propose(DraftContext(m, [], vocab), 8)
    for key in ("orderId", "orderName"):
        rest = vocab.encode('{"' + key + '": 1}')[len(vocab.encode('{"')):]
        assert list(got) == rest[:len(got)], (key, got, rest)
    # with a token that runs past the forced bytes (as some tokenizers have), nothing forced is drafted
    if any((vocab.token_bytes[t] or b"").startswith(b"order") and len(vocab.token_bytes[t]) > 5
           and m.is_allowed(t) for t in range(vocab.size)):
        assert b"".join(vocab.token_bytes[t] for t in got) != b"order"


@pytest.mark.skipif(not MASKBENCH.exists(), reason="../shared/data/maskbench not present")
def test_maskbench_instances(smollm2_vocab):
    from decode.bench.maskbench import load_sample

    vocab = smollm2_vocab
    checked = 0
    for e in load_sample(MASKBENCH, sample=6, seed=3):
        try:
            compiled = constrain.compile_json_schema(e.schema, vocab, options=constrain.JsonOptions.GENERATION)
        except constrain.ConstraintError:
            continue
        for test in e.tests:
            if not test.get("valid"):
                continue
            text = json.dumps(test["data"], ensure_ascii=False)
            m = compiled.matcher()
            if not all(m.advance(t) for t in vocab.encode(text)):
                continue  # another property order or number spelling than generation allows
            check_drafts(vocab, compiled, text)
            checked += 1
    assert checked >= 3
