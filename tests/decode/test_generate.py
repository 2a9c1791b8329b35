"""The generation loop, generate_object and the HF LogitsProcessor on a tiny random model.

Constraints are ``tests/fakes.py`` finite languages (so these run without the grammar
compiler); the model is a 2-layer random Llama whose logits are wider (150) than the
tokenizer (141 ids) and not a multiple of 32.  Tests with the real ``constrain`` compiler are
at the end and use the SmolLM2 tokenizer with a tiny random model of matching width.
"""

from __future__ import annotations

import importlib
import json
import sys
import types

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList

import decode
G = importlib.import_module("decode.loop")

try:
    from tests import fakes
except ImportError:  # tests/ itself on sys.path (pytest rootdir-less runs)
    import fakes

MODEL_V = 150


def needs_core_later(fn):
    """``needs_core`` for tests defined above it (the check runs when the test does)."""
    def run(*a, **kw):
        if not _core_ready():
            pytest.skip("constrain core (regex/json compiler) not available yet")
        return fn(*a, **kw)

    import functools
    return functools.wraps(fn)(run)


@pytest.fixture(scope="module")
def tok():
    return fakes.make_tiny_tokenizer()


@pytest.fixture(scope="module")
def model():
    return fakes.make_tiny_model(MODEL_V, seed=0)


@pytest.fixture(scope="module")
def vocab(tok):
    return fakes.FakeVocab.from_tokenizer(tok, MODEL_V)


LANG = ["yes", "yesterday", "no", "nope", "maybe", '{"name": "abc"}', "abc abc abc"]


def lang(vocab, strings=LANG, kind=None):
    return fakes.FakeCompiled(strings, vocab, kind=kind)


# --------------------------------------------------------------------------------------------
# fakes sanity (they stand in for the core, so they must follow the Matcher contract)
# --------------------------------------------------------------------------------------------


def test_fake_matcher_contract(vocab, tok):
    c = lang(vocab, ["ab", "abc"])
    m = c.matcher()
    eos = int(vocab.eos_ids[0])
    a, b, cc = (tok.convert_tokens_to_ids(x) for x in ("a", "b", "c"))
    assert not m.is_accepting() and m.forced_bytes() == b"ab"
    assert not m.advance(eos) and not m.advance(b)
    assert m.advance(a) and m.advance(b) and m.is_accepting()
    bits = np.unpackbits(m.mask().view(np.uint8), bitorder="little")
    assert sorted(bits.nonzero()[0].tolist()) == sorted([cc, eos])
    copy = m.copy()
    assert m.advance(eos) and m.is_finished() and not m.advance(cc)
    assert not m.mask().any()
    m.rollback(1)
    assert not m.is_finished() and m.advance(cc)
    assert not copy.is_finished()
    out = torch.zeros(2, vocab.n_words, dtype=torch.int32)
    copy.fill_mask(out, 1)
    assert torch.equal(out[1], torch.from_numpy(copy.mask())) and not out[0].any()


# --------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------


def test_output_always_in_language(model, tok, vocab):
    c = lang(vocab)
    seen = set()
    for seed in range(12):
        r = decode.generate(model, tok, "hello", c, seed=seed, temperature=1.5, max_new_tokens=40)
        assert r.finished, r
        assert r.text in LANG
        assert r.stop_reason in ("eos", "grammar_complete")
        assert all(t < len(tok) for t in r.token_ids)
        assert b"".join(vocab.token_bytes[t] for t in r.token_ids).decode() == r.text
        seen.add(r.text)
    assert len(seen) >= 3, seen  # sampling actually explores the language


def test_greedy_is_deterministic(model, tok, vocab):
    c = lang(vocab)
    a = decode.generate(model, tok, "abc", c, temperature=0.0, seed=1)
    b = decode.generate(model, tok, "abc", c, temperature=0.0, seed=2)
    d = decode.generate(model, tok, "abc", c, temperature=0.0)
    assert a.token_ids == b.token_ids == d.token_ids
    assert a.text in LANG


def test_seed_reproducible(model, tok, vocab):
    c = lang(vocab)
    runs = [decode.generate(model, tok, "x", c, seed=s, temperature=2.0).token_ids for s in (5, 5, 6, 7, 8)]
    assert runs[0] == runs[1]


def test_timings_and_result_fields(model, tok, vocab):
    r = decode.generate(model, tok, "hi", lang(vocab, ["abc abc abc"]), temperature=0)
    assert r.text == "abc abc abc" and r.value is None and r.finished
    t = r.timings
    assert t["n_tokens"] == len(r.token_ids) >= 3
    assert t["time_to_first_token_s"] > 0 and t["time_per_output_token_s"] > 0
    assert 0 < t["mask_time_s"] < t["total_s"]


def test_json_value(model, tok, vocab):
    c = lang(vocab, ['{"name": "abc"}', '{"age": 123}'], kind="json")
    r = decode.generate(model, tok, "hi", c, temperature=0)
    assert r.value == json.loads(r.text)


def test_eos_only_when_accepting(model, tok, vocab):
    """A model that loves EOS still cannot emit it before the output is complete."""
    eos = int(vocab.eos_ids[0])
    m2 = fakes.make_tiny_model(MODEL_V, seed=0)

    def boost_eos(module, inputs, out):
        out = out.clone()
        out[..., eos] += 100.0
        return out

    m2.lm_head.register_forward_hook(boost_eos)
    seen_eos_states = []

    class Spy(fakes.FakeMatcher):
        def advance(self, t):
            if t == eos:
                seen_eos_states.append(self.is_accepting())
            return super().advance(t)

    c = lang(vocab, ["xy", "xyz", "xyzxyz"])  # no multi-character tokens cover these
    c.matcher = lambda: Spy(c)
    for seed in range(4):
        r = decode.generate(m2, tok, "q", c, seed=seed, temperature=1.0)
        assert r.text == "xy" and r.stop_reason == "eos", r
    assert seen_eos_states and all(seen_eos_states)
    # unconstrained, the same model stops immediately
    r = decode.generate(m2, tok, "q", None, temperature=0)
    assert r.token_ids == [] and r.finished


def test_stops_when_only_eos_remains(model, tok, vocab):
    c = lang(vocab, ["yes"])
    r = decode.generate(model, tok, "q", c, temperature=1.0, seed=0)
    assert r.text == "yes" and r.stop_reason == "grammar_complete" and r.finished
    assert r.timings["steps"] == len(r.token_ids)  # no forward pass spent on the EOS


def test_max_new_tokens_partial(model, tok, vocab):
    long = "abc " * 20
    r = decode.generate(model, tok, "q", lang(vocab, [long]), max_new_tokens=3, temperature=0)
    assert not r.finished and r.stop_reason == "max_new_tokens"
    assert len(r.token_ids) == 3 and long.startswith(r.text) and r.text


def test_stop_strings(model, tok, vocab):
    r = decode.generate(model, tok, "q", lang(vocab, ["abc;def"]), stop=";", temperature=0)
    assert r.text == "abc" and r.stop_reason == "stop" and r.finished


def test_unconstrained(model, tok):
    r = decode.generate(model, tok, "hello", None, max_new_tokens=7, temperature=1.0, seed=0)
    assert len(r.token_ids) <= 7
    assert all(t < len(tok) for t in r.token_ids)  # padding logits never sampled
    assert r.value is None


def test_frequency_and_presence_penalties(model, tok, vocab):
    """A large penalty makes greedy avoid every token it already generated; zero is a no-op."""
    base = decode.generate(model, tok, "hello", None, max_new_tokens=12, temperature=0)
    same = decode.generate(model, tok, "hello", None, max_new_tokens=12, temperature=0,
                           frequency_penalty=0.0, presence_penalty=0.0)
    assert base.token_ids == same.token_ids
    for kw in ({"frequency_penalty": 1e4}, {"presence_penalty": 1e4}):
        r = decode.generate(model, tok, "hello", None, max_new_tokens=12, temperature=0, **kw)
        assert len(set(r.token_ids)) == len(r.token_ids) == 12, kw
    # the constraint still rules: forced repeats happen, outputs stay in the language
    rs = decode.generate(model, tok, ["a", "a longer prompt"], [lang(vocab, ["abc abc abc"]), lang(vocab, ["no", "nope"])],
                         temperature=0.8, seed=0, frequency_penalty=5.0, presence_penalty=1.0)
    assert rs[0].text == "abc abc abc" and rs[1].text in ("no", "nope")


def test_kv_cache_matches_full_recompute(model, tok, vocab):
    """Greedy with KV cache == a naive loop that re-runs the whole sequence each step."""
    c = lang(vocab)
    r = decode.generate(model, tok, "hello there", c, temperature=0)
    ids = tok("hello there")["input_ids"]
    m = c.matcher()
    out = []
    mask = torch.zeros(1, vocab.n_words, dtype=torch.int32)
    with torch.no_grad():
        while not m.is_finished():
            m.fill_mask(mask, 0)
            logits = model(torch.tensor([ids + out])).logits[:, -1, :].clone()
            decode.apply_token_bitmask_(logits, mask)
            t = int(logits.argmax())
            assert m.advance(t)
            if not m.is_finished():
                out.append(t)
    assert r.token_ids == out


def test_chat_messages_use_template(model, tok, vocab):
    c = lang(vocab)
    msgs = [{"role": "user", "content": "say yes"}]
    a = decode.generate(model, tok, msgs, c, temperature=0)
    text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<assistant>")
    b = decode.generate(model, tok, text, c, temperature=0)
    assert a.token_ids == b.token_ids


def test_batch_rows_get_their_own_constraints(model, tok, vocab):
    langs = [["yes", "yesterday"], ["no", "nope"], ["maybe"], ["123", "abc abc"]]
    cs = [lang(vocab, L) for L in langs]
    prompts = ["a", "a much longer prompt here", [{"role": "user", "content": "hi"}], "xy"]
    for seed in range(3):
        rs = decode.generate(model, tok, prompts, cs, seed=seed, temperature=1.0)
        assert isinstance(rs, list) and len(rs) == 4
        for r, L in zip(rs, langs):
            assert r.finished and r.text in L, (r, L)


def test_batch_greedy_equals_single_rows(model, tok, vocab):
    """Left padding + attention mask + position ids: a batch row decodes like it would alone."""
    cs = [lang(vocab), lang(vocab, ["abc abc abc", "abc;def", "123"]), None]
    prompts = ["hi", "a much longer prompt than the first one", "the"]
    batch = decode.generate(model, tok, prompts, cs, temperature=0, max_new_tokens=12)
    for p, c, rb in zip(prompts, cs, batch):
        single = decode.generate(model, tok, p, c, temperature=0, max_new_tokens=12)
        assert single.token_ids == rb.token_ids, p


def test_batch_shared_constraint_and_flags(model, tok, vocab):
    c = lang(vocab)
    rs = decode.generate(model, tok, ["a", "b"], c, temperature=0)
    assert [r.text in LANG for r in rs] == [True, True]
    one = decode.generate(model, tok, "a", c, temperature=0, batch=True)
    assert isinstance(one, list) and one[0].token_ids == rs[0].token_ids
    with pytest.raises(ValueError):
        decode.generate(model, tok, ["a", "b"], [c], temperature=0)
    with pytest.raises(TypeError):
        decode.generate(model, tok, "a", [c, c])


def test_top_k_top_p_in_loop(model, tok, vocab):
    c = lang(vocab)
    for kw in ({"top_k": 1}, {"top_p": 1e-6}):
        a = decode.generate(model, tok, "z", c, seed=3, temperature=1.0, **kw)
        g = decode.generate(model, tok, "z", c, temperature=0.0)
        assert a.token_ids == g.token_ids  # only the best allowed token survives


# --------------------------------------------------------------------------------------------
# constraint coercion
# --------------------------------------------------------------------------------------------


def test_constraint_kinds_and_errors():
    G = importlib.import_module("decode.constraints")  # constraint coercion moved there (issue 12)
    assert G.constraint_kind(None) is None
    assert G.constraint_kind({"type": "string"}) == "json"
    assert G.constraint_kind('{"type": "string"}') == "json"
    assert G.constraint_kind(decode.Regex("a+")) == "regex"
    assert G.constraint_kind(decode.Lark("start: 'a'")) == "lark"
    with pytest.raises(TypeError):
        G.constraint_kind(3.5)
    with pytest.raises(ValueError, match="Regex"):
        G._schema_of("a+b")

    from pydantic import BaseModel

    class P(BaseModel):
        x: int

    assert G.constraint_kind(P) == "json"
    assert G._schema_of(P)["properties"]["x"]["type"] == "integer"


def test_as_compiled_lru_cache(monkeypatch):
    G = importlib.import_module("decode.constraints")  # constraint coercion moved there (issue 12)
    calls = []
    fake_mod = types.ModuleType("constrain")
    fake_mod.compile_json_schema = lambda schema, vocab, options=None: calls.append(("j", json.dumps(schema))) or object()
    fake_mod.compile_regex = lambda pattern, vocab: calls.append(("r", pattern)) or object()
    monkeypatch.setitem(sys.modules, "constrain", fake_mod)
    monkeypatch.setattr(G, "_compiled_cache", type(G._compiled_cache)())
    v1, v2 = object(), object()
    a = G.as_compiled({"type": "object", "properties": {"a": {}, "b": {}}}, v1)
    b = G.as_compiled('{"properties": {"b": {}, "a": {}}, "type": "object"}', v1)  # same schema
    assert a is b and len(calls) == 1
    assert G.as_compiled({"type": "object", "properties": {"a": {}, "b": {}}}, v2) is not a
    r1 = G.as_compiled(decode.Regex("a+"), v1)
    assert G.as_compiled(decode.Regex("a+"), v1) is r1
    assert len(calls) == 3
    for i in range(G._CACHE_SIZE + 5):
        G.as_compiled(decode.Regex(f"x{i}"), v1)
    assert len(G._compiled_cache) == G._CACHE_SIZE
    assert G.as_compiled(None, v1) is None


def test_generate_compiles_schemas_with_generation_options(monkeypatch, model, tok, vocab):
    """Schemas given to generate/generate_object get GENERATION_JSON_OPTIONS; other kinds none."""
    seen = []

    def fake_as_compiled(c, v, **kw):
        seen.append((c, kw))
        return None if c is None else lang(vocab, ["yes", "no"], kind="json" if not isinstance(c, decode.Regex) else None)

    monkeypatch.setattr(G, "get_vocabulary", lambda tokenizer, vocab_size=None: vocab)
    monkeypatch.setattr(G, "as_compiled", fake_as_compiled)
    decode.generate(model, tok, "?", {"enum": ["yes", "no"]}, temperature=0, max_new_tokens=4)
    assert seen[-1][1] == decode.GENERATION_JSON_OPTIONS
    assert seen[-1][1]["strict"] and seen[-1][1]["canonical_literals"]
    assert not seen[-1][1]["trailing_whitespace"] and seen[-1][1]["max_newlines"] == 1
    decode.generate(model, tok, "?", '{"enum": ["yes"]}', temperature=0, max_new_tokens=4,
                    json_options={"strict": False, "max_whitespace": 4})
    assert seen[-1][1] == {**decode.GENERATION_JSON_OPTIONS, "strict": False, "max_whitespace": 4}
    decode.generate(model, tok, "?", decode.Regex("yes|no"), temperature=0, max_new_tokens=4)
    assert seen[-1][1] == {}
    assert decode.GENERATION_JSON_OPTIONS["strict"]  # the caller's dict was not mutated


@needs_core_later
def test_generation_options_reach_the_compiler(smol_tok):
    """The defaults really narrow: no escaped keys, no trailing blanks, no undeclared keys."""
    import constrain

    v = G.get_vocabulary(smol_tok, 49152)
    schema = {"type": "object", "properties": {"name": {"enum": ["cat", "dog"]}}}
    c = G.as_compiled(schema, v, **decode.GENERATION_JSON_OPTIONS)
    loose = G.as_compiled(schema, v)

    def accepts(compiled, text):
        m = compiled.matcher()
        return all(m.advance(t) for t in v.encode(text)) and m.is_accepting()

    assert accepts(c, '{"name": "cat"}') and accepts(c, '{\n  "name": "dog"\n}')
    for text in ['{"\\u006eame": "cat"}', '{"name": "c\\u0061t"}', '{"name": "cat"}\n', '{"name": "cat"} ',
                 '{"name": "cat", "x": 1}', '{\n\n"name": "cat"}']:
        assert accepts(loose, text) and not accepts(c, text), text
    assert isinstance(c, constrain.Compiled)


# --------------------------------------------------------------------------------------------
# generate_object
# --------------------------------------------------------------------------------------------


def _patch_coercion(monkeypatch, compiled):
    monkeypatch.setattr(G, "get_vocabulary", lambda tokenizer, vocab_size=None: compiled.vocab)
    monkeypatch.setattr(G, "as_compiled", lambda c, v, **kw: compiled if c is not None and not hasattr(c, "matcher") else c)


def test_generate_object(monkeypatch, model, tok, vocab):
    from pydantic import BaseModel

    class Thing(BaseModel):
        name: str

    _patch_coercion(monkeypatch, lang(vocab, ['{"name": "abc"}'], kind="json"))
    obj = decode.generate_object(model, tok, [{"role": "user", "content": "?"}], Thing, temperature=0)
    assert isinstance(obj, Thing) and obj.name == "abc"
    obj2, res = decode.generate_object(model, tok, "?", Thing, temperature=0, return_result=True)
    assert obj2 == obj and res.text == '{"name": "abc"}' and res.value == {"name": "abc"}


def test_generate_object_out_of_tokens(monkeypatch, model, tok, vocab):
    from pydantic import BaseModel

    class Thing(BaseModel):
        name: str

    _patch_coercion(monkeypatch, lang(vocab, ['{"name": "' + "abc" * 30 + '"}'], kind="json"))
    with pytest.raises(decode.GenerationError) as ei:
        decode.generate_object(model, tok, "q", Thing, max_new_tokens=5, temperature=0,
                               finish_within_budget=False)  # the default closes the output instead
    assert ei.value.partial_text.startswith('{"name')
    assert ei.value.result is not None and not ei.value.result.finished


def test_generate_object_validation_error(monkeypatch, model, tok, vocab):
    from pydantic import BaseModel

    class Thing(BaseModel):
        age: int

    _patch_coercion(monkeypatch, lang(vocab, ['{"name": "abc"}'], kind="json"))
    with pytest.raises(decode.GenerationError, match="validation") as ei:
        decode.generate_object(model, tok, "q", Thing, temperature=0)
    assert ei.value.partial_text == '{"name": "abc"}'


# --------------------------------------------------------------------------------------------
# HF LogitsProcessor
# --------------------------------------------------------------------------------------------


def _hf_generate(model, tok, prompts, processor, **kw):
    enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left")
    out = model.generate(
        **enc, logits_processor=LogitsProcessorList([processor]), eos_token_id=int(tok.eos_token_id),
        pad_token_id=int(tok.pad_token_id), **kw,
    )
    rows = []
    for seq in out[:, enc["input_ids"].shape[1]:].tolist():
        while seq and seq[-1] == tok.pad_token_id:
            seq.pop()
        if seq and seq[-1] == tok.eos_token_id:
            seq.pop()
        rows.append(seq)
    return rows


def test_logits_processor_matches_generate_greedy(model, tok, vocab):
    c = lang(vocab)
    proc = decode.LogitsProcessor(c)
    hf = _hf_generate(model, tok, ["hello there"], proc, do_sample=False, max_new_tokens=30)
    ours = decode.generate(model, tok, "hello there", c, temperature=0)
    assert hf[0] == ours.token_ids
    # reusable after reset(); same result
    proc.reset()
    assert _hf_generate(model, tok, ["hello there"], proc, do_sample=False, max_new_tokens=30) == hf


def test_logits_processor_batch_per_row(model, tok, vocab):
    cs = [lang(vocab), lang(vocab, ["abc abc abc", "123"])]
    prompts = ["hi", "a longer prompt to force left padding"]
    proc = decode.LogitsProcessor(cs, batch_size=2)
    hf = _hf_generate(model, tok, prompts, proc, do_sample=False, max_new_tokens=30)
    ours = decode.generate(model, tok, prompts, cs, temperature=0)
    assert hf == [r.token_ids for r in ours]


def test_logits_processor_one_constraint_for_the_batch(model, tok, vocab):
    """One Compiled, no batch_size: every row of a batch of 2 gets its own matcher."""
    c = lang(vocab)
    prompts = ["hi", "a longer prompt to force left padding"]
    hf = _hf_generate(model, tok, prompts, decode.LogitsProcessor(c), do_sample=False, max_new_tokens=30)
    ours = decode.generate(model, tok, prompts, c, temperature=0)
    assert hf == [r.token_ids for r in ours]
    assert len(hf) == 2 and all(hf)


def test_logits_processor_sampling(model, tok, vocab):
    c = lang(vocab)
    texts = set()
    for seed in range(6):
        torch.manual_seed(seed)
        proc = decode.LogitsProcessor(c)
        (ids,) = _hf_generate(model, tok, ["q"], proc, do_sample=True, top_k=0, temperature=1.5,
                              max_new_tokens=30)
        text = b"".join(vocab.token_bytes[t] for t in ids).decode()
        assert text in LANG
        texts.add(text)
    assert len(texts) >= 2


def test_logits_processor_rejects_wrong_batch(model, tok, vocab):
    proc = decode.LogitsProcessor(lang(vocab), batch_size=1)
    with pytest.raises(ValueError, match="batch_size"):
        _hf_generate(model, tok, ["a", "b"], proc, do_sample=False, max_new_tokens=3)


# --------------------------------------------------------------------------------------------
# with the real constrain core (SmolLM2 tokenizer, tiny random model of the same width)
# --------------------------------------------------------------------------------------------


def _core_ready() -> bool:
    try:
        import constrain

        v = constrain.Vocabulary.from_token_bytes([b"a", b"b", None], [2])
        constrain.compile_regex("ab?", v)
        constrain.compile_json_schema({"type": "integer"}, v)
        return True
    except Exception:
        return False


needs_core = pytest.mark.skipif(not _core_ready(), reason="constrain core (regex/json compiler) not available yet")


@pytest.fixture(scope="module")
def smol_tok():
    from constrain.tokenizers import load_smollm2_tokenizer

    return load_smollm2_tokenizer()


@pytest.fixture(scope="module")
def smol_tiny_model(smol_tok):
    return fakes.make_tiny_model(49152, seed=1, eos_token_id=int(smol_tok.eos_token_id),
                                 pad_token_id=int(smol_tok.pad_token_id or smol_tok.eos_token_id))


@needs_core
def test_real_json_schema_random_model(smol_tok, smol_tiny_model):
    import jsonschema

    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 8},
            "kind": {"enum": ["cat", "dog"]},
            "age": {"type": "integer", "minimum": 0, "maximum": 20},
        },
        "required": ["name", "kind", "age"],
        "additionalProperties": False,
    }
    for seed in range(2):
        r = decode.generate(smol_tiny_model, smol_tok, "x", schema, seed=seed, temperature=1.0,
                            max_new_tokens=120)
        assert r.finished, r.text
        jsonschema.validate(r.value, schema)
        assert json.loads(r.text) == r.value


@needs_core
def test_real_regex_batch_random_model(smol_tok, smol_tiny_model):
    import re

    pats = [r"[a-c]{3}-\d{2}", r"(yes|no)"]
    rs = decode.generate(smol_tiny_model, smol_tok, ["a", "bb"], [decode.Regex(p) for p in pats],
                         seed=0, temperature=1.0, max_new_tokens=20)
    for r, p in zip(rs, pats):
        assert r.finished and re.fullmatch(p, r.text), (p, r.text)
        assert r.value is None


def _lark_ready() -> bool:
    G = importlib.import_module("decode.constraints")  # constraint coercion moved there (issue 12)
    return _core_ready() and G.lark_compiler() is not None


@pytest.mark.skipif(not _lark_ready(), reason="constrain Lark compiler not available yet")
def test_real_lark_random_model(smol_tok, smol_tiny_model):
    import re

    grammar = """
start: greeting " " NAME "!"
greeting: "hello" | "hi"
NAME: /[A-Z][a-z]{1,8}/
"""
    for seed in range(2):
        r = decode.generate(smol_tiny_model, smol_tok, "x", decode.Lark(grammar), seed=seed,
                            temperature=1.0, max_new_tokens=30)
        assert r.finished and re.fullmatch(r"(hello|hi) [A-Z][a-z]{1,8}!", r.text), r.text


@needs_core
def test_real_logits_processor_matches_generate(smol_tok, smol_tiny_model):
    import constrain

    vocab = constrain.Vocabulary.from_hf(smol_tok, vocab_size=49152)
    c = constrain.compile_regex(r"[a-z]{2,6}( [a-z]{2,6}){0,3}", vocab)
    proc = decode.LogitsProcessor(c, eos_token_id=smol_tok.eos_token_id)
    hf = _hf_generate(smol_tiny_model, smol_tok, ["hello"], proc, do_sample=False, max_new_tokens=30)
    ours = decode.generate(smol_tiny_model, smol_tok, "hello", c, temperature=0, max_new_tokens=30)
    assert hf[0] == ours.token_ids


# --------------------------------------------------------------------------------------------
# CLI wiring (model loading and compilation patched to the tiny fakes)
# --------------------------------------------------------------------------------------------


def test_cli_generate(monkeypatch, capsys, model, tok, vocab):
    import decode.cli as cli
    import decode.models as hf

    seen = {}

    def fake_as_compiled(c, v, **kw):
        seen["constraint"] = c
        return lang(vocab, ["yes", "no"])

    monkeypatch.setattr(hf, "load_default_model", lambda progress=None: (model, tok))
    monkeypatch.setattr(G, "get_vocabulary", lambda tokenizer, vocab_size=None: vocab)
    monkeypatch.setattr(G, "as_compiled", fake_as_compiled)
    rc = cli.main(["generate", "--regex", "(yes|no)", "--temperature", "0", "Is it?"])
    out, err = capsys.readouterr()
    assert rc == 0 and out.strip() in ("yes", "no")
    assert "generating" in err
    assert seen["constraint"] == decode.Regex("(yes|no)")
    seen_kw = []
    monkeypatch.setattr(G, "as_compiled", lambda c, v, **kw: seen_kw.append(kw) or lang(vocab, ["yes", "no"], kind="json"))
    monkeypatch.setattr(cli, "_load_constraint", lambda args: {"enum": ["yes", "no"]})
    assert cli.main(["generate", "--schema", "x.json", "--temperature", "0", "--no-strict", "?"]) == 0
    assert cli.main(["generate", "--schema", "x.json", "--temperature", "0", "?"]) == 0
    assert seen_kw[0]["strict"] is False and seen_kw[1] == decode.GENERATION_JSON_OPTIONS
    capsys.readouterr()
    with pytest.raises(SystemExit) as ei:
        cli.main(["--help"])
    assert ei.value.code == 0
    assert "generate" in capsys.readouterr().out


@needs_core
def test_finish_within_budget_closes_valid_outputs(smol_tok, smol_tiny_model):
    """A random model rarely closes an object within 40 tokens; with finish_within_budget the
    grammar's shortest completion closes it, and the output validates."""
    import jsonschema

    schema = {"type": "object", "properties": {
        "title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "n": {"type": "integer"}}, "required": ["title", "tags", "n"]}
    unfinished = 0
    for seed in range(4):
        plain = decode.generate(smol_tiny_model, smol_tok, "x", schema, seed=seed, temperature=1.0,
                                max_new_tokens=40)
        unfinished += not plain.finished
        r = decode.generate(smol_tiny_model, smol_tok, "x", schema, seed=seed, temperature=1.0,
                            max_new_tokens=40, finish_within_budget=True)
        assert r.finished, r.text
        jsonschema.validate(json.loads(r.text), schema)
        assert r.value == json.loads(r.text)
        if r.stop_reason == "budget":
            assert r.token_ids[:4] == plain.token_ids[:4]  # the model's own start, then the grammar's
    assert unfinished >= 2  # the option is what makes the difference


@needs_core
def test_generate_object_closes_within_its_budget_by_default(smol_tok, smol_tiny_model):
    """generate_object exists to return an instance: by default the grammar closes an output
    that would run out of tokens (a random model never closes one in 12 tokens by itself)."""
    from pydantic import BaseModel

    class Thing(BaseModel):
        title: str
        tags: list[str]

    obj, res = decode.generate_object(smol_tiny_model, smol_tok, "x", Thing, temperature=1.0, seed=0,
                                      max_new_tokens=12, return_result=True)
    assert isinstance(obj, Thing) and res.finished and res.stop_reason == "budget"
    with pytest.raises(decode.GenerationError, match="did not complete"):
        decode.generate_object(smol_tiny_model, smol_tok, "x", Thing, temperature=1.0, seed=0,
                               max_new_tokens=12, finish_within_budget=False)


@needs_core
def test_finish_within_budget_below_the_shortest_instance(smol_tok, smol_tiny_model):
    """A budget smaller than the schema's shortest instance: the grammar writes it whole."""
    import jsonschema

    schema = {"type": "object", "properties": {"long_property_name": {"type": "string", "minLength": 5},
                                               "another_one": {"type": "integer"}},
              "required": ["long_property_name", "another_one"]}
    r = decode.generate(smol_tiny_model, smol_tok, "x", schema, seed=0, temperature=1.0,
                        max_new_tokens=3, finish_within_budget=True)
    assert r.finished and r.stop_reason == "budget", r
    jsonschema.validate(json.loads(r.text), schema)


def test_shortest_completion_is_shortest(smol_tok):
    from constrain import Vocabulary, compile_json_schema

    vocab = Vocabulary.from_hf(smol_tok)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string", "minLength": 3},
                                               "c": {"enum": ["long", "s"]}},
              "required": ["a", "b", "c"], "additionalProperties": False}
    m = compile_json_schema(schema, vocab, whitespace="compact").matcher()
    assert m.shortest_completion() == b'{"a":0,"b":"aaa","c":"s"}'
    assert m.advance_bytes(b'{"a":12,"b":"h')
    assert m.shortest_completion() == b'aa","c":"s"}'
    assert m.advance_bytes(b'aa","c":"s"}')
    assert m.shortest_completion() == b""
