"""Prompts: a string, chat messages, or a batch of those, to left-padded token ids.

Why: the loop should see one shape, ``[B, L]`` ids with an attention mask and position ids,
whatever the caller passed; and the EOS / padding ids come from two places (tokenizer and
the model's generation config) that must be read the same way everywhere.
"""

from __future__ import annotations

import torch

from .result import GenerationArgumentError

__all__ = ["encode_prompt", "eos_ids", "is_messages", "left_pad", "normalize_prompts", "pad_id"]


def is_messages(x) -> bool:
    """True for a non-empty list of chat messages (dicts)."""
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(m, dict) for m in x)


def normalize_prompts(prompt_or_messages, batch: bool | None) -> tuple[list, bool]:
    """(prompts, is_batch): one prompt or a list of prompts, each a str or chat messages."""
    p = prompt_or_messages
    if isinstance(p, str) or is_messages(p):
        if batch:
            return [p], True
        return [p], False
    if isinstance(p, (list, tuple)) and all(isinstance(x, str) or is_messages(x) for x in p):
        if not p:
            raise GenerationArgumentError("prompt_or_messages", "empty batch of prompts")
        if batch is False:
            raise GenerationArgumentError("batch", "batch=False but a list of prompts was given")
        return list(p), True
    raise GenerationArgumentError(
        "prompt_or_messages", "must be a str, a list of chat messages (dicts), or a list of those"
    )


def encode_prompt(tokenizer, p) -> list[int]:
    """Token ids of one prompt; chat messages go through the chat template (generation prompt on)."""
    if isinstance(p, str):
        ids = tokenizer(p)["input_ids"]
    else:
        text = tokenizer.apply_chat_template(list(p), add_generation_prompt=True, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise GenerationArgumentError("prompt_or_messages", "the prompt encodes to zero tokens")
    return list(ids)


def eos_ids(model, tokenizer) -> set[int]:
    """Every id that ends generation: the tokenizer's EOS and the generation config's."""
    ids: set[int] = set()
    for src in (getattr(tokenizer, "eos_token_id", None),
                getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if src is None:
            continue
        if isinstance(src, int):
            ids.add(src)
        else:
            ids.update(int(x) for x in src)
    return ids


def pad_id(model, tokenizer, eos: set[int]) -> int:
    """The padding id: the tokenizer's, the generation config's, else the smallest EOS id."""
    for cand in (getattr(tokenizer, "pad_token_id", None),
                 getattr(getattr(model, "generation_config", None), "pad_token_id", None)):
        if isinstance(cand, int):
            return cand
    return min(eos) if eos else 0


def left_pad(encoded: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, position_ids), each ``[B, L]``, prompts right-aligned.

    Left padding puts every row's next token at the same column; position ids count only the
    real tokens, so a padded row sees the same positions as it would alone.
    """
    B, L = len(encoded), max(len(e) for e in encoded)
    input_ids = torch.full((B, L), pad, dtype=torch.long)
    attn = torch.zeros((B, L), dtype=torch.long)
    for i, e in enumerate(encoded):
        input_ids[i, L - len(e):] = torch.tensor(e, dtype=torch.long)
        attn[i, L - len(e):] = 1
    position_ids = (attn.cumsum(-1) - 1).clamp_(min=0)
    return input_ids, attn, position_ids
