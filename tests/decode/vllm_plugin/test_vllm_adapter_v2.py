"""``decode.vllm.StructgenLogitsProcessor`` against vLLM's real V2 interface classes.

Runs where vLLM imports, skipped elsewhere.  The processor gets vLLM's own
``LogitsProcRequestState`` and ``LogitsContext`` dataclasses; the buffers inside them stand in
for the model runner's (``all_token_ids`` / ``total_len`` as device tensors under ``.gpu``,
``prompt_len`` under ``.np``, as ``vllm/v1/worker/gpu/buffer_utils.py`` lays them out), and the
loop plays the runner: requests take recycled slots through ``add_request``, each step lays the
running slots out in a new row order, and after sampling the token is written at ``total_len``
which then grows (``post_update``).  A preempted request comes back in another slot with its
outputs so far already in ``all_token_ids``.
"""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import jsonschema
import numpy as np
import pytest
import torch

v2 = pytest.importorskip("vllm.v1.worker.gpu.sample.logits_processor", reason="vLLM is not installed",
                         exc_type=ImportError)
from vllm import SamplingParams  # noqa: E402

from decode.vllm import StructgenLogitsProcessor  # noqa: E402

V = 49152
SLOTS, MAX_LEN = 6, 256
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["ok", "n"],
          "properties": {"ok": {"type": "boolean"}, "n": {"enum": [1, 2, 3]}}}
ARRAY = {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9}, "minItems": 1, "maxItems": 3}


def _params(extra, eos):
    p = SamplingParams(max_tokens=80, extra_args=extra)
    p.update_from_generation_config({}, eos_token_id=eos)
    return p


def test_v2_runner_slots_reordering_and_resumption(smollm2_tokenizer):
    from constrain.tokenizers import smollm2_dir

    tok = smollm2_tokenizer
    eos = tok.eos_token_id
    req_states = v2.LogitsProcRequestState(
        device=torch.device("cpu"), max_num_reqs=SLOTS, vocab_size=V,
        all_token_ids=SimpleNamespace(gpu=torch.zeros(SLOTS, MAX_LEN, dtype=torch.int32)),
        prompt_len=SimpleNamespace(np=np.zeros(SLOTS, dtype=np.int32)),
        prefill_len=SimpleNamespace(np=np.zeros(SLOTS, dtype=np.int32)),
        total_len=SimpleNamespace(gpu=torch.zeros(SLOTS, dtype=torch.int32)))
    config = SimpleNamespace(speculative_config=None, model_config=SimpleNamespace(
        tokenizer=str(smollm2_dir()), tokenizer_revision=None, trust_remote_code=False, get_vocab_size=lambda: V))
    proc = StructgenLogitsProcessor(config, req_states)

    requests = {  # name -> [params, committed outputs, slot or None]
        "json": [_params({"structgen": {"json_schema": SCHEMA}}, eos), [], None],
        "free": [_params(None, eos), [], None],
        "array": [_params({"structgen": {"json_schema": ARRAY}}, eos), [], None],
        "regex": [_params({"structgen": {"regex": "(yes|no)!"}}, eos), [], None],
    }
    free_slots = list(range(SLOTS))[::-1]
    rng = random.Random(0)
    gen = torch.Generator().manual_seed(0)

    def admit(name):
        params, out, _ = requests[name]
        slot = free_slots.pop()
        prompt = [5, 6, 7]
        req_states.prompt_len.np[slot] = len(prompt)
        all_ids = prompt + out  # a resumed request brings its outputs so far
        req_states.all_token_ids.gpu[slot, : len(all_ids)] = torch.tensor(all_ids, dtype=torch.int32)
        req_states.total_len.gpu[slot] = len(all_ids)
        assert proc.add_request(slot, params) is (params.extra_args is not None)
        requests[name][2] = slot

    def release(name):
        free_slots.append(requests[name][2])
        requests[name][2] = None

    for name in requests:
        admit(name)
    done = set()
    for step in range(80):
        if step == 4:  # preempt "json" and bring it back in another slot
            slot = requests["json"][2]
            assert len(requests["json"][1]) == 4
            release("json")
            free_slots.remove(slot)
            free_slots.insert(0, slot)  # the old slot is not the next one handed out
            admit("json")
            assert requests["json"][2] != slot
        running = [n for n in requests if requests[n][2] is not None and n not in done]
        if not running:
            break
        rng.shuffle(running)  # V2 lays out the rows anew every step
        slots = np.array([requests[n][2] for n in running], dtype=np.int32)
        ctx = v2.LogitsContext(
            expanded_idx_mapping=torch.from_numpy(slots), idx_mapping=torch.from_numpy(slots),
            idx_mapping_np=slots, expanded_local_pos=torch.zeros(len(slots), dtype=torch.int32),
            input_ids=torch.zeros(len(slots), dtype=torch.int32), pos=torch.zeros(len(slots), dtype=torch.int32),
            seq_lens_upper_bound_np=np.zeros(len(slots), dtype=np.int32))
        logits = torch.randn(len(slots), V, generator=gen)
        before = logits.clone()
        assert proc.apply(logits, ctx) is logits
        for row, name in enumerate(running):
            if name == "free":
                assert torch.equal(logits[row], before[row])
            t = int(logits[row].argmax())
            slot = requests[name][2]
            req_states.all_token_ids.gpu[slot, int(req_states.total_len.gpu[slot])] = t  # post_update
            req_states.total_len.gpu[slot] += 1
            requests[name][1].append(t)
            if t == eos or (name == "free" and len(requests[name][1]) >= 10):
                done.add(name)
                release(name)
    texts = {n: tok.decode([t for t in out if t != eos]) for n, (_, out, _) in requests.items()}
    for name in ("json", "array", "regex"):
        assert requests[name][1][-1] == eos, (name, texts[name])
    jsonschema.validate(json.loads(texts["json"]), SCHEMA)
    jsonschema.validate(json.loads(texts["array"]), ARRAY)
    assert texts["regex"] in ("yes!", "no!")


def test_v2_refuses_speculative_decoding():
    with pytest.raises(ValueError, match="speculative"):
        StructgenLogitsProcessor(SimpleNamespace(speculative_config=object()), None)
