"""A deterministic sample of real-world MaskBench schemas through the whole engine.

Invariants checked on every sampled schema that compiles: an instance that ``jsonschema``
rejects is never accepted (token by token through the mask, then EOS), the mask bit of each
token agrees with ``advance``, and nothing but a ``ConstraintError`` escapes compilation.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest

from tests import paths

from constrain import ConstraintError, compile_json_schema

DATA = paths.SHARED_DATA / "maskbench"
SAMPLE = 60


def _sample(n: int, seed: int = 1234):
    rows = []
    for f in sorted(DATA.glob("*.jsonl.gz")):
        with gzip.open(f, "rt") as fh:
            for i, line in enumerate(fh):
                rows.append((f"{f.name}:{i + 1}", line))
    rng = random.Random(seed)
    rng.shuffle(rows)
    return rows[:n]


def run_instance(compiled, vocab, data) -> tuple[bool, int]:
    """(accepted, number of mask/advance disagreements)."""
    m = compiled.matcher()
    mismatches = 0
    for t in vocab.encode(json.dumps(data, ensure_ascii=False)):
        mask = m.mask().view(np.uint32)
        bit = bool((mask[t >> 5] >> np.uint32(t & 31)) & 1)
        ok = m.advance(t)
        if ok != bit:
            mismatches += 1
        if not ok:
            return False, mismatches
    return m.is_accepting(), mismatches


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data/maskbench not present")
def test_maskbench_sample_never_accepts_invalid(smollm2_vocab):
    invalid_accepted = []
    mismatched = []
    compiled_n = valid_ok = valid_n = 0
    for where, line in _sample(SAMPLE):
        row = json.loads(line)
        try:
            compiled = compile_json_schema(row["schema"], smollm2_vocab)
        except ConstraintError:
            continue
        compiled_n += 1
        for test in row["tests"]:
            accepted, mism = run_instance(compiled, smollm2_vocab, test["data"])
            if mism:
                mismatched.append(where)
            if test["valid"]:
                valid_n += 1
                valid_ok += accepted
            elif accepted:
                invalid_accepted.append((where, test.get("description", "")))
    assert not invalid_accepted, f"invalid instances accepted: {invalid_accepted[:10]}"
    assert not mismatched, f"mask bit disagrees with advance: {mismatched[:10]}"
    assert compiled_n >= SAMPLE // 2, f"only {compiled_n}/{SAMPLE} schemas compiled"
    assert valid_ok >= 0.8 * valid_n, f"only {valid_ok}/{valid_n} valid instances accepted"
