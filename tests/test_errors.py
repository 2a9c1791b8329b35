"""One error family and no silent failures (issue 11).

Everything the library raises on bad input derives from ``constrain.ConstraintError`` and says
what is wrong and where; mistakes that used to produce garbage (a ``Compiled`` for another
vocabulary, a constraint that matches nothing) or a raw ``IndexError`` / ``UnicodeDecodeError``
are refused up front. Model-free or with the tiny random models of ``tests/fakes.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import constrain
import decode
from constrain import (
    CompileBudgetError,
    ConstraintError,
    EmptyLanguageError,
    GrammarError,
    RegexError,
    SchemaError,
    UnsupportedSchemaError,
    Vocabulary,
    VocabularyError,
)

try:
    from tests import fakes
except ImportError:  # tests/ itself on sys.path
    import fakes


def ascii_vocab(eos: bool = True, extra: int = 0) -> Vocabulary:
    """Printable ASCII bytes as tokens, then ``extra`` padding ids, then EOS (if any)."""
    toks: list[bytes | None] = [bytes([b]) for b in range(32, 127)] + [None] * extra
    if eos:
        toks.append(None)
    return Vocabulary.from_token_bytes(toks, eos_ids=[len(toks) - 1] if eos else [])


@pytest.fixture(scope="module")
def vocab():
    return ascii_vocab()


@pytest.fixture(scope="module")
def tiny_tok():
    return fakes.make_tiny_tokenizer()


@pytest.fixture(scope="module")
def tiny_model():
    return fakes.make_tiny_model(150, seed=0)


@pytest.fixture(scope="module")
def smol_model(smollm2_tokenizer):
    tok = smollm2_tokenizer
    return fakes.make_tiny_model(49152, seed=1, eos_token_id=int(tok.eos_token_id),
                                 pad_token_id=int(tok.pad_token_id or tok.eos_token_id))


class NoForward(torch.nn.Module):
    """Wraps a model; any forward pass fails the test (errors must come before one)."""

    def __init__(self, model):
        super().__init__()
        self.inner = model
        self.config = model.config
        self.generation_config = model.generation_config

    def forward(self, *a, **kw):  # pragma: no cover - reached only on a regression
        raise AssertionError("a forward pass ran before the argument error")

    def get_output_embeddings(self):
        return self.inner.get_output_embeddings()


# ------------------------------------------------------------------------------- the family


def test_every_error_class_is_a_constraint_error():
    for cls in (SchemaError, UnsupportedSchemaError, CompileBudgetError, GrammarError, RegexError,
                EmptyLanguageError, VocabularyError, decode.GenerationError, decode.GenerationArgumentError):
        assert issubclass(cls, ConstraintError), cls
    # an empty language is reported to JSON Schema callers and grammar callers alike
    assert issubclass(EmptyLanguageError, SchemaError) and issubclass(EmptyLanguageError, GrammarError)
    # the builtin bases they had before stay, so existing except clauses keep working
    assert issubclass(decode.GenerationError, RuntimeError)
    assert issubclass(decode.GenerationArgumentError, ValueError)
    assert issubclass(decode.GenerationArgumentError, TypeError)
    assert issubclass(VocabularyError, ValueError)


# --------------------------------------------------------------------- a tokenizer as vocab


@pytest.mark.parametrize("entry", ["json", "regex", "lark", "grammar"])
def test_tokenizer_passed_as_vocabulary(entry, tiny_tok):
    compile_fn = {
        "json": lambda v: constrain.compile_json_schema({"type": "string"}, v),
        "regex": lambda v: constrain.compile_regex("a+", v),
        "lark": lambda v: constrain.compile_lark('start: "a"', v),
        "grammar": lambda v: constrain.compile_grammar(constrain.lark_to_grammar('start: "a"'), v),
    }[entry]
    with pytest.raises(VocabularyError, match=r"expected constrain\.Vocabulary, got "
                       + type(tiny_tok).__name__ + r"; use Vocabulary\.from_hf\(tokenizer\)"):
        compile_fn(tiny_tok)
    with pytest.raises(VocabularyError, match=r"got str; use Vocabulary\.from_name\('smollm2'\)"):
        compile_fn("smollm2")


def test_unreadable_tokenizer_family_is_a_vocabulary_error(tiny_tok):
    # the tiny test tokenizer is neither byte-level BPE nor SentencePiece
    with pytest.raises(VocabularyError, match="tokenizer family"):
        Vocabulary.from_hf(tiny_tok)


# ------------------------------------------------------------------------- schema input


def test_schema_bytes_not_utf8(vocab):
    with pytest.raises(SchemaError, match=r"not valid UTF-8: byte 0xff at offset 10"):
        constrain.compile_json_schema(b'{"type": "\xff"}', vocab)
    # valid UTF-8 bytes are read as JSON text
    assert constrain.compile_json_schema(b'{"type": "string"}', vocab) is not None


@pytest.mark.parametrize("text,kind", [('"hello"', "a string"), ("[1, 2]", "an array"), ("3", "a number"),
                                       ("null", "null")])
def test_valid_json_that_is_no_schema(vocab, text, kind):
    with pytest.raises(SchemaError, match=f"a JSON Schema must be an object or a boolean, got {kind}$"):
        constrain.compile_json_schema(text, vocab)


def test_invalid_json_text(vocab):
    with pytest.raises(SchemaError, match="schema is not valid JSON: .*column 9"):
        constrain.compile_json_schema('{"type":', vocab)


# --------------------------------------------------------------------------- empty languages


@pytest.mark.parametrize("schema,pointer", [
    ({"const": "\ud800"}, "#"),                                     # no UTF-8 spelling (spec-exact options)
    ({"enum": ["\udfff", "\ud800"]}, "#"),
    # an object's member values are rules of their own: the error names the property
    ({"type": "object", "properties": {"a": {"const": "\ud800"}}, "required": ["a"]}, "#/properties/a"),
    ({"allOf": [{"type": "string"}, {"type": "integer"}]}, "#"),
    ({"type": "object", "properties": {"a": {"allOf": [{"type": "string"}, {"type": "integer"}]}},
      "required": ["a"]}, "#/properties/a"),
    ({"type": "array", "items": {"not": {}}, "minItems": 1}, "#"),
    ({"type": "string", "pattern": "^(?!)"}, "#"),
])
def test_empty_json_schema_language_is_a_compile_error(vocab, schema, pointer):
    with pytest.raises(EmptyLanguageError) as ei:
        constrain.compile_json_schema(schema, vocab)
    assert isinstance(ei.value, SchemaError) and ei.value.pointer == pointer
    str(ei.value).encode("utf-8")  # printable: a lone surrogate in the message would crash a log


@pytest.mark.parametrize("options", [{"canonical_literals": True}, {"canonical_strings": True}],
                         ids=["canonical_literals", "canonical_strings"])
def test_lone_surrogate_const_is_empty_under_generation_options_too(vocab, options):
    """The canonical spelling of a lone surrogate would be its ``\\uXXXX`` escape, which free
    strings refuse: the same empty language as under the spec-exact options, not a literal."""
    with pytest.raises(EmptyLanguageError):
        constrain.compile_json_schema({"const": "\ud800"}, vocab, **options)
    c = constrain.compile_json_schema({"enum": ["\ud800", "ok"]}, vocab, **options)
    m = c.matcher()
    assert m.shortest_completion() == b'"ok"'


def test_empty_lexeme_message_names_it(vocab):
    with pytest.raises(EmptyLanguageError, match=r'"\\ud800" matches nothing.*\(at \'#\'\)'):
        constrain.compile_json_schema({"const": "\ud800"}, vocab)


@pytest.mark.parametrize("schema", [
    {"anyOf": [{"const": "\ud800"}, {"type": "integer"}]},   # one live branch is enough
    {"type": "object", "properties": {"a": {"const": "\ud800"}}},  # "a" optional: {} is valid
    {"type": "array", "items": {"not": {}}},                 # [] is valid
    {"type": "string", "maxLength": 0},                      # only ""
])
def test_dead_branches_are_not_an_empty_language(vocab, schema):
    """Exact, not a heuristic: a constraint with any output at all still compiles."""
    c = constrain.compile_json_schema(schema, vocab)
    assert c.automaton.shortest_completion(c.automaton.start) is not None


@pytest.mark.parametrize("pattern", ["(?!)", r"\b\B", r"[^\x00-\U0010FFFF]", "a(?!)|b(?<=a)"])
def test_empty_regex_is_a_compile_error(vocab, pattern):
    with pytest.raises(EmptyLanguageError, match="matches nothing") as ei:
        constrain.compile_regex(pattern, vocab)
    assert isinstance(ei.value, GrammarError)


def test_empty_lark_language(vocab):
    with pytest.raises(EmptyLanguageError):
        constrain.compile_lark('start: "a" x\nx: /[^\\x00-\\U0010FFFF]/', vocab)
    assert constrain.compile_lark('start: "a" | x\nx: /[^\\x00-\\U0010FFFF]/', vocab) is not None


# ------------------------------------------------------------------------- vocabulary checks


def test_vocabulary_without_eos_is_refused_by_generate(tiny_model, tiny_tok):
    no_eos = ascii_vocab(eos=False, extra=150 - 95)
    c = constrain.compile_regex("[a-z]+", no_eos)
    with pytest.raises(VocabularyError, match="no EOS id"):
        decode.generate(NoForward(tiny_model), tiny_tok, "x", c, max_new_tokens=4)
    proc = decode.LogitsProcessor(c)
    with pytest.raises(VocabularyError, match="no EOS id"):
        proc(torch.zeros((1, 3), dtype=torch.long), torch.zeros((1, 150)))


def test_compiled_for_a_smaller_vocabulary_is_refused(tiny_model, tiny_tok):
    """A Compiled whose vocabulary does not cover the tokenizer: garbage before, an error now."""
    small = ascii_vocab()  # 96 ids; the tiny tokenizer has more
    c = constrain.compile_regex("[a-z]+", small)
    with pytest.raises(VocabularyError, match=rf"vocabulary of 96 ids, but the tokenizer has {len(tiny_tok)}"):
        decode.generate(NoForward(tiny_model), tiny_tok, "x", c, max_new_tokens=4)
    # no tokenizer in model.generate: a model with far more logits than the vocabulary has ids
    proc = decode.LogitsProcessor(c)
    with pytest.raises(VocabularyError, match="model has 4096 logits"):
        proc(torch.zeros((1, 3), dtype=torch.long), torch.zeros((1, 4096)))


def test_compiled_for_a_bigger_vocabulary_is_refused(tiny_model, tiny_tok):
    big = ascii_vocab(extra=200)
    c = constrain.compile_regex("[a-z]+", big)
    with pytest.raises(VocabularyError, match="the model has only 150 logits"):
        decode.generate(NoForward(tiny_model), tiny_tok, "x", c, max_new_tokens=4)
    with pytest.raises(VocabularyError, match="the model has only 150 logits"):
        decode.LogitsProcessor(c)(torch.zeros((1, 3), dtype=torch.long), torch.zeros((1, 150)))


def test_compiled_for_another_tokenizer_of_the_same_size(smollm2_tokenizer, smollm2_vocab, smol_model):
    """Same size, other token bytes (two ids swapped): the fingerprint and a byte compare see it."""
    tok, v = smollm2_tokenizer, smollm2_vocab
    a, b = v.encode("a")[0], v.encode("b")[0]
    tb = list(v.token_bytes)
    tb[a], tb[b] = tb[b], tb[a]
    other = Vocabulary(tb, v.eos_ids.tolist())
    c = constrain.compile_regex("[ab]{3}", other)
    with pytest.raises(VocabularyError, match=rf"token {min(a, b)} is b'[ab]' in its vocabulary but b'[ab]'"):
        decode.generate(NoForward(smol_model), tok, "x", c, max_new_tokens=4)
    with pytest.raises(VocabularyError, match="compiled for another tokenizer"):
        decode.LogitsProcessor(c, tokenizer=tok)(torch.zeros((1, 3), dtype=torch.long), torch.zeros((1, 49152)))
    # the right vocabulary passes (a copy with equal bytes too: fingerprints, not identity)
    same = Vocabulary(list(v.token_bytes), v.eos_ids.tolist())
    for vv in (v, same):
        r = decode.generate(smol_model, tok, "x", constrain.compile_regex("[ab]{3}", vv), temperature=0,
                            max_new_tokens=8)
        assert r.finished and len(r.text) == 3 and set(r.text) <= {"a", "b"}, r.text


def test_generate_with_unsupported_tokenizer_and_vocab_checks_sizes_only(tiny_model, tiny_tok):
    """FakeVocab / a tokenizer family we cannot read: the sizes decide (and here they agree)."""
    vocab = fakes.FakeVocab.from_tokenizer(tiny_tok, 150)
    c = fakes.FakeCompiled(["yes", "no"], vocab)
    r = decode.generate(tiny_model, tiny_tok, "x", c, temperature=0, max_new_tokens=8)
    assert r.finished and r.text in ("yes", "no")


# ------------------------------------------------------------------------- generate arguments


@pytest.mark.parametrize("kw,argument", [
    ({"temperature": -0.5}, "temperature"),
    ({"temperature": math.nan}, "temperature"),
    ({"top_p": 0.0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_k": -1}, "top_k"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"max_new_tokens": 2.5}, "max_new_tokens"),
    ({"frequency_penalty": math.inf}, "frequency_penalty"),
    ({"presence_penalty": math.nan}, "presence_penalty"),
])
def test_bad_sampling_arguments_fail_before_any_forward_pass(tiny_model, tiny_tok, kw, argument):
    c = fakes.FakeCompiled(["yes"], fakes.FakeVocab.from_tokenizer(tiny_tok, 150))
    for constraint in (None, c):
        with pytest.raises(decode.GenerationArgumentError, match=f"^{argument}: ") as ei:
            decode.generate(NoForward(tiny_model), tiny_tok, "x", constraint, **kw)
        assert ei.value.argument == argument


def test_logits_processor_needs_a_compiled():
    with pytest.raises(decode.GenerationArgumentError, match="expected a constrain Compiled, got dict"):
        decode.LogitsProcessor({"type": "string"})
    with pytest.raises(decode.GenerationArgumentError, match="got str"):
        decode.LogitsProcessor(["[a-z]+"])


def test_negative_penalties_are_allowed(tiny_model, tiny_tok):
    """OpenAI's and vLLM's range includes negative penalties (they favour repeats)."""
    r = decode.generate(tiny_model, tiny_tok, "x", None, temperature=0, max_new_tokens=3,
                        frequency_penalty=-0.5, presence_penalty=-0.5)
    assert len(r.token_ids) <= 3


def test_prompt_longer_than_the_context(tiny_model, tiny_tok):
    ctx = tiny_model.config.max_position_embeddings  # 512
    long_prompt = "ab " * 400
    n = len(tiny_tok(long_prompt)["input_ids"])
    assert n > ctx
    with pytest.raises(decode.GenerationArgumentError, match=f"has {n} tokens, more than the model's context of {ctx}"):
        decode.generate(NoForward(tiny_model), tiny_tok, long_prompt, None, max_new_tokens=4)
    mid = "ab " * 250  # 500 tokens: 12 positions left
    m = len(tiny_tok(mid)["input_ids"])
    assert m < ctx < m + 256
    with pytest.raises(decode.GenerationArgumentError, match=f"lower max_new_tokens to {ctx - m}"):
        decode.generate(NoForward(tiny_model), tiny_tok, mid, None, max_new_tokens=256)
    with pytest.raises(decode.GenerationArgumentError, match="prompt 1 has"):
        decode.generate(NoForward(tiny_model), tiny_tok, ["x", long_prompt], None, max_new_tokens=4)
    r = decode.generate(tiny_model, tiny_tok, mid, None, max_new_tokens=ctx - m, temperature=0)
    assert len(r.token_ids) <= ctx - m


def test_constraint_errors_in_generate(tiny_model, tiny_tok, smol_model, smollm2_tokenizer):
    with pytest.raises(SchemaError, match="got a string"):
        decode.generate(NoForward(smol_model), smollm2_tokenizer, "x", '"hello"')
    with pytest.raises(EmptyLanguageError):
        decode.generate(NoForward(smol_model), smollm2_tokenizer, "x", {"allOf": [{"type": "string"}, {"type": "null"}]})
    with pytest.raises(decode.GenerationArgumentError, match=r"constraint: .*decode\.Regex"):
        decode.generate(NoForward(smol_model), smollm2_tokenizer, "x", "[a-z]+")
    m = NoForward(tiny_model)
    with pytest.raises(decode.GenerationArgumentError, match="unsupported type float"):
        decode.generate(m, tiny_tok, "x", 3.5)
    with pytest.raises(decode.GenerationArgumentError, match="2 constraints for 1 prompts|a list of constraints"):
        decode.generate(m, tiny_tok, "x", [None, None])


def test_generation_error_is_a_constraint_error(monkeypatch, tiny_model, tiny_tok):
    """generate_object's out-of-tokens error is caught by ``except ConstraintError``."""
    from pydantic import BaseModel

    class P(BaseModel):
        name: str

    G = __import__("decode.loop", fromlist=["x"])
    vocab = fakes.FakeVocab.from_tokenizer(tiny_tok, 150)
    c = fakes.FakeCompiled(['{"name": "abc abc abc abc"}'], vocab, kind="json")
    monkeypatch.setattr(G, "get_vocabulary", lambda tokenizer, vocab_size=None: vocab)
    monkeypatch.setattr(G, "as_compiled", lambda x, v, **kw: c if x is not None and not hasattr(x, "matcher") else x)
    with pytest.raises(ConstraintError) as ei:
        decode.generate_object(tiny_model, tiny_tok, "x", P, max_new_tokens=2, temperature=0,
                               finish_within_budget=False)
    assert isinstance(ei.value, decode.GenerationError) and ei.value.partial_text
    with pytest.raises(decode.GenerationArgumentError, match="model_cls"):
        decode.generate_object(tiny_model, tiny_tok, "x", dict)



# -- bad options are ConstraintErrors too (OptionError, still a ValueError / TypeError) -------

@pytest.mark.parametrize("call", [
    lambda v: constrain.compile_json_schema({"type": "string"}, v, whitespace="tabs"),
    lambda v: constrain.compile_json_schema({"type": "string"}, v, max_whitespace=-1),
    lambda v: constrain.compile_json_schema({"type": "string"}, v, max_newlines=-2),
    lambda v: constrain.compile_json_schema({"type": "string"}, v, time_budget_s=-1.0),
    lambda v: constrain.compile_json_schema({"type": "string"}, v, max_memory_bytes=0),
    lambda v: constrain.compile_regex("a+", v, dialect="perl"),
    lambda v: constrain.compile_lark(b"start: \"a\"", v),
    lambda v: constrain.compile_lark('start: %json{"type": "integer"}', v, json_options={"indent": 2}),
], ids=["whitespace", "max_whitespace", "max_newlines", "time_budget", "memory_budget", "dialect",
        "lark-bytes", "lark-json-option"])
def test_bad_options_are_option_errors(vocab, call):
    with pytest.raises(constrain.OptionError) as e:
        call(vocab)
    assert isinstance(e.value, constrain.ConstraintError)
    assert isinstance(e.value, (ValueError, TypeError))  # what these raised before
    assert str(e.value)


def test_rollback_past_the_start_is_an_option_error(vocab):
    m = constrain.compile_regex("ab", vocab).matcher()
    assert m.advance(vocab.encode("a")[0])
    with pytest.raises(constrain.OptionError, match="cannot roll back 2 tokens"):
        m.rollback(2)
    m.rollback(1)  # the matcher is still usable
    assert m.is_allowed(vocab.encode("a")[0])


# --------------------------------------------------------------------- keyword values (meta-schema)


@pytest.mark.parametrize("schema,keyword,pointer", [
    ({"minProperties": "x"}, "minProperties", "#/minProperties"),           # was a bare int() ValueError
    ({"contains": {}, "minContains": "x"}, "minContains", "#/minContains"),
    ({"type": "array", "minItems": -1}, "minItems", "#/minItems"),           # was compiled as if absent
    ({"type": "array", "maxItems": 1.5}, "maxItems", "#/maxItems"),
    ({"type": "object", "properties": {"a b": {"maxLength": True}}}, "maxLength", "#/properties/a b/maxLength"),
    ({"type": "object", "properties": []}, "properties", "#/properties"),    # was compiled as if absent
    ({"anyOf": {"type": "string"}}, "anyOf", "#/anyOf"),
    ({"type": "array", "uniqueItems": 1}, "uniqueItems", "#/uniqueItems"),
    ({"dependentRequired": {"a/b": "c"}}, "dependentRequired", "#/dependentRequired/a~1b"),
    ({"type": "strin"}, "type", "#/type"),
    ({"type": []}, "type", "#/type"),
    # parts merged or folded before they are lowered on their own are checked too
    ({"allOf": [{"minProperties": "x"}]}, "minProperties", "#/allOf/0/minProperties"),
    ({"anyOf": [{"type": "array", "minItems": -1}, {"type": "string"}]}, "minItems", "#/anyOf/0/minItems"),
    ({"if": {"maxItems": 1.5}, "then": {}}, "maxItems", "#/if/maxItems"),
    ({"type": "string", "allOf": [{"maxLength": "9"}]}, "maxLength", "#/allOf/0/maxLength"),
])
def test_bad_keyword_value_names_keyword_and_pointer(vocab, schema, keyword, pointer):
    with pytest.raises(SchemaError) as ei:
        constrain.compile_json_schema(schema, vocab)
    assert (ei.value.keyword, ei.value.pointer) == (keyword, pointer)
    assert keyword in str(ei.value) and pointer in str(ei.value)


def test_integral_floats_are_counts(vocab):
    """``2.0`` is an integer to JSON Schema, so it is a valid count."""
    m = constrain.compile_json_schema({"type": "array", "maxItems": 2.0}, vocab).matcher()
    assert m.advance_bytes(b"[1,2") and not m.copy().advance_bytes(b",3")
