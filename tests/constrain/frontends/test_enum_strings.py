"""An enum's string values are one lexeme (a trie of their spellings), not one per value.

The language is the same as one literal lexeme per value, so the masks must be too: checked
state by state against the per-value construction (``GROUP_STRING_ENUMS = False``) along
walks on SmolLM2's vocabulary, and verdicts against ``jsonschema`` on a byte vocabulary."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

import constrain
import constrain.frontends.json_schema.enums as enums_mod
from constrain import compile_json_schema
from tests.constrain.frontends.test_allof import accepts, byte_vocab  # noqa: F401  (fixture)

CODES = [f"{a:03d}-{b:03d}" for a in range(5, 30, 3) for b in range(1, 40, 7)]  # 54 codes
SCHEMAS = [
    {"type": "string", "enum": CODES},
    {"enum": ["a", "ab", "abc", "b\"q", "caf\u00e9", "", "\U0001F600", "x\ny", 1, 2.5, None, True, ["a"], {"k": "a"}]},
    {"type": "object", "properties": {"code": {"enum": CODES}, "kind": {"enum": ["alpha", "beta", "alphabet"]}},
     "required": ["code"], "additionalProperties": False},
    {"type": "array", "items": {"enum": ["red", "green", "blue", "re", "reed"], "not": {"const": "green"}}},
    {"anyOf": [{"enum": ["on", "off"]}, {"enum": ["off", "auto", 3]}]},
    {"type": "string", "enum": ["ab", "abc", "abd", "b"], "minLength": 2, "pattern": "^a"},
]
TEXTS = ['"005-001"', '"005-008"', '"029-036"', '"005-00"', '"005-0010"', '"a"', '"ab"', '"abc"', '"ac"', '""',
         '"b\\"q"', '"caf\\u00e9"', '"caf\u00e9"', '"\\ud83d\\ude00"', '"x\\ny"', '1', '2.5', '2.50', 'null', 'true',
         '["a"]', '{"k": "a"}', '{"code": "005-001"}', '{"code": "005-001", "kind": "alphabet"}',
         '{"kind": "beta", "code": "008-015"}', '{"code": "005-002", "kind": "alph"}', '["red", "reed"]',
         '["green"]', '["re", "blue", "red"]', '"on"', '"off"', '"auto"', '3', '"abd"', '"b"']


def _walk_masks(compiled, vocab, text):
    m = compiled.matcher()
    out = [m.mask().copy()]
    for t in vocab.encode(text):
        if not m.advance(t):
            break
        out.append(m.mask().copy())
    return out


def assert_grouping_keeps_masks(schema, vocab, texts, monkeypatch, flag: str) -> None:
    """Every mask along every text's walk (as far as it goes) is the same with the enums
    module's ``flag`` on (one lexeme for the values) and off (one per value)."""
    masks = {}
    for group in (True, False):
        monkeypatch.setattr(enums_mod, flag, group)
        constrain.clear_caches()
        c = compile_json_schema(schema, vocab)
        masks[group] = [_walk_masks(c, vocab, t) for t in texts]
    for t, a, b in zip(texts, masks[True], masks[False]):
        assert len(a) == len(b), t
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), t


@pytest.mark.parametrize("schema", SCHEMAS)
def test_grouped_string_enums_give_the_same_masks(smollm2_vocab, schema, monkeypatch):
    """Every mask along every text's walk (as far as it goes) equals the per-value build's."""
    assert_grouping_keeps_masks(schema, smollm2_vocab, TEXTS, monkeypatch, "GROUP_STRING_ENUMS")


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("canonical", [False, True])
def test_grouped_string_enums_verdicts(byte_vocab, schema, canonical):
    """Verdicts against jsonschema (every spelling; with ``canonical_literals`` the escaped
    spellings of plain characters are refused, the plain ones kept)."""
    c = compile_json_schema(schema, byte_vocab, canonical_literals=canonical)
    v = jsonschema.Draft202012Validator(schema)
    for t in TEXTS:
        want = v.is_valid(json.loads(t))
        if canonical and want and t != json.dumps(json.loads(t), ensure_ascii=False, separators=(", ", ": ")):
            continue  # a non-canonical spelling: refused or not by design, not by this change
        assert accepts(c, byte_vocab, t) == want, t
