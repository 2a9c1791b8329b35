"""The ASAp benchmark's metric (``decode.bench.asap``): the paper's sliding-window KL and the
reference law, checked by hand on small inputs (no model)."""

from __future__ import annotations

import math

import pytest

from decode.bench.asap import GRAMMARS, reference_law, window_kl


def test_reference_law_renormalises_log_probabilities():
    law = reference_law({"a": math.log(0.02), "b": math.log(0.06), "c": -math.inf})
    assert law == pytest.approx({"a": 0.25, "b": 0.75, "c": 0.0})


def test_window_kl_by_hand():
    law = {"x": 0.5, "y": 0.5}
    samples = ["x", "x", "y", "x"]
    out = window_kl(samples, law, window=2)
    # windows [x x], [x y], [y x]
    assert [i for i, _ in out] == [2, 3, 4]
    assert out[0][1] == pytest.approx(math.log(2))
    assert out[1][1] == pytest.approx(0.0, abs=1e-15) and out[2][1] == pytest.approx(0.0, abs=1e-15)
    strided = window_kl(["x"] * 7, law, window=3, stride=2)
    assert [i for i, _ in strided] == [3, 5, 7]  # the last index always included
    assert all(k == pytest.approx(math.log(2)) for _, k in strided)
    assert window_kl(samples, law, window=5) == []


def test_benchmark_languages_are_small_and_finite():
    from constrain import Vocabulary, compile_lark, compile_regex

    vocab = Vocabulary.from_token_bytes([bytes([b]) for b in range(32, 127)] + [None], eos_ids=[95])
    sizes = {}
    for g in GRAMMARS:
        compiled = (compile_regex if g.kind == "regex" else compile_lark)(g.text, vocab)
        words = []

        def walk(m, text):
            if m.is_accepting():
                words.append(text)
            for t in vocab.mask_to_ids(m.mask()).tolist():
                if t != 95:
                    mm = m.copy()
                    mm.advance(t)
                    walk(mm, text + vocab.token_bytes[t])

        walk(compiled.matcher(), b"")
        sizes[g.name] = len(words)
        if g.name == "parity":
            assert all(len(w) == 4 and w.count(b"1") % 2 == 0 for w in words)
        if g.name == "arithmetic":
            assert all(len(w) == 3 and eval(w) == 6 for w in words)  # noqa: S307 - our own 3-char strings
    assert sizes == {"parity": 8, "arithmetic": 11, "sql": 24}  # sql: 3 columns x 2 tables x (no WHERE or id 1-3)
