"""``python -m decode.bench speculative --from RUN.json ... --plot PNG``: the plot of saved runs
(no model); the figures it draws are the table's."""

from __future__ import annotations

import json

import pytest

from decode.bench import __main__ as bm
from decode.bench import speculative as spb


def _row(batch, temperature, tokens, base_passes, spec_passes, base_s, spec_s):
    return {"tasks": "maskbench", "drafts": ["grammar", "ngram"], "batch": batch, "temperature": temperature,
            "tokens": tokens, "base_tokens": tokens, "base_passes": base_passes, "spec_passes": spec_passes,
            "base_s": base_s, "spec_s": spec_s, "outputs": 4, "identical": 4, "drafted": 10, "accepted": 8,
            "forced": 1, "sources": {}, "ratios": [1.5]}


def test_plot_from_saved_runs(tmp_path):
    pytest.importorskip("matplotlib")
    runs = []
    with_full = dict(_row(4, 0.7, 400, 100, 60, 8.0, 6.0), full_s=9.0, full_tokens=400)  # --no-full-head off
    for i, rows in enumerate([[_row(1, 0.0, 100, 100, 45, 10.0, 5.0)], [with_full]]):
        f = tmp_path / f"run{i}.json"
        f.write_text(json.dumps({"kind": "speculative", "rows": rows}))
        runs.append(str(f))
    png = tmp_path / "spec.png"
    assert bm.main(["speculative", "--from", *runs, "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="--plot"):
        bm.main(["speculative", "--from", *runs])
    assert spb._plot_label(_row(4, 0.7, 1, 1, 1, 1, 1)) == "maskbench\nbatch 4, T 0.7"


def test_run_setting_measures_the_full_head_plain_loop_too(smollm2_tokenizer, smol_model):
    """Every task is decoded three ways (plain with the full output layer, plain with the
    narrow one, speculative); greedy, all three agree token for token, and the row shows
    both ratios."""
    import constrain

    from decode import loop
    from decode.lm import logits_width

    vocab = constrain.Vocabulary.from_hf(smollm2_tokenizer)
    assert vocab.size <= logits_width(smol_model)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "k": {"enum": ["ab", "cd"]}},
              "required": ["n", "k"], "additionalProperties": False}
    compiled = {"json:a": constrain.compile_json_schema(schema, vocab, options=constrain.JsonOptions.GENERATION)}
    tasks = [("json:a", schema, "a"), ("json:a", schema, "b c")]
    agg = spb._run_setting(smol_model, smollm2_tokenizer, compiled, tasks, batch=1, temperature=0.0, spec=True,
                           max_new_tokens=24, seed=0, log=lambda m: None)
    assert loop.LEGAL_HEAD is True  # restored
    assert agg["outputs"] == 2 and agg["identical"] == 2 and agg["full_identical"] == 2
    assert agg["full_tokens"] == agg["base_tokens"] == agg["tokens"] > 0
    assert agg["full_s"] > 0 and len(agg["full_ratios"]) == 2
    row = spb._row("maskbench", 1, 0.0, agg, True)
    assert len(row) == len(spb.HEADERS)
    assert row[spb.HEADERS.index("identical")] == "2/2, full 2/2"
    assert row[spb.HEADERS.index("plain narrow/full")].endswith("x")
    skipped = spb._run_setting(smol_model, smollm2_tokenizer, compiled, tasks[:1], batch=1, temperature=0.0,
                               spec=True, max_new_tokens=8, seed=0, log=lambda m: None, full_head=False)
    assert skipped["full_s"] == 0.0 and spb._row("m", 1, 0.0, skipped, True)[spb.HEADERS.index("tok/s plain full head")] == "-"


def test_run_setting_with_a_suffix_store_sees_earlier_tasks_only(smollm2_tokenizer, smol_model):
    """``--suffix``: a third decode per task with a SuffixStore; greedy, the same tokens as the
    plain loop, its own row, and the store holds exactly the earlier tasks' outputs of that run
    when each task starts (the same prompt twice: the second run drafts from the first's output)."""
    import constrain

    from decode import Speculation, SuffixStore

    vocab = constrain.Vocabulary.from_hf(smollm2_tokenizer)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "k": {"enum": ["ab", "cd"]}},
              "required": ["n", "k"], "additionalProperties": False}
    compiled = {"json:a": constrain.compile_json_schema(schema, vocab, options=constrain.JsonOptions.GENERATION)}
    tasks = [("json:a", schema, "a b"), ("json:a", schema, "a b")]
    store = SuffixStore()
    sizes = []
    add = store.add
    store.add = lambda toks: (sizes.append(store.sequences), add(toks))  # sequences held before each add
    agg = spb._run_setting(smol_model, smollm2_tokenizer, compiled, tasks, batch=1, temperature=0.0, spec=True,
                           max_new_tokens=16, seed=0, log=lambda m: None, full_head=False,
                           also=Speculation(history=store))
    also = agg["also"]
    assert sizes == [0, 1] and store.sequences == 2
    assert also["outputs"] == agg["outputs"] == 2 and also["identical"] == 2
    assert also["base_tokens"] == agg["base_tokens"] and also["base_s"] == agg["base_s"]
    assert also["sources"]["suffix"]["accepted"] > 0 and "suffix" not in agg["sources"]
    assert also["spec_passes"] < agg["spec_passes"]
    assert len(spb._row("maskbench", 1, 0.0, also, True)) == len(spb.HEADERS)
