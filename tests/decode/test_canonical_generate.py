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


def _canonical_prefix(tok, vocab, ids) -> bool:
    """``ids`` start the tokenizer's encoding of their text plus some continuation (an output
    cut by ``max_new_tokens`` may stop in a blank run the next byte would re-split)."""
    text = vocab.decode_bytes(ids).decode("utf-8", "replace")
    return any(tok.encode(text + c, add_special_tokens=False)[: len(ids)] == ids
               for c in ("", " ", "a", "0", "!", '"', "}", "\n"))


def test_generate_canonical_outputs(smol_model, smollm2_tokenizer, smollm2_vocab):
    non_canonical_plain = 0
    for seed in range(2):
        # (no finish_within_budget: the grammar's closing bytes are appended as they encode
        # alone, and their junction with the output need not be canonical)
        res = decode.generate(smol_model, smollm2_tokenizer, "Order:", SCHEMA, max_new_tokens=24, seed=seed,
                              canonical_tokens=True)
        ids = _generated_ids(res, smollm2_vocab)
        assert _canonical_prefix(smollm2_tokenizer, smollm2_vocab, ids), [smollm2_vocab.token_bytes[i] for i in ids]
        if res.finished:
            assert smollm2_vocab.is_canonical(ids)
            json.loads(res.text)
        plain = decode.generate(smol_model, smollm2_tokenizer, "Order:", SCHEMA, max_new_tokens=24, seed=seed)
        non_canonical_plain += not _canonical_prefix(smollm2_tokenizer, smollm2_vocab,
                                                     _generated_ids(plain, smollm2_vocab))
    assert non_canonical_plain > 0  # without the option the random model does split oddly


def test_canonical_compiled_and_argument_checks(smol_model, smollm2_tokenizer, smollm2_vocab):
    c = compile_json_schema(SCHEMA, smollm2_vocab, canonical_tokens=True)
    res = decode.generate(smol_model, smollm2_tokenizer, "x", c, max_new_tokens=30, seed=1)
    assert _canonical_prefix(smollm2_tokenizer, smollm2_vocab, _generated_ids(res, smollm2_vocab))
    plain = compile_json_schema(SCHEMA, smollm2_vocab)
    with pytest.raises(GenerationArgumentError, match="canonical_tokens"):
        decode.generate(smol_model, smollm2_tokenizer, "x", plain, canonical_tokens=True)
    with pytest.raises(GenerationArgumentError, match="canonical_tokens"):
        decode.generate(smol_model, smollm2_tokenizer, "x", SCHEMA, canonical_tokens="yes")


def test_canonical_tokens_with_heal_prompt(smol_model, smollm2_tokenizer, smollm2_vocab):
    """Healed and canonical, every sampler: the kept prompt's tokens followed by the output's
    (the removed bytes regenerated, then the constraint) start the tokenizer's own encoding of
    the kept text plus the output, for the chosen output and every weighted particle."""
    tok, vocab = smollm2_tokenizer, smollm2_vocab
    prompt = 'Person: {"name": "'
    rx = decode.Regex(r'[A-Z][a-z]{1,8}", "age": [0-9]{1,2}\}')
    runs = [({}, s) for s in range(3)] + [({"sampler": "smc", "particles": 3}, 0),
                                          ({"sampler": "awrs", "particles": 3}, 0)]
    for kw, seed in runs:
        r = decode.generate(smol_model, tok, prompt, rx, max_new_tokens=30, seed=seed, heal_prompt=True,
                            canonical_tokens=True, **kw)
        h = r.healed
        assert h.k >= 1 and h.constraint.canonical_tokens and h.removed.endswith(b'"'), kw
        ids = _generated_ids(r, vocab)
        assert vocab.decode_bytes(ids) == h.removed + r.text.encode(), kw
        assert _canonical_prefix(tok, vocab, h.prompt_ids + ids), (kw, [vocab.token_bytes[i] for i in ids])
        assert r.finished, kw
        eos = set(vocab.eos_ids.tolist())
        for p_ids in (r.samples.token_ids if kw else []):  # every particle, weighted or not
            p_ids = [i for i in p_ids if i not in eos]
            assert _canonical_prefix(tok, vocab, h.prompt_ids + p_ids), (kw, p_ids)


def test_asap_heals_canonically_smollm2(smol_model, smollm2_tokenizer, smollm2_vocab):
    """ASAp (``decode.sample(method="asap")``, not a ``generate`` sampler) on the healed view."""
    from decode import HFTokenLM, heal, sample

    tok, vocab = smollm2_tokenizer, smollm2_vocab
    ids = tok('Person: {"name": "')["input_ids"]
    c = decode.as_compiled(decode.Regex(r'[A-Z][a-z]{1,8}"\}'), vocab, canonical_tokens=True)
    h = heal(vocab, ids, c)
    assert h.k >= 1
    s = sample(HFTokenLM(smol_model, tok, vocab=vocab), h.prompt_ids, h.constraint, method="asap", n=3,
               max_new_tokens=16, seed=0)
    eos = set(vocab.eos_ids.tolist())
    for out in s.token_ids:
        out = [i for i in out if i not in eos]
        assert vocab.decode_bytes(out).startswith(h.removed)
        assert _canonical_prefix(tok, vocab, h.prompt_ids + out), [vocab.token_bytes[i] for i in out]


def test_weighted_samplers_compile_canonically(smol_model, smollm2_tokenizer, smollm2_vocab):
    """``canonical_tokens=True`` with SMC / AWRS compiles a schema with the option (no
    ``Compiled`` needed); a ``Compiled`` without it is refused rather than run plain."""
    for sampler in ("smc", "awrs"):
        r = decode.generate(smol_model, smollm2_tokenizer, "Order:", SCHEMA, max_new_tokens=24, seed=0,
                            sampler=sampler, particles=2, canonical_tokens=True)
        eos = set(smollm2_vocab.eos_ids.tolist())
        for ids in r.samples.token_ids:
            ids = [i for i in ids if i not in eos]
            assert _canonical_prefix(smollm2_tokenizer, smollm2_vocab, ids), sampler
    plain = compile_json_schema(SCHEMA, smollm2_vocab)
    with pytest.raises(GenerationArgumentError, match="canonical_tokens"):
        decode.generate(smol_model, smollm2_tokenizer, "x", plain, canonical_tokens=True, sampler="smc",
                        max_new_tokens=4)
