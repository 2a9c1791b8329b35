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
    for i, rows in enumerate([[_row(1, 0.0, 100, 100, 45, 10.0, 5.0)], [_row(4, 0.7, 400, 100, 60, 8.0, 6.0)]]):
        f = tmp_path / f"run{i}.json"
        f.write_text(json.dumps({"kind": "speculative", "rows": rows}))
        runs.append(str(f))
    png = tmp_path / "spec.png"
    assert bm.main(["speculative", "--from", *runs, "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="--plot"):
        bm.main(["speculative", "--from", *runs])
    assert spb._plot_label(_row(4, 0.7, 1, 1, 1, 1, 1)) == "maskbench\nbatch 4, T 0.7"
