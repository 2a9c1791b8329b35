"""Hand-made toys for the sampler tests, their exact laws, and the statistics the tests share.

Why exact enumeration: the claims under test are about distributions (the masked law, the
global target pi, E[exp(log_ml)] = Z); on a toy with a finite language every one of them can
be computed exactly by walking every token sequence with the real matcher, so a Monte Carlo
test compares against the truth, not against another sampler.
"""

from __future__ import annotations

import math

import numpy as np

from constrain import Vocabulary, compile_regex
from decode import TableLM

A, B, AB, C, EOS = 0, 1, 2, 3, 4
Z_ALPHA = 3.0902  # one-sided normal quantile for alpha = 1e-3


def toy_vocab() -> Vocabulary:
    return Vocabulary.from_token_bytes([b"a", b"b", b"ab", b"c", None], eos_ids=[EOS])


def dead_end_lm(vocab: Vocabulary) -> TableLM:
    """Outputs that start with ``a`` are likely at the root but nearly dead afterwards (the
    model wants ``c``, which the language forbids): token masking renormalises that away and
    over-weights them; pi does not.  Probabilities: a, b, ab, c, EOS."""

    def next_token(ctx):
        if not ctx:
            return [0.4, 0.2, 0.2, 0.1, 0.1]
        if ctx[0] in (A, AB):
            return [0.04, 0.04, 0.02, 0.85, 0.05]
        return [0.2, 0.2, 0.2, 0.1, 0.3]

    return TableLM(vocab, next_token)


def toy():
    """(vocab, lm, compiled, max_new_tokens): the language [ab]{1,3}, at most 3 tokens + EOS."""
    vocab = toy_vocab()
    return vocab, dead_end_lm(vocab), compile_regex("[ab]{1,3}", vocab), 4


def enumerate_laws(lm, compiled, max_new_tokens: int, prompt=()):
    """Exact laws over texts: ``(pi, Z, masked)`` where ``pi[text]`` is the globally
    renormalised constrained law, ``Z`` its normaliser, ``masked[text]`` token masking's law.

    Asserts that no sequence runs out of tokens (the toys' languages are finite and short).
    """
    pi: dict[str, float] = {}
    masked: dict[str, float] = {}
    vocab = lm.vocab

    def walk(ctx, matcher, p_seq, l_seq):
        logp = lm.logprobs([list(prompt) + ctx])[0].double().numpy()
        allowed = vocab.mask_to_ids(matcher.mask())
        p = np.exp(logp)
        z = float(p[allowed].sum())
        for t in allowed.tolist():
            if p[t] == 0:
                continue
            if t in vocab.eos_ids:
                text = vocab.decode_bytes(ctx).decode()
                pi[text] = pi.get(text, 0.0) + p_seq * p[t]
                masked[text] = masked.get(text, 0.0) + l_seq * p[t] / z
                continue
            assert len(ctx) + 1 < max_new_tokens, "the toy must end within max_new_tokens"
            m = matcher.copy()
            assert m.advance(t)
            walk(ctx + [t], m, p_seq * p[t], l_seq * p[t] / z)

    walk([], compiled.matcher(), 1.0, 1.0)
    Z = sum(pi.values())
    return {k: v / Z for k, v in pi.items()}, Z, masked


def chi2_critical(df: int, z: float = Z_ALPHA) -> float:
    """Wilson-Hilferty upper quantile of chi-square(df); the default z gives alpha = 1e-3."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def pearson(texts: list[str], law: dict[str, float]) -> tuple[float, int]:
    """Pearson chi-square of the texts' histogram against ``law`` -> (statistic, df).

    Cells with expected count < 5 are merged into one; a text outside the law's support
    makes the statistic infinite."""
    n = len(texts)
    counts: dict[str, int] = {}
    for t in texts:
        counts[t] = counts.get(t, 0) + 1
    if any(t not in law for t in counts):
        return math.inf, 1
    big = [t for t, p in law.items() if p * n >= 5]
    cells = [(counts.get(t, 0), law[t] * n) for t in big]
    small_obs = sum(counts.get(t, 0) for t in law if t not in big)
    small_exp = sum(law[t] * n for t in law if t not in big)
    if small_exp > 0:
        cells.append((small_obs, small_exp))
    stat = sum((o - e) ** 2 / e for o, e in cells)
    return stat, len(cells) - 1


def weighted_t2(estimates: list[dict[str, float]], masses: list[float], law: dict[str, float],
                min_prob: float = 0.02) -> tuple[float, int]:
    """Hotelling T^2 that independent weighted estimates are unbiased for ``Z * law``.

    Run r gives ``X_r(y)`` (its unnormalised weighted measure of y, e.g. ``exp(log_ml) *
    posterior(y)``) and ``S_r`` (its estimate of Z, ``exp(log_ml)``).  Then
    ``D_r(y) = X_r(y) - law(y) S_r`` has mean 0 exactly when the sampler is properly weighted
    for ``law``; T^2 = R d' Cov^-1 d is chi-square(K - 1) for many runs (cells with
    ``law < min_prob`` merged, one cell dropped since the D's sum to 0).  Returns (T^2, df).
    """
    big = sorted(t for t, p in law.items() if p >= min_prob)
    keys = big + ["<rest>"]
    lawv = np.array([law[t] for t in big] + [sum(p for t, p in law.items() if t not in big)])
    X = np.zeros((len(estimates), len(keys)))
    for r, est in enumerate(estimates):
        for t, v in est.items():
            X[r, keys.index(t) if t in big else -1] += v
    D = X - np.outer(masses, lawv)
    D = D[:, :-1]
    d = D.mean(axis=0)
    cov = np.cov(D, rowvar=False)
    t2 = float(len(D) * d @ np.linalg.pinv(cov) @ d)
    return t2, D.shape[1]
