"""Token healing on the real SmolLM2-135M-Instruct: a prompt ending inside a JSON object heals
its boundary and the output still completes the object validly."""

from __future__ import annotations

import json

import jsonschema
import pytest

import decode

pytestmark = pytest.mark.model

SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "minLength": 1},
                                           "age": {"type": "integer", "minimum": 0}},
          "required": ["name", "age"], "additionalProperties": False}
PROMPT = 'Describe a person as JSON.\n{"name": "'
REST = decode.Regex(r'[A-Z][a-z]+( [A-Z][a-z]+)?", "age": [0-9]{1,2}\}')


@pytest.fixture(scope="module")
def smol():
    return decode.load_default_model(progress=lambda m: None)


@pytest.mark.parametrize("sampler", ["masked", "smc"])
def test_prompt_ending_in_an_open_string_heals_and_validates(smol, sampler):
    model, tok = smol
    kw = {"temperature": 0.0} if sampler == "masked" else {"temperature": 1.0, "sampler": "smc", "particles": 3}
    r = decode.generate(model, tok, PROMPT, REST, max_new_tokens=30, seed=0, heal_prompt=True, **kw)
    h = r.healed
    assert h.k >= 1 and h.removed.endswith(b' "')  # the space and the quote came off
    assert tok(PROMPT)["input_ids"][:-h.k] == h.prompt_ids
    # the output's first tokens spell the removed bytes again (one may run on into the name)
    spelled = h.constraint.vocab.decode_bytes(r.token_ids)
    assert spelled == h.removed + r.text.encode()
    assert len(h.constraint.vocab.decode_bytes(h.regenerated_ids)) >= len(h.removed)
    doc = '{"name": "' + r.text
    jsonschema.validate(json.loads(doc), SCHEMA)
    assert r.finished
