"""Constrain ``transformers``' own ``model.generate`` with ``decode.LogitsProcessor``.

For code that already uses ``generate`` (streamers, stopping criteria, ...): compile the
constraint once against the model's vocabulary, then pass the processor.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from transformers import LogitsProcessorList  # noqa: E402

import constrain  # noqa: E402
import decode  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"enum": ["positive", "negative", "neutral"]},
        "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    "required": ["sentiment", "confidence"],
    "additionalProperties": False,
}


def main() -> int:
    model, tok = decode.load_default_model()
    vocab = constrain.Vocabulary.from_hf(tok, vocab_size=model.config.vocab_size)
    compiled = constrain.compile_json_schema(SCHEMA, vocab)

    messages = [{"role": "user", "content": "Classify the sentiment of: 'I loved this film, the cast "
                                            "was wonderful.' Reply with JSON: "
                                            '{"sentiment": ..., "confidence": 0-100}'}]
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)

    processor = decode.LogitsProcessor(compiled, eos_token_id=tok.eos_token_id)
    out = model.generate(
        **enc,
        logits_processor=LogitsProcessorList([processor]),
        do_sample=False,            # greedy; for sampling use do_sample=True, top_k=0
        max_new_tokens=64,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    new_tokens = out[0, enc["input_ids"].shape[1]:].tolist()
    answer = tok.decode(new_tokens, skip_special_tokens=True)
    print(answer)
    if new_tokens[-1] != tok.eos_token_id:
        print("(incomplete: max_new_tokens ran out before the JSON closed)")
        return 1
    print("parsed:", json.loads(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
