"""Hand-made stand-ins for the constrain core and a real model, for decoding-loop tests.

Why: the generation loop, the HF LogitsProcessor and the kernels must be testable without
the grammar compiler or a downloaded model.  ``FakeCompiled``/``FakeMatcher`` implement exactly
the ``constrain`` Matcher API over a finite language (a set of byte strings, prefix checks
over bytes); ``make_tiny_tokenizer``/``make_tiny_model`` give a real ``transformers``
tokenizer and a random-weight Llama small enough to run in milliseconds.
"""

from __future__ import annotations

import numpy as np
import torch

PAD, EOS, BOS = "<pad>", "<eos>", "<bos>"
SPECIALS = [PAD, EOS, BOS]

# Multi-character tokens (every prefix is added too, so BPE merges can build them).
_WORDS = [
    '{"', '":', '",', '"}', "yes", "yesterday", "no", "nope", "maybe", "true", "false",
    "null", "name", "age", "the", "abc", ", ", "},", "123",
]

CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def tiny_vocab_tokens() -> list[str]:
    """Token strings in id order: specials, single printable ASCII chars + newline, words."""
    toks: list[str] = list(SPECIALS)
    toks += [chr(c) for c in range(32, 127)] + ["\n"]
    seen = set(toks)
    for w in _WORDS:
        for k in range(2, len(w) + 1):
            if w[:k] not in seen:
                seen.add(w[:k])
                toks.append(w[:k])
    return toks


def make_tiny_tokenizer():
    """A real ``PreTrainedTokenizerFast`` (BPE over characters) with a chat template."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    toks = tiny_vocab_tokens()
    vocab = {t: i for i, t in enumerate(toks)}
    merges = []
    for t in toks[len(SPECIALS):]:
        if len(t) >= 2:
            merges.append((t[:-1], t[-1]))
    bpe = models.BPE(vocab=vocab, merges=merges, unk_token=None)
    tk = Tokenizer(bpe)
    tk.add_special_tokens(SPECIALS)
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, eos_token=EOS, pad_token=PAD, bos_token=BOS,
        clean_up_tokenization_spaces=False,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


class FakeVocab:
    """Minimal Vocabulary: ``size`` (logits width), ``n_words``, ``token_bytes``, ``eos_ids``."""

    def __init__(self, token_bytes: list[bytes | None], eos_ids, size: int | None = None):
        size = len(token_bytes) if size is None else size
        if size < len(token_bytes):
            raise ValueError("size smaller than the token table")
        self.token_bytes = list(token_bytes) + [None] * (size - len(token_bytes))
        self.eos_ids = np.asarray(sorted(eos_ids), dtype=np.int64)
        self.size = size
        self.n_words = (size + 31) // 32

    @classmethod
    def from_tokenizer(cls, tokenizer, vocab_size: int | None = None) -> "FakeVocab":
        n = len(tokenizer)
        tb: list[bytes | None] = [None] * n
        specials = set(tokenizer.all_special_ids)
        for i in range(n):
            if i not in specials:
                tb[i] = tokenizer.convert_ids_to_tokens(i).encode()
        return cls(tb, [tokenizer.eos_token_id], size=vocab_size or n)


def _set_bit(mask: np.ndarray, t: int) -> None:
    mask[t >> 5] |= np.int32(np.uint32(1 << (t & 31)).view(np.int32))


class FakeCompiled:
    """Compiled constraint whose language is a finite set of strings.

    ``kind="json"`` makes ``decode.generate`` parse the output with ``json.loads``.
    """

    def __init__(self, strings, vocab: FakeVocab, kind: str | None = None):
        self.strings = frozenset(s.encode() if isinstance(s, str) else bytes(s) for s in strings)
        if not self.strings:
            raise ValueError("empty language")
        self.vocab = vocab
        self.kind = kind
        self._prefixes = frozenset(s[:k] for s in self.strings for k in range(len(s) + 1))

    def matcher(self) -> "FakeMatcher":
        return FakeMatcher(self)


class FakeMatcher:
    """The Matcher API (mask/fill_mask/advance/rollback/copy/is_accepting/is_finished/forced_bytes)."""

    def __init__(self, compiled: FakeCompiled):
        self.compiled = compiled
        self.vocab = compiled.vocab
        self._tokens: list[int] = []  # consumed token ids (EOS included)
        self._prefix = b""
        self._finished = False
        self.n_advance = 0  # instrumentation for tests

    # --- queries -----------------------------------------------------------------------------
    def is_accepting(self) -> bool:
        return self._prefix in self.compiled.strings

    def is_finished(self) -> bool:
        return self._finished

    def _allowed(self, t: int) -> bool:
        if self._finished or t < 0 or t >= self.vocab.size:
            return False
        if t in self.vocab.eos_ids:
            return self.is_accepting()
        tb = self.vocab.token_bytes[t]
        if not tb:
            return False
        return (self._prefix + tb) in self.compiled._prefixes

    def mask(self) -> np.ndarray:
        m = np.zeros(self.vocab.n_words, dtype=np.int32)
        for t in range(self.vocab.size):
            if self._allowed(t):
                _set_bit(m, t)
        return m

    def fill_mask(self, out, row: int = 0) -> None:
        m = self.mask()
        if isinstance(out, torch.Tensor):
            out[row, : m.shape[0]] = torch.from_numpy(m).to(out.device)
        else:
            out[row, : m.shape[0]] = m

    def forced_bytes(self) -> bytes:
        if self._finished:
            return b""
        ext = [s for s in self.compiled.strings if s.startswith(self._prefix)]
        lcp = ext[0]
        for s in ext[1:]:
            k = 0
            while k < min(len(lcp), len(s)) and lcp[k] == s[k]:
                k += 1
            lcp = lcp[:k]
        return lcp[len(self._prefix):]

    def shortest_completion(self) -> bytes | None:
        """The shortest bytes that complete the output (None: none, or finished)."""
        ext = [s[len(self._prefix):] for s in self.compiled.strings if s.startswith(self._prefix)]
        return None if self._finished or not ext else min(ext, key=lambda t: (len(t), t))

    def shortest_completion_length(self) -> float:
        tail = self.shortest_completion()
        return float("inf") if tail is None else len(tail)

    # --- updates -----------------------------------------------------------------------------
    def advance(self, token_id: int) -> bool:
        token_id = int(token_id)
        self.n_advance += 1
        if not self._allowed(token_id):
            return False
        self._tokens.append(token_id)
        if token_id in self.vocab.eos_ids:
            self._finished = True
        else:
            self._prefix += self.vocab.token_bytes[token_id]
        return True

    def rollback(self, n: int) -> None:
        if n < 0 or n > len(self._tokens):
            raise ValueError(f"cannot roll back {n} of {len(self._tokens)} tokens")
        for _ in range(n):
            t = self._tokens.pop()
            if t in self.vocab.eos_ids:
                self._finished = False
            else:
                self._prefix = self._prefix[: len(self._prefix) - len(self.vocab.token_bytes[t])]

    def copy(self) -> "FakeMatcher":
        m = FakeMatcher.__new__(FakeMatcher)
        m.compiled, m.vocab = self.compiled, self.vocab
        m._tokens, m._prefix, m._finished = list(self._tokens), self._prefix, self._finished
        m.n_advance = 0
        return m


def make_tiny_model(vocab_size: int, seed: int = 0, *, eos_token_id: int = 1, pad_token_id: int = 0):
    """Random-weight 2-layer Llama (hidden 64): fast on CPU, real KV cache and attention masks.

    Output-layer weights are scaled up so the next-token distribution is peaked enough that
    greedy/sampled outputs differ between prompts.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        eos_token_id=eos_token_id, pad_token_id=pad_token_id, bos_token_id=None,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        model.lm_head.weight.mul_(8.0)
    model.generation_config.eos_token_id = eos_token_id
    model.generation_config.pad_token_id = pad_token_id
    model.generation_config.bos_token_id = None
    return model.eval()
