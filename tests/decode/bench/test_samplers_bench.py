"""``python -m decode.bench samplers``: the core's counts on hand-made toys (no model, seconds).

Why exact counts: the table's claims (AWRS checks k tokens per draw where a full mask checks
|V|) are only as good as its bookkeeping.  On these toys every figure is known in advance: the
LM gives mass to exactly two tokens per step, one legal and one not, so token masking fills one
mask per draw (|V| checks) while AWRS checks exactly both live tokens (the accepted one and one
more for its weight, or the rejected one then the accepted one), whatever the random order.
"""

from __future__ import annotations

import math

import pytest

from constrain import Vocabulary, compile_regex
from decode import TableLM
from decode.bench import samplers as sb

N = 3


def _toy(n_filler: int):
    """Vocabulary ``a``, ``c``, ``n_filler`` other one-byte tokens, EOS; the LM puts mass on
    {a, c} first, then on {EOS, c}; the constraint is the regex ``a``: the language is {"a"}."""
    fillers = [bytes([b]) for b in range(0x30, 0x30 + n_filler)]
    toks = [b"a", b"c"] + fillers + [None]
    eos = len(toks) - 1
    vocab = Vocabulary.from_token_bytes(toks, eos_ids=[eos])

    def next_token(ctx):
        p = [0.0] * len(toks)
        if len(ctx) == 1:  # the prompt [1] only
            p[0], p[1] = 0.6, 0.4
        else:
            p[eos], p[1] = 0.7, 0.3
        return p

    return vocab, (lambda: TableLM(vocab, next_token)), [("regex:a", lambda v: compile_regex("a", v), [1])]


def _rows(n_filler: int, seed: int = 0):
    vocab, make_lm, cons = _toy(n_filler)
    rows = sb.run_core(make_lm, cons, n=N, max_new_tokens=4, seed=seed)
    return vocab, {r["sampler"]: r for r in rows}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_counts_exact_on_toy(seed):
    vocab, rows = _rows(3, seed)
    V = vocab.size
    assert V == 6 and set(rows) == {"masked", "awrs", "smc-awrs", "smc-masked"}
    for name, r in rows.items():
        # every sequence is "a" then EOS: 2 draws per sample, one LM call per step for all samples
        assert r["tokens"] == 2 * N, name
        assert r["forward_calls"] == 2, name
        assert r["finished"] == N, name
        assert r["vocab"] == V
        assert r["tok_s"] == pytest.approx(r["tokens"] / r["seconds"])
    for name in ("masked", "smc-masked"):  # one full mask per draw, no single checks
        assert rows[name]["masks_computed"] == 2 * N
        assert rows[name]["tokens_checked"] == 0
        assert rows[name]["checks"] == 2 * N * V
        assert rows[name]["checks_per_token"] == V
    for name in ("awrs", "smc-awrs"):  # both live tokens checked at each step, no mask
        assert rows[name]["masks_computed"] == 0
        assert rows[name]["tokens_checked"] == 2 * 2 * N
        assert rows[name]["checks_per_token"] == 2
    # log Z: pi's only sequence "a" EOS has p = 0.6 * 0.7, every weight is exactly that
    assert rows["smc-awrs"]["log_ml"] == pytest.approx(math.log(0.42))
    assert rows["masked"]["log_ml"] is None


def test_summary_and_targets():
    vocab, rows = _rows(3)
    s = sb.summarize(list(rows.values()))
    per = s["per_sampler"]
    assert per["masked"]["checks_per_token"] == vocab.size == 6
    assert per["awrs"]["reduction"] == pytest.approx(6 / 2)
    assert s["targets"]["awrs_checks_10x"] is False  # 3x < 10x on a 6-token vocabulary
    big_vocab, big = _rows(60)  # same two live tokens, 63 ids: AWRS's 2 checks vs 63 is 31.5x
    sb_big = sb.summarize(list(big.values()))
    assert sb_big["per_sampler"]["awrs"]["reduction"] == pytest.approx(big_vocab.size / 2)
    assert sb_big["targets"]["awrs_checks_10x"] is True
    assert sb_big["targets"]["awrs_faster"] in (True, False)
    text = sb.format_summary(sb_big) + "\n" + sb.format_rows(list(big.values()))
    assert "'AWRS checks >= 10x fewer tokens per step than a full mask': holds" in text
    assert "32x" in text and "63.0" in text  # |V|/checks and the masked checks/tok
    for r in big.values():  # the LM's share and the rest split each run's seconds
        assert r["lm_seconds"] > 0 and r["lm_seconds"] + r["sampler_seconds"] == pytest.approx(r["seconds"])
    assert all(a["sampler_ms_per_token"] > 0 for a in sb_big["per_sampler"].values())


def test_compile_error_row_and_table():
    vocab, make_lm, _ = _toy(3)
    cons = [("regex:bad", lambda v: compile_regex("(", v), [1]), ("regex:a", lambda v: compile_regex("a", v), [1])]
    rows = sb.run_core(make_lm, cons, n=2, max_new_tokens=3, seed=0, samplers=sb.SAMPLERS[:2])
    assert rows[0]["sampler"] is None and "Error" in rows[0]["error"]
    assert [r["sampler"] for r in rows[1:]] == ["masked", "awrs"]
    table = sb.format_rows(rows, markdown=True)
    assert "compile error" in table and table.count("\n") == 4  # header, rule, 3 rows


def test_cli_parses_samplers_subcommand():
    import argparse

    from decode.bench import __main__ as bm

    p = argparse.ArgumentParser()
    sb.add_arguments(p)
    a = p.parse_args(["--sample", "5", "--n", "4", "--max-new-tokens", "24"])
    assert (a.sample, a.n, a.max_new_tokens, a.genlm_python) == (5, 4, 24, None)
    with pytest.raises(SystemExit) as e:
        bm.main(["samplers", "--help"])
    assert e.value.code == 0


def test_genlm_worker_error_is_reported():
    # an interpreter without genlm-control: the comparison reports the import error, no crash
    import sys

    out = sb.run_genlm(sys.executable, model_dir="/nonexistent", prompt_ids=[1], regex="a", n=2, max_tokens=4,
                       runs=1, seed=0, timeout_s=60)
    assert "error" in out and ("genlm" in out["error"] or "No module" in out["error"])


def test_posterior_gap_in_standard_errors():
    same = [{"posterior": {"yes": 0.6, "no": 0.4}}, {"posterior": {"yes": 0.7, "no": 0.3}},
            {"posterior": {"yes": 0.65, "no": 0.35}}]
    stats = sb.posterior_stats(same)
    assert stats["yes"][0] == pytest.approx(0.65) and stats["yes"][1] == pytest.approx(0.05 / 3 ** 0.5)
    _, z = sb.posterior_gap(same, same)
    assert z == 0.0
    other = [{"posterior": {"no": 0.9, "maybe": 0.1}}, {"posterior": {"no": 0.95, "maybe": 0.05}}]
    t, z = sb.posterior_gap(same, other)
    assert t in ("yes", "no") and z > 5  # 'yes' never appears in the other engine's runs
    text = sb.format_genlm({"regex": "(yes|no)", "n": 4, "max_new_tokens": 3,
                            "structgen": [dict(r, seconds=0.1, log_ml=-1.0) for r in same],
                            "genlm": {"runs": [dict(r, seconds=0.3, log_ml=-1.0) for r in other]}})
    assert "3.00x" in text and "NOT equal" in text


def test_plot_summary_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    summary = {"per_sampler": {"masked": {"checks_per_token": 49152.0, "sampler_ms_per_token": 1.7},
                               "awrs": {"checks_per_token": 3644.3, "sampler_ms_per_token": 1.2}}}
    out = sb.plot_summary(summary, str(tmp_path / "s.png"))
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
