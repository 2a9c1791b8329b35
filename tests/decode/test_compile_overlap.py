"""``generate`` compiles a constraint on a thread while the prompt's prefill runs (issue 18):
the outputs are those of compiling first, a compile error surfaces unchanged (same type,
same message) before any token, and a cached or compiled constraint takes no thread."""

import threading

import pytest

import constrain
import decode
import decode.loop as loop
from decode import constraints as C


SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 6},
                                           "n": {"type": "integer", "minimum": 0, "maximum": 99}},
          "required": ["name", "n"], "additionalProperties": False}


def _gen(model, tok, constraint, overlap, monkeypatch, **kw):
    """A generate call from a cold constraint LRU, overlapped or not; records compile threads."""
    C._clear_compiled_cache()
    monkeypatch.setattr(loop, "OVERLAP_COMPILE", overlap)
    seen = []
    real = loop._compile_rows

    def spy(*a, **k):
        seen.append(threading.current_thread() is threading.main_thread())
        return real(*a, **k)

    monkeypatch.setattr(loop, "_compile_rows", spy)
    out = decode.generate(model, tok, ["x", "yz"] if kw.pop("batch", False) else "x", constraint, **kw)
    monkeypatch.setattr(loop, "_compile_rows", real)
    return out, seen


@pytest.mark.parametrize("constraint", [SCHEMA, decode.Regex(r"[a-c]{2,5}-\d{2}"),
                                        decode.Lark('start: "hi " NAME\nNAME: /[a-z]{2,6}/')],
                         ids=["schema", "regex", "lark"])
def test_overlapped_outputs_equal_sequential(smol_model, smollm2_tokenizer, monkeypatch, constraint):
    for seed in (1,):
        a, on_main_a = _gen(smol_model, smollm2_tokenizer, constraint, True, monkeypatch, seed=seed, temperature=1.0,
                            max_new_tokens=40)
        b, on_main_b = _gen(smol_model, smollm2_tokenizer, constraint, False, monkeypatch, seed=seed, temperature=1.0,
                            max_new_tokens=40)
        assert on_main_a == [False] and on_main_b == [True]  # the overlap really ran on a thread
        assert a.token_ids == b.token_ids and a.text == b.text and a.stop_reason == b.stop_reason
        assert a.stats["forward_calls"] == b.stats["forward_calls"]


def test_overlapped_batch_of_constraints_equal_sequential(smol_model, smollm2_tokenizer, monkeypatch):
    cs = [SCHEMA, decode.Regex("(yes|no)")]
    a, _ = _gen(smol_model, smollm2_tokenizer, cs, True, monkeypatch, batch=True, seed=3, max_new_tokens=30)
    b, _ = _gen(smol_model, smollm2_tokenizer, cs, False, monkeypatch, batch=True, seed=3, max_new_tokens=30)
    assert [r.token_ids for r in a] == [r.token_ids for r in b]


def test_cached_or_compiled_constraint_takes_no_thread(smol_model, smollm2_tokenizer, monkeypatch):
    C._clear_compiled_cache()
    decode.generate(smol_model, smollm2_tokenizer, "x", SCHEMA, max_new_tokens=2)  # fills the LRU
    calls = []
    monkeypatch.setattr(loop, "_Background", lambda fn: calls.append(fn))
    decode.generate(smol_model, smollm2_tokenizer, "x", SCHEMA, max_new_tokens=2)
    vocab = C.get_vocabulary(smollm2_tokenizer, 49152)
    decode.generate(smol_model, smollm2_tokenizer, "x", constrain.compile_regex("ab", vocab), max_new_tokens=2)
    assert calls == []


@pytest.mark.parametrize("constraint", [
    {"type": "object", "minProperties": "x"},                      # SchemaError from the front-end
    decode.Regex("(ab"),                                            # regex syntax
    {"type": "string", "pattern": "^a{3}$", "maxLength": 2},       # matches nothing
    decode.Lark("start: undefined_rule"),                           # grammar error
], ids=["schema-keyword", "regex-syntax", "empty-language", "lark"])
def test_compile_errors_surface_unchanged(smol_model, smollm2_tokenizer, monkeypatch, constraint):
    errs = []
    for overlap in (False, True):
        C._clear_compiled_cache()
        monkeypatch.setattr(loop, "OVERLAP_COMPILE", overlap)
        prefills = []
        real = loop.HFCausalLM.prefill
        monkeypatch.setattr(loop.HFCausalLM, "prefill", lambda self, *a: prefills.append(1) or real(self, *a))
        with pytest.raises(Exception) as info:
            decode.generate(smol_model, smollm2_tokenizer, "x", constraint, max_new_tokens=5)
        monkeypatch.setattr(loop.HFCausalLM, "prefill", real)
        errs.append((type(info.value), str(info.value), getattr(info.value, "pointer", None)))
        # no token: sequentially not even a prefill; overlapped one prefill, wasted
        assert prefills == ([1] if overlap else [])
    assert errs[0] == errs[1]
    assert issubclass(errs[0][0], (constrain.ConstraintError, decode.GenerationArgumentError))


def test_prefill_error_after_a_good_compile_is_raised(smol_model, smollm2_tokenizer, monkeypatch):
    C._clear_compiled_cache()

    def boom(self, *a):
        raise RuntimeError("prefill failed")

    monkeypatch.setattr(loop.HFCausalLM, "prefill", boom)
    with pytest.raises(RuntimeError, match="prefill failed"):
        decode.generate(smol_model, smollm2_tokenizer, "x", SCHEMA, max_new_tokens=5)


def test_compile_error_wins_over_prefill_error(smol_model, smollm2_tokenizer, monkeypatch):
    """In line, the compile ran first and its error was the one raised: still so."""
    C._clear_compiled_cache()

    def boom(self, *a):
        raise RuntimeError("prefill failed")

    monkeypatch.setattr(loop.HFCausalLM, "prefill", boom)
    with pytest.raises(constrain.ConstraintError):
        decode.generate(smol_model, smollm2_tokenizer, "x", decode.Regex("(ab"), max_new_tokens=5)
