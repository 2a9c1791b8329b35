"""``finish_within_budget``: let the grammar write an output's end when tokens run short.

Why: a caller asking for an instance wants a complete one.  Once the shortest completion of
the output (``Matcher.shortest_completion``, from the grammar's structure) needs nearly all
the tokens left, it is appended and the row ends (``stop_reason="budget"``): the output is
valid, its tail written by the grammar rather than sampled from the model.
"""

from __future__ import annotations

__all__ = ["close_within_budget", "finish_margin"]


def finish_margin(n_tokens: int) -> int:
    """Tokens kept in hand before finish_within_budget closes an output whose shortest
    completion is ``n_tokens`` long: one sampled token can lengthen the completion (a new
    object with required properties), and the output must still close after it."""
    return 4 + n_tokens // 4


def close_within_budget(matcher, vocab, token_ids: list, max_new_tokens: int) -> bool:
    """Append the shortest completion (to ``token_ids``, through ``matcher``, then EOS) if the
    tokens left only just cover it; True if it did."""
    left = max_new_tokens - len(token_ids)
    n_bytes = matcher.shortest_completion_length()
    if n_bytes == float("inf"):
        return False  # no completion known
    if n_bytes + finish_margin(int(n_bytes)) < left:
        return False  # a token has at least one byte: the completion fits with room to spare
    tail = matcher.shortest_completion()
    if tail is None:
        return False
    try:
        ids = vocab.encode(tail.decode("utf-8"))
    except UnicodeDecodeError:  # the output so far ends inside a character
        ids = vocab.greedy_encode(tail)
    if len(ids) + finish_margin(len(ids)) < left:
        return False
    for t in ids:
        if not matcher.advance(t):
            raise RuntimeError(f"the shortest completion {tail!r} was not accepted token by token")
    token_ids.extend(ids)
    matcher.advance(int(vocab.eos_ids[0]))
    return True
