"""A grammar whose parses multiply at every byte ends in a clear error, never a hang.

Found by differential fuzzing against Lark (session 20): ``start: "a" start start |`` over
``"a" * 20`` took ~84 s in ``advance_bytes`` (three times longer per byte: the parser stacks
multiply), and ``start: "_" start start |`` never returned from its first ``mask()`` (the
crossing walk follows tokens made of long runs of underscores). A state may now hold at most
``MAX_THREADS`` parser threads; past that the step raises ``CompileBudgetError``. Below the
bound the language is unchanged.
"""

from __future__ import annotations

import pytest

from constrain import CompileBudgetError, compile_lark
from constrain.tokens.token_automaton import MAX_THREADS


@pytest.mark.parametrize("grammar, byte", [('start: "a" start start |', b"a"), ('start: "_" start start |', b"_")])
def test_exploding_ambiguity_is_a_budget_error(grammar, byte, smollm2_vocab):
    c = compile_lark(grammar, smollm2_vocab)
    m = c.matcher()
    with pytest.raises(CompileBudgetError) as e:
        for _ in range(40):
            m.mask()
            assert m.advance_bytes(byte)
    assert f"{MAX_THREADS:,} parser threads" in str(e.value)


def test_below_the_bound_the_language_is_exact(smollm2_vocab):
    """A few bytes into ``s: "a" s s | "b" |``, every verdict is Lark's."""
    import itertools

    import lark

    grammar = 'start: "a" start start | "b" |'
    parser = lark.Lark(grammar, parser="earley", lexer="dynamic_complete")
    c = compile_lark(grammar, smollm2_vocab)
    for n in range(7):
        for chars in itertools.product("ab", repeat=n):
            text = "".join(chars)
            try:
                parser.parse(text)
                want = True
            except lark.exceptions.LarkError:
                want = False
            m = c.matcher()
            assert (m.advance_bytes(text.encode()) and m.is_accepting()) == want, text
