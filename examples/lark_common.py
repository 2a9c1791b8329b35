"""Shared code of the ``examples/lark_*.py`` scripts: compile a Lark grammar, generate, check.

Each example runs SmolLM2-135M-Instruct (greedy, so the output is the same on every run) under
a Lark grammar compiled with :func:`constrain.compile_lark`, then parses the output with
the ``lark`` package itself to show that it is in the grammar's language. ``--no-model`` skips
the model: tokens are drawn at random among those the mask allows (a quick look at the masks
with the real SmolLM2 tokenizer, no model download or conversion).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from constrain import compile_lark, grammars  # noqa: E402


def lark_parses(text: str, grammar: str, start: str = "start") -> bool:
    """Does the ``lark`` package parse ``text``? (Earley, dynamic_complete lexer)."""
    from lark import Lark
    from lark.exceptions import LarkError

    parser = Lark(grammar, parser="earley", lexer="dynamic_complete", start=start,
                  import_paths=[grammars.directory()])
    try:
        parser.parse(text)
        return True
    except LarkError:
        return False


def random_walk(compiled, seed: int = 0, max_tokens: int = 48, p_stop: float = 0.35) -> str:
    """Tokens drawn uniformly among the allowed ones (EOS taken with probability ``p_stop``)."""
    rng = random.Random(seed)
    vocab = compiled.vocab
    m = compiled.matcher()
    eos = set(int(i) for i in vocab.eos_ids)
    out = b""
    for _ in range(max_tokens):
        allowed = vocab.mask_to_ids(m.mask()).tolist()
        ends = [t for t in allowed if t in eos]
        text_ids = [t for t in allowed if t not in eos]
        if ends and (not text_ids or rng.random() < p_stop):
            break
        t = rng.choice(text_ids)
        assert m.advance(t)
        out += vocab.token_bytes[t]
    return out.decode("utf-8", "replace") + ("" if m.is_accepting() else "  [unfinished]")


class Env:
    """The vocabulary, and the model unless ``--no-model``."""

    def __init__(self, no_model: bool):
        self.model = self.tok = None
        if no_model:
            from constrain.tokenizers import load_smollm2_tokenizer
            from constrain.tokens import Vocabulary

            self.vocab = Vocabulary.from_hf(load_smollm2_tokenizer())
        else:
            import decode
            from decode.constraints import get_vocabulary
            from decode.lm import logits_width

            self.model, self.tok = decode.load_default_model()
            self.vocab = get_vocabulary(self.tok, logits_width(self.model))


def parse_args(title: str, argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=title)
    ap.add_argument("--no-model", action="store_true",
                    help="random walks under the mask with the SmolLM2 tokenizer instead of the model")
    return ap.parse_args(argv)


def run(env: Env, title: str, grammar: str, messages: list[dict], *, check=None, max_new_tokens: int = 96,
        start: str = "start", **compile_kw) -> bool:
    """Compile ``grammar``, generate (or random-walk), and check complete outputs with ``check``."""
    print(f"== {title}")
    t0 = time.perf_counter()
    compiled = compile_lark(grammar, env.vocab, start=start, **compile_kw)
    print(f"compiled in {(time.perf_counter() - t0) * 1e3:.0f} ms: {compiled}")
    check = check or (lambda text: lark_parses(text, grammar, start))
    if env.model is None:
        ok = True
        for seed in range(3):
            text = random_walk(compiled, seed)
            done = not text.endswith("[unfinished]")
            valid = check(text) if done else None
            ok = ok and valid is not False
            print(f"random walk {seed}: {text!r}  valid: {valid}")
        return ok
    import decode

    res = decode.generate(env.model, env.tok, messages, compiled, temperature=0.0, max_new_tokens=max_new_tokens)
    print(f"prompt: {messages[-1]['content']}")
    print(f"output:\n{res.text}")
    valid = check(res.text) if res.finished else None
    print(f"\n{len(res.token_ids)} tokens, stop: {res.stop_reason}; valid: {valid}\n")
    return valid is not False


def main(title: str, grammar: str, messages: list[dict], *, argv=None, **kw) -> int:
    """One grammar, checked with the ``lark`` package."""
    env = Env(parse_args(title, argv).no_model)
    return 0 if run(env, title, grammar, messages, **kw) else 1
