"""``decode.Triggered``: exactness against a brute-force oracle on small vocabularies.

The language: text without the trigger T, or x T y where the first occurrence of T ends the
prefix x T and y is in the region's language. The oracle enumerates nothing about the
compiler: it reads that definition with ``str.find`` and ``re.fullmatch``.
"""

from __future__ import annotations

import itertools
import re

import pytest

import decode
from constrain.tokens import Vocabulary
from decode.constraints import as_compiled
from decode.result import GenerationArgumentError
from tests.oracles import check_all_masks


def small_vocab(alphabet: str, extra: tuple[str, ...]) -> Vocabulary:
    toks: list[bytes | None] = [c.encode() for c in alphabet] + [e.encode() for e in extra] + [None]
    return Vocabulary.from_token_bytes(toks, eos_ids=[len(toks) - 1])


def oracle(trigger: str, region_full: str, region_prefix: str, require_trigger: bool = False):
    """(viable, complete) over bytes for Triggered(trigger, Regex(region_full));
    ``region_prefix`` is a regex matching exactly the prefixes of the region's language."""
    T = trigger.encode()

    def split(b: bytes):
        i = b.find(T)
        return None if i < 0 else b[i + len(T):]

    def complete(b: bytes) -> bool:
        rest = split(b)
        if rest is None:
            return not require_trigger
        return re.fullmatch(region_full.encode(), rest) is not None

    def viable(b: bytes) -> bool:
        rest = split(b)
        if rest is None:
            return True  # free text can always continue to the trigger (or stop)
        return re.fullmatch(region_prefix.encode(), rest) is not None

    return viable, complete


CASES = [
    # a self-overlapping trigger: "aaa" starts the region after the first "aa"
    ("aa", "b[cd]*", "(?:b[cd]*)?", "abcd", ("aa", "aaa", "ab", "ba", "da", "baa", "aab")),
    # a trigger with distinct characters and tokens straddling both of its ends
    ("<t>", "a(?:bc)*", "(?:a(?:bc)*b?)?", "<t>abc", ("<t", "t>", "<t>", "><", "t>a", "c<t", "bc", "a<")),
]


@pytest.mark.parametrize("require", [False, True])
@pytest.mark.parametrize("trigger,full,prefix,alphabet,extra", CASES)
def test_triggered_masks_equal_the_oracle(trigger, full, prefix, alphabet, extra, require):
    vocab = small_vocab(alphabet, extra)
    compiled = as_compiled(decode.Triggered(trigger, decode.Regex(full), require_trigger=require), vocab)
    viable, complete = oracle(trigger, full, prefix, require)
    # 1. every string up to length 6 over the alphabet: acceptance and viability of each
    eos = int(vocab.eos_ids[0])
    index = {tb: i for i, tb in enumerate(vocab.token_bytes) if tb is not None and len(tb) == 1}
    for n in range(7):
        for chars in itertools.product(alphabet, repeat=n):
            s = "".join(chars).encode()
            m = compiled.matcher()
            ok = True
            for k, byte in enumerate(s):
                if not m.advance(index[bytes([byte])]):
                    ok = False
                    assert not viable(s[:k + 1]), f"{s[:k + 1]!r} is viable but was refused"
                    break
            if ok:
                assert viable(s), f"{s!r} was accepted as a prefix but cannot be completed"
                assert m.is_accepting() == complete(s), s
                assert m.is_allowed(eos) == complete(s), s
    # 2. every mask bit (multi-character tokens included) along random token walks
    check_all_masks(compiled, vocab, viable, complete, n_walks=25, max_steps=10)


def test_triggered_json_region_on_a_real_vocabulary(smollm2_vocab):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
              "additionalProperties": False}
    c = as_compiled(decode.Triggered("<tool_call>", schema), smollm2_vocab, **decode.GENERATION_JSON_OPTIONS)

    def accepts(text: str) -> bool:
        m = c.matcher()
        return all(m.advance(t) for t in smollm2_vocab.encode(text)) and m.is_accepting()

    assert accepts("Just text, with <tool_ and > and tool_call>.")
    assert accepts("")
    assert accepts('Let me check.<tool_call>{"n": 3}')
    assert accepts('<tool_call>{"n": -12}')
    assert not accepts('<tool_call>{"n": "x"}')
    assert not accepts('<tool_call>{"n": 1} and more text')
    assert not accepts("<tool_call>")
    assert not accepts('<tool_call><tool_call>{"n": 1}')


def test_triggered_arguments_are_checked():
    with pytest.raises(GenerationArgumentError, match="trigger"):
        decode.Triggered("", decode.Regex("a"))
    with pytest.raises(GenerationArgumentError, match="nest"):
        decode.Triggered("x", decode.Triggered("y", decode.Regex("a")))
    with pytest.raises(GenerationArgumentError, match="%ignore"):
        decode.Triggered("x", decode.Lark('start: "a"\n%ignore " "\n'))
    with pytest.raises(GenerationArgumentError, match="unsupported type|region must be"):
        decode.Triggered("x", 42)


def test_triggered_lark_region_and_escaped_trigger():
    vocab = small_vocab("ab/\n\"", ())
    trig = '/\n"'  # a slash, a newline and a quote cannot end the grammar's literals early
    c = as_compiled(decode.Triggered(trig, decode.Lark('start: "a" start? | "b"\n')), vocab)
    index = {tb: i for i, tb in enumerate(vocab.token_bytes) if tb is not None}

    def accepts(text: str) -> bool:
        m = c.matcher()
        return all(m.advance(index[bytes([ch])]) for ch in text.encode()) and m.is_accepting()

    assert accepts("ab/")
    assert accepts('x/\n"aab'.replace("x", "a"))
    assert accepts('/\n"a') and accepts('/\n"aab')
    assert not accepts('/\n"') and not accepts('/\n"ba')
    assert not accepts('/\n"ab/\n"b')
