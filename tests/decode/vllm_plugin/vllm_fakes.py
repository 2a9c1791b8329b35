"""Fakes of vLLM 0.33's logits-processor batch types, for the core's tests without vLLM.

``MoveDirectionality`` and ``BatchUpdate`` mirror ``vllm/v1/sample/logits_processor/interface.py``
of the vllm-0.33.0 wheel exactly (read from its source): an enum with ``UNIDIRECTIONAL`` and
``SWAP``, and a frozen dataclass ``(batch_size, removed, added, moved)`` whose ``added`` entries
are ``(index, params, prompt_tok_ids, output_tok_ids)`` with ``output_tok_ids`` a reference to
the request's growing output list, processed in the order removed, added, moved.
``FakeBatch`` plays vLLM's ``InputBatch`` (``vllm/v1/worker/gpu_input_batch.py``): an added
request fills the lowest freed index first, else the end; ``condense()`` moves the highest
requests down into the holes (``UNIDIRECTIONAL``); ``swap()`` records a ``SWAP``.
``FakeParams`` carries the three ``SamplingParams`` fields the plugin reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto


class MoveDirectionality(Enum):
    UNIDIRECTIONAL = auto()
    SWAP = auto()


@dataclass(frozen=True)
class BatchUpdate:
    batch_size: int
    removed: list
    added: list
    moved: list


@dataclass
class FakeParams:
    extra_args: dict | None = None
    eos_token_id: int | None = None
    stop_token_ids: list = field(default_factory=list)


class FakeBatch:
    """vLLM's persistent batch, reduced to the bookkeeping a logits processor sees."""

    def __init__(self):
        self.slots: list = []  # index -> request object (or None while a hole)
        self._removed: list[int] = []
        self._added: list = []
        self._moved: list = []

    @property
    def num_reqs(self) -> int:
        return sum(r is not None for r in self.slots)

    def remove(self, index: int) -> None:
        assert self.slots[index] is not None
        self.slots[index] = None
        self._removed.append(index)

    def add(self, req, params, output_ids: list) -> int:
        if self._removed:
            index = min(self._removed)
            self._removed.remove(index)
        else:
            index = len(self.slots)
            self.slots.append(None)
        self.slots[index] = req
        self._added.append((index, params, None, output_ids))
        return index

    def swap(self, i1: int, i2: int) -> None:
        self.slots[i1], self.slots[i2] = self.slots[i2], self.slots[i1]
        self._moved.append((i1, i2, MoveDirectionality.SWAP))

    def condense(self) -> None:
        """Fill the holes left by removals from the end (vLLM: after the step's adds)."""
        holes = sorted(self._removed)
        while holes:
            last = max((i for i, r in enumerate(self.slots) if r is not None), default=-1)
            empty = holes[0]
            if empty >= last:
                break
            holes.pop(0)
            self._removed.remove(empty)
            self.slots[empty], self.slots[last] = self.slots[last], None
            self._moved.append((last, empty, MoveDirectionality.UNIDIRECTIONAL))
        while self.slots and self.slots[-1] is None:
            self.slots.pop()

    def get_and_reset(self) -> BatchUpdate | None:
        if not (self._removed or self._added or self._moved):
            return None
        bu = BatchUpdate(self.num_reqs, sorted(self._removed, reverse=True), self._added, self._moved)
        self._removed, self._added, self._moved = [], [], []
        return bu
