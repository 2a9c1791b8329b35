"""decode.repair: always a valid output or a clear error; the copy source's alignment and bias.

The generation tests use the tiny random model over SmolLM2's tokenizer (conftest): its own
preferences are noise, so what brings the output close to the draft is the copy bonus alone,
which makes the bonus's effect measurable (sketch vs prompt) and the validity guarantee
independent of the model's quality.
"""

from __future__ import annotations

import itertools
import json
import random

import jsonschema
import numpy as np
import pytest
import torch

import decode
from constrain import Vocabulary, compile_json_schema, compile_regex
from decode import GenerationArgumentError, RepairResult, repair
from decode.draft_repair import DraftCopy, edit_distance

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                           "tags": {"type": "array", "items": {"type": "string"}}},
          "required": ["name", "age", "tags"], "additionalProperties": False}
DRAFTS = [
    '{name: "Alice Smith", age: 31, tags: ["x", "y"]}',  # dropped quotes
    '{"name": "Alice Smith", "age": "31", "tags": ["admin", "dev",],}',  # wrong type, trailing commas
    'Sure! Here is the JSON:\n{"name": "Bob", "age": 45, "tags": ["ops"]}\nAnything else?',  # prose
    '{"name": "Zed", "age": 7, "tags": "none"}',  # wrong type
    "",  # nothing at all
    "not json in the least ]]]} \u00e9\u00e9",
]


def _brute_edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_edit_distance_matches_the_textbook_recursion():
    rng = random.Random(0)
    for _ in range(300):
        a = "".join(rng.choice("ab\u00e9") for _ in range(rng.randint(0, 9)))
        b = "".join(rng.choice("ab\u00e9") for _ in range(rng.randint(0, 9)))
        assert edit_distance(a, b) == _brute_edit_distance(a, b), (a, b)


def test_alignment_row_is_the_semi_global_edit_distance():
    """row[j] = min over draft substrings ending at j of their edit distance to the output."""
    vocab = Vocabulary.from_token_bytes([b"a", b"b", b"ab", None], eos_ids=[3])
    rng = random.Random(1)
    for _ in range(100):
        draft = "".join(rng.choice("ab") for _ in range(rng.randint(1, 7)))
        out = "".join(rng.choice("ab") for _ in range(rng.randint(0, 6)))
        dc = DraftCopy(vocab, draft.encode(), 1.0)
        dc._feed(out.encode())
        want = [min(_brute_edit_distance(out, draft[i:j]) for i in range(j + 1)) for j in range(len(draft) + 1)]
        assert dc.row.tolist() == want, (draft, out)


def test_copy_candidates_follow_the_draft_and_skip_its_error():
    """Draft ``[1,]``: after ``[1`` the copy ``,`` leads into ``]`` (illegal after a comma) and
    is pushed down; ``]`` (one junk byte skipped) gets half the bonus."""
    vocab = Vocabulary.from_token_bytes([b"[", b"1", b",", b"]", b",]", None], eos_ids=[5])
    c = compile_regex(r"\[1(,1)*\]", vocab)
    dc = DraftCopy(vocab, b"[1,]", 8.0, matcher=c.matcher())
    ids, bon = dc.candidates()
    assert dict(zip(ids.tolist(), bon.tolist())) == {0: 8.0}  # "[" at the start
    dc.observe([0], [0])
    dc.observe([0], [1])  # the output is "[1"
    got = dict(zip(*[x.tolist() for x in dc.candidates()]))
    assert got[2] == -8.0  # "," copies into the error
    assert got[3] == 4.0  # "]" skips the junk comma
    assert 4 not in got or got[4] <= 0  # ",]" is illegal
    logits = torch.zeros(1, 6)
    out = dc.apply(logits, [0])
    assert out[0, 3] == 4.0 and out[0, 2] == -8.0 and out[0, 1] == 0.0 and logits.abs().sum() == 0
    assert dc.copied == 2


def test_insertion_moves_restore_dropped_key_quotes():
    """Draft ``{a: 1}`` under ``{"a": ?1}``: after ``{"a`` no copy is legal (the draft's ``:``
    needs a ``"`` first); the insertion moves ``"`` (insert, then resume at ``:``) and ``":``
    (insert and copy) get the bonus halved once, nothing else; without insertion moves no
    token gets any.  Following the bonus alone spells the repaired object."""
    toks = [b"{", b"}", b'"', b"a", b'"a', b":", b'":', b"1", b" ", b"x", None]
    vocab = Vocabulary.from_token_bytes(toks, eos_ids=[10])
    c = compile_regex(r'\{"[ax]": ?1\}', vocab)
    for insert in (True, False):
        dc = DraftCopy(vocab, b"{a: 1}", 8.0, matcher=c.matcher(), insert=insert)
        dc.observe([0], [0])
        dc.observe([0], [4])  # the output is {"a
        got = dict(zip(*[x.tolist() for x in dc.candidates()]))
        assert got == ({2: 4.0, 6: 4.0} if insert else {})
    # greedy on the bonus alone, from the start: the original object comes back
    dc = DraftCopy(vocab, b"{a: 1}", 8.0, matcher=c.matcher())
    out = b""
    for _ in range(10):
        ids, bon = dc.candidates()
        assert len(ids) and bon.max() > 0, out
        t = int(ids[np.argmax(bon)])
        if t == 10:
            break
        out += toks[t]
        dc.observe([0], [t])
    assert out in (b'{"a": 1}', b'{"a":1}'), out


@pytest.fixture(scope="module")
def vocab49k(smollm2_tokenizer):
    return Vocabulary.from_hf(smollm2_tokenizer, vocab_size=49152)


@pytest.mark.parametrize("method", ["sketch", "prompt"])
@pytest.mark.parametrize("draft", DRAFTS)
def test_repair_always_returns_a_valid_output(smol_model, smollm2_tokenizer, draft, method):
    r = repair(smol_model, smollm2_tokenizer, draft, SCHEMA, method=method, max_new_tokens=48)
    assert isinstance(r, RepairResult) and r.method == method and r.draft == draft
    jsonschema.validate(json.loads(r.text), SCHEMA)
    assert r.value == json.loads(r.text)
    assert r.edit_distance == _brute_edit_distance(r.text, draft)
    assert r.result.finished
    assert (r.copied > 0) == (method == "sketch")
    if method == "sketch" and not draft:  # nothing to copy: the shortest way to a valid output
        assert r.text == '{"name":"","age":0,"tags":[]}'


def test_the_copy_bonus_brings_a_random_model_to_the_draft(smol_model, smollm2_tokenizer):
    """With a random model the draft is all the output has to go on: sketch repairs drafts
    whose errors a deletion fixes (trailing commas, a number in quotes, prose around) to the
    original object, token masking alone to nothing like it.  (Errors that need an insertion,
    dropped quotes, leave a random model free to wander through legal whitespace first; the
    real model's benchmark covers them.)"""
    want = {1: {"name": "Alice Smith", "age": 31, "tags": ["admin", "dev"]},
            2: {"name": "Bob", "age": 45, "tags": ["ops"]}}
    d_sketch, d_prompt = 0, 0
    for draft, obj in ((DRAFTS[i], o) for i, o in want.items()):
        s = repair(smol_model, smollm2_tokenizer, draft, SCHEMA, max_new_tokens=64)
        p = repair(smol_model, smollm2_tokenizer, draft, SCHEMA, method="prompt", max_new_tokens=64)
        assert s.value == obj, s.text
        d_sketch += s.edit_distance
        d_prompt += p.edit_distance
    assert d_sketch * 2 < d_prompt


def test_repair_with_a_regex(smol_model, smollm2_tokenizer):
    r = repair(smol_model, smollm2_tokenizer, "call 555 1234 now", decode.Regex(r"[0-9]{3}-[0-9]{4}"))
    assert r.text == "555-1234" and r.value is None


def test_repair_errors_are_clear(smol_model, smollm2_tokenizer):
    m, t = smol_model, smollm2_tokenizer
    with pytest.raises(GenerationArgumentError, match="constraint"):
        repair(m, t, "x", None)
    with pytest.raises(GenerationArgumentError, match="draft_text"):
        repair(m, t, b"x", SCHEMA)
    with pytest.raises(GenerationArgumentError, match="method"):
        repair(m, t, "x", SCHEMA, method="magic")
    with pytest.raises(GenerationArgumentError, match="copy_bonus"):
        repair(m, t, "x", SCHEMA, copy_bonus=float("nan"))
    # the shortest valid output does not fit the budget: the grammar writes it, still valid
    r = repair(m, t, "x", decode.Regex("a{40}"), max_new_tokens=2)
    assert r.text == "a" * 40 and r.result.stop_reason == "budget"


def test_cli_repair(run, tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps(SCHEMA))
    draft = tmp_path / "draft.txt"
    draft.write_text(DRAFTS[1])
    rc, out, err = run("repair", "--schema", str(schema), str(draft))
    assert rc == 0, err
    assert json.loads(out) == {"name": "Alice Smith", "age": 31, "tags": ["admin", "dev"]}
    assert "edit distance to the draft: " in err
    rc, out, err = run("repair", "--schema", str(schema), "--json", "--method", "prompt", str(draft))
    assert rc == 0 and json.loads(out)["method"] == "prompt"
    rc, out, err = run("repair", "--schema", str(schema), str(tmp_path / "missing.txt"))
    assert rc == 2 and "cannot read draft file" in err and "Traceback" not in err
    rc, out, err = run("repair", str(draft))
    assert rc == 2 and "repair needs a constraint" in err
