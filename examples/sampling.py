"""Token masking vs sampling from the constrained distribution itself (SMC), side by side.

Why this example: ``decode.generate`` masks each next-token law and renormalises it, which
samples ``p(y) / prod_t Z_t`` rather than the law one usually means, the model's law restricted
to the constraint, ``pi(y) = p(y) 1[y in L] / Z``.  The two differ wherever the legal mass
``Z_t`` differs between prefixes: a prefix after which the model wants something the
constraint forbids is renormalised back up by masking.  SMC (``sampler="smc"``) weights every
particle and targets ``pi``; ASAp (``decode.GrammarAligned``, ``decode.sample(method="asap")``)
learns from draw to draw where the language's mass is, and its draws converge to ``pi``.

    python examples/sampling.py --no-model    # a hand-made 5-token LM: exact laws, in seconds
    python examples/sampling.py               # SmolLM2-135M-Instruct on a yes/no/maybe grammar

Both modes print, per output: ``pi`` (exact, by enumerating every token sequence the
constraint allows), token masking's exact law, the frequencies of masked samples, the
pooled weighted posterior of SMC runs, and the frequencies of ASAp's later draws (the second
half of one run: its first draws are still learning).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import decode  # noqa: E402
from constrain import Vocabulary, compile_regex  # noqa: E402


def exact_laws(lm, compiled, prompt, max_new_tokens):
    """(pi, masked): exact laws over texts, by walking every sequence the constraint allows.

    Sequences longer than ``max_new_tokens`` are left out of both (the samplers below give
    them weight 0 too); fine for the small languages of this example."""
    vocab = lm.vocab
    pi, masked = {}, {}

    def walk(ctx, matcher, p_seq, l_seq):
        p = np.exp(lm.logprobs([list(prompt) + ctx])[0].double().cpu().numpy())
        allowed = vocab.mask_to_ids(matcher.mask())
        z = float(p[allowed].sum())
        for t in allowed.tolist():
            if p[t] == 0:
                continue
            if t in vocab.eos_ids:
                text = vocab.decode_bytes(ctx).decode("utf-8", errors="replace")
                pi[text] = pi.get(text, 0.0) + p_seq * p[t]
                masked[text] = masked.get(text, 0.0) + l_seq * p[t] / z
            elif len(ctx) + 1 < max_new_tokens:
                m = matcher.copy()
                m.advance(t)
                walk(ctx + [t], m, p_seq * p[t], l_seq * p[t] / z)

    walk([], compiled.matcher(), 1.0, 1.0)
    total = sum(pi.values())
    return {k: v / total for k, v in pi.items()}, masked


def pooled_posterior(runs):
    """Runs' posteriors averaged with weights exp(log_ml) (each run's estimate of Z): the
    consistent way to pool independent SMC runs."""
    lml = np.array([s.log_ml for s in runs])
    w = np.exp(lml - lml.max())
    out = {}
    for s, wi in zip(runs, w / w.sum()):
        for text, p in s.posterior().items():
            out[text] = out.get(text, 0.0) + wi * p
    return out


def table(pi, masked, masked_freq, smc, asap):
    texts = sorted(pi, key=lambda t: -pi[t])
    print(f"{'output':<12}{'pi (exact)':>12}{'masked law':>12}{'masked freq':>13}{'SMC posterior':>15}"
          f"{'ASAp freq':>11}")
    for t in texts:
        print(f"{t!r:<12}{pi[t]:>12.3f}{masked.get(t, 0):>12.3f}{masked_freq.get(t, 0):>13.3f}"
              f"{smc.get(t, 0):>15.3f}{asap.get(t, 0):>11.3f}")
    tv = lambda q: 0.5 * sum(abs(pi.get(t, 0) - q.get(t, 0)) for t in set(pi) | set(q))  # noqa: E731
    print(f"total variation from pi: masked law {tv(masked):.3f}, masked samples {tv(masked_freq):.3f}, "
          f"SMC {tv(smc):.3f}, ASAp {tv(asap):.3f}")


def frequencies(texts):
    out = {}
    for t in texts:
        out[t] = out.get(t, 0) + 1 / len(texts)
    return out


def toy(seed: int) -> None:
    """A 5-token LM where outputs starting with ``a`` are likely at first but nearly dead
    afterwards (the model then wants ``c``, which ``[ab]{1,3}`` forbids)."""
    vocab = Vocabulary.from_token_bytes([b"a", b"b", b"ab", b"c", None], eos_ids=[4])

    def next_token(ctx):  # probabilities of a, b, ab, c, EOS after ctx
        if not ctx:
            return [0.4, 0.2, 0.2, 0.1, 0.1]
        if ctx[0] in (0, 2):  # started with a / ab
            return [0.04, 0.04, 0.02, 0.85, 0.05]
        return [0.2, 0.2, 0.2, 0.1, 0.3]

    lm = decode.TableLM(vocab, next_token)
    compiled = compile_regex("[ab]{1,3}", vocab)
    N = 4  # at most 3 tokens + EOS: the language is finite and fits
    pi, masked = exact_laws(lm, compiled, [], N)
    ms = decode.sample(lm, [], compiled, method="masked", n=4000, max_new_tokens=N, seed=seed)
    runs = [decode.sample(lm, [], compiled, method="smc", n=8, max_new_tokens=N, seed=seed * 1000 + r)
            for r in range(300)]
    asap = decode.sample(lm, [], compiled, method="asap", n=4000, max_new_tokens=N, seed=seed)
    print("toy LM, constraint [ab]{1,3}; 4000 masked samples, 300 SMC runs x 8 particles, "
          "4000 ASAp draws (frequencies of the last 2000)\n")
    table(pi, masked, frequencies(ms.texts), pooled_posterior(runs), frequencies(asap.texts[2000:]))


def with_model(seed: int) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model, tokenizer = decode.load_default_model(progress=None)
    grammar = decode.Lark('start: "yes" | "no" | "maybe"')
    prompt = [{"role": "user", "content": "Is a tomato a vegetable? Answer yes, no or maybe."}]
    N = 8
    r = decode.generate(model, tokenizer, prompt, grammar, sampler="smc", particles=8, seed=seed,
                        max_new_tokens=N)
    print(f"generate(sampler='smc', particles=8) -> {r.text!r}; particles: "
          f"{dict(sorted(r.samples.posterior().items()))}\n")
    # the exact laws over the same prompt ids, constraint and vocabulary as generate's
    from decode.constraints import as_compiled, generation_json_options, get_vocabulary
    from decode.lm import logits_width
    from decode.prompts import encode_prompt

    vocab = get_vocabulary(tokenizer, logits_width(model))
    compiled = as_compiled(grammar, vocab, **generation_json_options(None))
    lm = decode.HFTokenLM(model, tokenizer, vocab=vocab)
    ids = encode_prompt(tokenizer, prompt)
    pi, masked = exact_laws(lm, compiled, ids, N)
    ms = decode.sample(lm, ids, compiled, method="masked", n=400, max_new_tokens=N, seed=seed)
    # the exact-mask proposal: with precomputed masks the exact legal mass Z_t is one masked
    # reduction, so the weights carry no estimator noise (AWRS's unbiased estimates need more
    # runs for the same precision on a pooled posterior)
    runs = [decode.sample(lm, ids, compiled, method="smc", n=8, max_new_tokens=N, seed=seed * 1000 + k,
                          proposal="masked") for k in range(50)]
    asap = decode.sample(lm, ids, compiled, method="asap", n=400, max_new_tokens=N, seed=seed)
    print("SmolLM2-135M-Instruct, grammar yes|no|maybe; 400 masked samples, "
          "50 SMC runs x 8 particles (exact-mask proposal), 400 ASAp draws (frequencies of the last 200)\n")
    table(pi, masked, frequencies(ms.texts), pooled_posterior(runs), frequencies(asap.texts[200:]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-model", action="store_true", help="the hand-made toy LM (no model, seconds)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    toy(args.seed) if args.no_model else with_model(args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
