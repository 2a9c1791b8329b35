"""Shared fixtures: the three shipped tokenizer families and their vocabularies.

Loaded once per test session (session scope) from installed packages and the local cache
(see ``constrain.tokenizers``); nothing is downloaded.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# the canonical filter's on-disk outcome store off: tests judge from scratch, whatever earlier
# processes left (test_canonical turns it on in a temporary folder to test it)
os.environ["STRUCTGEN_CANONICAL_STORE"] = "0"

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """SmolLM2-135M-Instruct (byte-level BPE, 49,152 ids)."""
    from constrain.tokenizers import load_smollm2_tokenizer

    return load_smollm2_tokenizer()


@pytest.fixture(scope="session")
def tekken_tokenizer():
    """Mistral Tekken (byte-level BPE, 131,072 ids, 1,000 control ids first)."""
    from constrain.tokenizers import load_tekken_tokenizer

    return load_tekken_tokenizer()


@pytest.fixture(scope="session")
def mistral_sp_tokenizer():
    """Mistral v3 SentencePiece (BPE with byte fallback, 32,768 ids)."""
    from constrain.tokenizers import load_mistral_sp_tokenizer

    return load_mistral_sp_tokenizer()


@pytest.fixture(scope="session")
def smollm2_vocab(smollm2_tokenizer):
    from constrain.tokens import Vocabulary

    return Vocabulary.from_hf(smollm2_tokenizer)


@pytest.fixture(scope="session")
def tekken_vocab(tekken_tokenizer):
    from constrain.tokens import Vocabulary

    return Vocabulary.from_hf(tekken_tokenizer)


@pytest.fixture(scope="session")
def mistral_sp_vocab(mistral_sp_tokenizer):
    from constrain.tokens import Vocabulary

    return Vocabulary.from_hf(mistral_sp_tokenizer)


@pytest.fixture(scope="session", params=["smollm2", "tekken", "mistral"])
def family(request):
    """Parametrizes a test over the three families: ``(name, tokenizer, vocab)``."""
    name = request.param
    fixture = {"smollm2": "smollm2", "tekken": "tekken", "mistral": "mistral_sp"}[name]
    tok = request.getfixturevalue(f"{fixture}_tokenizer")
    voc = request.getfixturevalue(f"{fixture}_vocab")
    return name, tok, voc
