"""``decode.generate(..., canonical_tokens=True)``: every sampled token sequence is the
tokenizer's own encoding of the output (the tiny random model picks non-canonical splits
freely when it may)."""

import json

import pytest

import decode
from constrain import compile_json_schema
from decode.result import GenerationArgumentError

SCHEMA = {"type": "object", "properties": {"orderId": {"type": "integer"}, "name": {"type": "string"}},
          "required": ["orderId", "name"]}


def _generated_ids(res, vocab):
    ids = list(res.token_ids)
    eos = set(vocab.eos_ids.tolist())
    return [i for i in ids if i not in eos]


def test_generate_canonical_outputs(smol_model, smollm2_tokenizer, smollm2_vocab):
    non_canonical_plain = 0
    for seed in range(2):
        res = decode.generate(smol_model, smollm2_tokenizer, "Order:", SCHEMA, max_new_tokens=24, seed=seed,
                              canonical_tokens=True, finish_within_budget=True)
        ids = _generated_ids(res, smollm2_vocab)
        assert smollm2_vocab.is_canonical(ids), [smollm2_vocab.token_bytes[i] for i in ids]
        json.loads(res.text)
        plain = decode.generate(smol_model, smollm2_tokenizer, "Order:", SCHEMA, max_new_tokens=24, seed=seed,
                                finish_within_budget=True)
        non_canonical_plain += not smollm2_vocab.is_canonical(_generated_ids(plain, smollm2_vocab))
    assert non_canonical_plain > 0  # without the option the random model does split oddly


def test_canonical_compiled_and_argument_checks(smol_model, smollm2_tokenizer, smollm2_vocab):
    c = compile_json_schema(SCHEMA, smollm2_vocab, canonical_tokens=True)
    res = decode.generate(smol_model, smollm2_tokenizer, "x", c, max_new_tokens=30, seed=1,
                          finish_within_budget=True)
    assert smollm2_vocab.is_canonical(_generated_ids(res, smollm2_vocab))
    plain = compile_json_schema(SCHEMA, smollm2_vocab)
    with pytest.raises(GenerationArgumentError, match="canonical_tokens"):
        decode.generate(smol_model, smollm2_tokenizer, "x", plain, canonical_tokens=True)
    with pytest.raises(GenerationArgumentError, match="canonical_tokens"):
        decode.generate(smol_model, smollm2_tokenizer, "x", SCHEMA, canonical_tokens="yes")
