"""``structgen sample``: JSON lines in draw order, every method, the --no-model toy, ASAp's --trie
resume, and one-line usage errors (the tiny random model stands in for SmolLM2)."""

from __future__ import annotations

import json
import re

import pytest


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("method", ["asap", "masked", "awrs", "smc"])
def test_no_model_toy_every_method(run, method):
    rc, out, err = run("sample", "--no-model", "--method", method, "-n", "40", "--seed", "0")
    assert rc == 0, err
    recs = records(out)
    assert [r["index"] for r in recs] == list(range(40))
    assert all(r["finished"] and re.fullmatch("[ab]{1,3}", r["text"]) for r in recs)
    assert all(set(r) == {"index", "text", "token_ids", "finished", "log_weight"} for r in recs)
    assert f"40 samples ({method})" in err
    if method in ("asap", "masked"):
        assert {r["log_weight"] for r in recs} == {0.0}
    if method == "asap":
        assert '"trie_nodes"' in err
    again = run("sample", "--no-model", "--method", method, "-n", "40", "--seed", "0")[1]
    assert again == out  # the seed makes it reproducible


def test_asap_with_a_model_writes_a_file_and_resumes_its_trie(run, tmp_path):
    out_file, trie = tmp_path / "s.jsonl", tmp_path / "trie.npz"
    args = ("sample", "--regex", "(yes|no|maybe)", "--method", "asap", "-n", "25", "--seed", "1",
            "--max-new-tokens", "8", "--trie", str(trie), "-o", str(out_file), "Is water wet?")
    rc, out, err = run(*args)
    assert rc == 0 and out == "" and trie.exists(), err
    recs = records(out_file.read_text())
    assert len(recs) == 25 and all(r["text"] in ("yes", "no", "maybe") and r["finished"] for r in recs)
    first = json.loads(err.strip().splitlines()[-1].split("; ", 1)[1])
    rc, _, err = run(*args)
    assert rc == 0 and "resumed the trie" in err and "25 samples drawn before" in err
    second = json.loads(err.strip().splitlines()[-1].split("; ", 1)[1])
    assert second["forward_calls"] < first["forward_calls"] + 1  # +1: load checks the root once


@pytest.mark.parametrize("args, pattern", [
    (("sample", "Is it?"), "needs a constraint"),
    (("sample", "--regex", "a"), "needs a prompt"),
    (("sample", "--no-model", "--method", "masked", "--trie", "t.npz"), "--trie needs --method asap"),
    (("sample", "--no-model", "-n", "0"), "-n must be at least 1"),
    (("sample", "--no-model", "--schema", "x.json"), "--no-model takes --regex or --grammar"),
])
def test_usage_errors_are_one_line(run, args, pattern):
    rc, out, err = run(*args)
    lines = [ln for ln in err.splitlines() if ln.startswith("structgen: error:")]
    assert rc == 2 and len(lines) == 1 and re.search(pattern, lines[0]), err
    assert "Traceback" not in err and out == ""


def test_no_sample_finished_exits_1(run):
    """A language no token sequence of the toy can spell: every draw is a dead end, reported
    (unfinished records, weight null) and exit status 1, not a traceback."""
    rc, out, err = run("sample", "--no-model", "--regex", "d+", "-n", "3")
    assert rc == 1 and "no sample finished" in err and "Traceback" not in err
    assert [r["finished"] for r in records(out)] == [False] * 3
    assert {r["log_weight"] for r in records(out)} == {None}


def test_canonical_tokens_flag(run, smol_model, smollm2_tokenizer, generate_calls):
    """``--canonical-tokens``: every sampled output is the tokenizer's own encoding (the random
    model, left to itself, spells ``[a-z]{8}`` in split tokens the tokenizer never writes); on
    ``generate`` it becomes ``canonical_tokens=True``; the toy has no tokenizer for it."""
    from decode.constraints import get_vocabulary
    from decode.lm import logits_width

    vocab = get_vocabulary(smollm2_tokenizer, logits_width(smol_model))
    outs = {}
    for flag in ((), ("--canonical-tokens",)):
        rc, out, err = run("sample", "--regex", "[a-z]{8}", "--method", "masked", "-n", "12", "--seed", "0",
                           "--no-chat", *flag, "x")
        assert rc == 0, err
        recs = records(out)
        assert all(re.fullmatch("[a-z]{8}", r["text"]) for r in recs)
        outs[bool(flag)] = [vocab.is_canonical(r["token_ids"]) for r in recs]
    assert all(outs[True]) and not all(outs[False])
    seen, schema = generate_calls
    assert run("generate", "--schema", str(schema), "--canonical-tokens", "x")[0] == 0
    assert seen[-1]["canonical_tokens"] is True
    assert run("generate", "--schema", str(schema), "x")[0] == 0
    assert "canonical_tokens" not in seen[-1]
    rc, _, err = run("sample", "--no-model", "--canonical-tokens")
    assert rc == 2 and "--canonical-tokens needs a model" in err
