"""End-to-end on the real SmolLM2-135M-Instruct (CPU, float32), short outputs only.

Marked ``model``: loading the cached model takes seconds, each test decodes a few dozen
tokens at most.  Deselect with ``-m 'not model'``.
"""

from __future__ import annotations

import json
import re
from typing import Literal

import pytest
import torch
from pydantic import BaseModel, ConfigDict, Field
from transformers import LogitsProcessorList

import decode

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def smol():
    return decode.load_default_model(progress=lambda m: None)


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: Literal["yes", "no"]
    confidence: int = Field(ge=0, le=100)


def test_generate_object_real_model(smol):
    model, tok = smol
    msgs = [{"role": "user", "content": 'Is Paris the capital of France? Reply with JSON: '
                                        '{"answer": "yes" or "no", "confidence": 0-100}'}]
    obj, res = decode.generate_object(model, tok, msgs, Verdict, temperature=0.0, max_new_tokens=40,
                                      return_result=True)
    assert isinstance(obj, Verdict)
    assert res.value == json.loads(res.text) and res.finished
    t = res.timings
    assert t["n_tokens"] == len(res.token_ids) > 0 and t["mask_time_s"] > 0


def test_regex_batch_and_logits_processor_real_model(smol):
    model, tok = smol
    pats = [r"(yes|no)", r"\d{4}"]
    prompts = [[{"role": "user", "content": "Is water wet? Answer yes or no."}],
               [{"role": "user", "content": "In which year did World War II end?"}]]
    rs = decode.generate(model, tok, prompts, [decode.Regex(p) for p in pats], temperature=0.0,
                         max_new_tokens=12)
    for r, p in zip(rs, pats):
        assert r.finished and re.fullmatch(p, r.text), (p, r.text)

    # the HF processor gives the same greedy tokens as our loop
    import constrain

    vocab = constrain.Vocabulary.from_hf(tok, vocab_size=model.config.vocab_size)
    compiled = constrain.compile_regex(pats[1], vocab)
    text = tok.apply_chat_template(prompts[1], add_generation_prompt=True, tokenize=False)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    proc = decode.LogitsProcessor(compiled, eos_token_id=tok.eos_token_id)
    with torch.inference_mode():
        out = model.generate(**enc, logits_processor=LogitsProcessorList([proc]), do_sample=False,
                             max_new_tokens=12, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    gen = out[0, enc["input_ids"].shape[1]:].tolist()
    assert gen[-1] == tok.eos_token_id
    assert gen[:-1] == rs[1].token_ids
