"""``decode.vllm.slots.SlotOutputs``: output ids read from a V2 runner's buffers (no vLLM).

The buffers are laid out as vLLM 0.33's ``LogitsProcRequestState`` holds them
(``all_token_ids.gpu`` ``[slots, max_len]`` with the prompt first, ``total_len.gpu`` ``[slots]``,
``prompt_len.np`` on the host); the runner's ``post_update`` writes each sampled id at
``total_len`` and increments it.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from decode.vllm.slots import SlotOutputs


def _state(n=4, width=16):
    return SimpleNamespace(device=torch.device("cpu"),
                           all_token_ids=SimpleNamespace(gpu=torch.zeros(n, width, dtype=torch.int32)),
                           total_len=SimpleNamespace(gpu=torch.zeros(n, dtype=torch.int32)),
                           prompt_len=SimpleNamespace(np=np.zeros(n, dtype=np.int32)))


def _admit(rs, slot, prompt, outputs=()):
    ids = list(prompt) + list(outputs)
    rs.all_token_ids.gpu[slot].fill_(-7)  # a previous occupant's leftovers must never be read
    rs.all_token_ids.gpu[slot, : len(ids)] = torch.tensor(ids, dtype=torch.int32)
    rs.prompt_len.np[slot] = len(prompt)
    rs.total_len.gpu[slot] = len(ids)


def _sampled(rs, slot, t):
    rs.all_token_ids.gpu[slot, int(rs.total_len.gpu[slot])] = t
    rs.total_len.gpu[slot] += 1


def test_new_ids_per_slot_resumed_outputs_and_slot_reuse():
    rs = _state()
    so = SlotOutputs(rs)
    _admit(rs, 2, [100, 101, 102])
    _admit(rs, 0, [100], outputs=[40, 41, 42])  # resumed after preemption
    a, b = so.reset(2), so.reset(0)
    so.read([0, 2])
    assert a == [] and b == [40, 41, 42]
    _sampled(rs, 2, 7)
    _sampled(rs, 0, 8)
    _sampled(rs, 0, 9)  # two ids at once (not in vLLM without drafts, but nothing assumes one)
    so.read([2, 0])
    assert a == [7] and b == [40, 41, 42, 8, 9]
    so.read([0, 2])  # nothing new: nothing appended
    assert a == [7] and b == [40, 41, 42, 8, 9]
    _admit(rs, 2, [5])  # the slot is recycled for another request
    c = so.reset(2)
    _sampled(rs, 2, 11)
    so.read([2])
    assert c == [11] and a == [7] and so.outputs[2] is c
    so.drop(2)
    assert 2 not in so.outputs
