"""``structgen generate --speculative [--drafts ...] [--max-draft N]``."""

from __future__ import annotations

import json

import pytest

import decode


def test_flags_reach_generate(run, generate_calls):
    seen, schema = generate_calls
    assert run("generate", "--schema", str(schema), "--speculative", "x")[0] == 0
    assert seen[-1]["speculative"] == decode.Speculation()
    assert seen[-1]["frequency_penalty"] == 0.0  # the JSON default penalty is off: speculation refuses it
    assert run("generate", "--regex", "a+", "--speculative", "--drafts", "grammar, recycling",
               "--max-draft", "3", "x")[0] == 0
    assert seen[-1]["speculative"] == decode.Speculation(drafts=("grammar", "recycling"), max_draft=3)
    assert run("generate", "--regex", "a+", "x")[0] == 0
    assert "speculative" not in seen[-1]
    # --draft-model default with the default model: the target drafts for itself (one copy)
    assert run("generate", "--regex", "a+", "--speculative", "--draft-model", "default", "x")[0] == 0
    spec = seen[-1]["speculative"]
    assert spec.draft_names == ("grammar", "ngram", "recycling", "model") and spec.draft_model is not None
    assert run("generate", "--regex", "a+", "--speculative", "--drafts", "model,grammar", "--draft-model",
               "default", "x")[0] == 0
    assert seen[-1]["speculative"].draft_names == ("model", "grammar")


@pytest.mark.parametrize("args,pattern", [
    (["--drafts", "ngram"], "need --speculative"),
    (["--draft-model", "default"], "need --speculative"),
    (["--speculative", "--drafts", "grammar,model"], "needs --draft-model"),
    (["--speculative", "--draft-model", "default", "--max-draft", "0"], "max_draft"),
    (["--speculative", "--max-draft", "0"], "max_draft"),
    (["--speculative", "--drafts", "oracle"], "unknown draft source"),
    (["--speculative", "--frequency-penalty", "0.5"], "penalties"),
])
def test_bad_flags_are_one_line_errors(run, args, pattern):
    rc, out, err = run("generate", "--regex", "a+", *args, "x")
    lines = [ln for ln in err.splitlines() if ln.startswith("structgen: error:")]
    assert rc == 2 and len(lines) == 1 and pattern in lines[0], err
    assert "Traceback" not in err


def test_a_real_run_prints_the_pass_counts(run):
    rc, out, err = run("generate", "--regex", "(cat|dog) says [a-z]{2,6}", "--speculative", "--timings",
                       "--max-new-tokens", "16", "x")
    assert rc == 0, err
    stats = json.loads(err[err.index("{"):])
    assert stats["forward_calls"] >= 1 and "accepted" in stats and "drafted" in stats


def test_a_real_run_with_a_draft_model(run):
    rc, out, err = run("generate", "--regex", "(cat|dog) says [a-z]{2,6}", "--speculative", "--draft-model",
                       "default", "--drafts", "model", "--timings", "--max-new-tokens", "12", "x")
    assert rc == 0, err
    stats = json.loads(err[err.index("{"):])
    assert stats["sources"]["model"]["drafted"] > 0
