"""``decode.vllm.StructgenLogitsProcessor`` against vLLM's real interface classes.

Runs where vLLM imports (``pip install structgen[vllm]``; the pure-Python parts of the wheel are
enough) and is skipped cleanly elsewhere.  vLLM's own ``BatchUpdateBuilder`` produces the batch
updates and vLLM's own loader and parameter validation take the class by its qualified name;
the logits come from a seeded generator standing in for the model, greedy, as vLLM's sampler
would pick after the processors.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import jsonschema
import pytest
import torch

lp = pytest.importorskip("vllm.v1.sample.logits_processor", reason="vLLM is not installed",
                         exc_type=ImportError)
from vllm import SamplingParams  # noqa: E402

from decode.vllm import StructgenLogitsProcessor  # noqa: E402

FQCN = "decode.vllm:StructgenLogitsProcessor"
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["ok", "n"],
          "properties": {"ok": {"type": "boolean"}, "n": {"enum": [1, 2, 3]}}}


@pytest.fixture(scope="module")
def tokenizer(smollm2_tokenizer):
    return smollm2_tokenizer


@pytest.fixture(scope="module")
def processor():
    from constrain.tokenizers import smollm2_dir

    config = SimpleNamespace(model_config=SimpleNamespace(
        tokenizer=str(smollm2_dir()), tokenizer_revision=None, trust_remote_code=False,
        get_vocab_size=lambda: 49152))
    return StructgenLogitsProcessor(config, torch.device("cpu"), False)


def _params(extra, tokenizer, **kw):
    p = SamplingParams(max_tokens=80, extra_args=extra, **kw)
    p.update_from_generation_config({}, eos_token_id=tokenizer.eos_token_id)  # what vLLM's input processor does
    return p


def test_loaded_by_both_of_vllms_model_runners():
    from vllm.v1.worker.gpu.sample.logits_processor import loader as v2_loader

    (cls,) = lp._load_logitsprocs_by_fqcns([FQCN])
    assert cls is StructgenLogitsProcessor and issubclass(cls, lp.LogitsProcessor)
    (cls,) = v2_loader._load_v2_logitsprocs_by_fqcns([FQCN])
    assert cls is StructgenLogitsProcessor and issubclass(cls, v2_loader.LogitsProcessor)


def test_validate_params_through_vllm(tokenizer):
    lp.validate_logits_processors_parameters([FQCN], _params({"structgen": {"json_schema": SCHEMA}}, tokenizer))
    lp.validate_logits_processors_parameters([FQCN], _params(None, tokenizer))
    from vllm.exceptions import VLLMValidationError

    bad = {"structgen": {"json_schema": {"type": "string", "pattern": "(a)\\1"}}}
    with pytest.raises(VLLMValidationError, match="backreferences"):
        lp.validate_logits_processors_parameters([FQCN], _params(bad, tokenizer))
    with pytest.raises(ValueError, match="exactly one of"):
        StructgenLogitsProcessor.validate_params(_params({"structgen": {}}, tokenizer))


def test_generation_with_vllm_batch_updates(processor, tokenizer):
    assert processor.is_argmax_invariant() is False
    builder = lp.BatchUpdateBuilder()
    schema2 = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9}, "minItems": 1, "maxItems": 3}
    reqs = {  # request -> (params, output list)
        "json": (_params({"structgen": {"json_schema": SCHEMA}}, tokenizer), []),
        "free": (_params(None, tokenizer), []),
        "array": (_params({"structgen": {"json_schema": schema2}}, tokenizer), []),
        "regex": (_params({"structgen": {"regex": "(yes|no)!"}}, tokenizer), []),
    }
    slots = list(reqs)
    for i, name in enumerate(slots):
        builder.added.append((i, reqs[name][0], [1, 2, 3], reqs[name][1]))
    gen = torch.Generator().manual_seed(0)
    eos = tokenizer.eos_token_id
    done = set()
    for step in range(80):
        if step == 3:  # vLLM swaps rows when it reorders the batch
            builder.moved.append((0, 3, lp.MoveDirectionality.SWAP))
            slots[0], slots[3] = slots[3], slots[0]
        for i, name in enumerate(slots):  # finished requests leave (vLLM's InputBatch.condense)
            if name in done:
                slots[i] = None
                builder.removed_append(i)
        while builder.has_removed():
            last = max((i for i, n in enumerate(slots) if n is not None), default=-1)
            if builder.peek_removed() >= last:
                break
            empty = builder.pop_removed()
            slots[empty], slots[last] = slots[last], None
            builder.moved.append((last, empty, lp.MoveDirectionality.UNIDIRECTIONAL))
        while slots and slots[-1] is None:
            slots.pop()
        processor.update_state(builder.get_and_reset(len(slots)))
        if not slots:
            break
        logits = torch.randn(len(slots), 49152, generator=gen)
        before = logits.clone()
        processor.apply(logits)
        free = slots.index("free") if "free" in slots else None
        if free is not None:
            assert torch.equal(logits[free], before[free])  # an unconstrained row is not touched
        picks = logits.argmax(dim=1).tolist()
        for i, name in enumerate(slots):
            out = reqs[name][1]
            out.append(picks[i])
            if picks[i] == eos or (name == "free" and len(out) >= 10):
                done.add(name)
    texts = {n: tokenizer.decode([t for t in out if t != eos]) for n, (_, out) in reqs.items()}
    for name in ("json", "array", "regex"):
        assert reqs[name][1][-1] == eos, (name, texts[name])
    jsonschema.validate(json.loads(texts["json"]), SCHEMA)
    jsonschema.validate(json.loads(texts["array"]), schema2)
    assert texts["regex"] in ("yes!", "no!")
