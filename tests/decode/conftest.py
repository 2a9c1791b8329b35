"""Fixtures the decode tests share: the tiny random model over SmolLM2's tokenizer, and the
``structgen`` CLI run in-process on it."""

import pytest

import decode.cli as cli
import decode.models as hf
from tests import fakes


@pytest.fixture(scope="module")
def smol_model(smollm2_tokenizer):
    """A tiny random-weights causal LM as wide as SmolLM2's vocabulary (seconds, no weights)."""
    tok = smollm2_tokenizer
    return fakes.make_tiny_model(49152, seed=1, eos_token_id=int(tok.eos_token_id),
                                 pad_token_id=int(tok.pad_token_id or tok.eos_token_id))


@pytest.fixture
def run(monkeypatch, capsys, smol_model, smollm2_tokenizer):
    """``structgen ARGS`` in-process with the tiny model: (exit status, stdout, stderr)."""
    monkeypatch.setattr(hf, "load_default_model", lambda progress=None: (smol_model, smollm2_tokenizer))

    def go(*args):
        rc = cli.main(list(args))
        out, err = capsys.readouterr()
        return rc, out, err

    return go


@pytest.fixture
def generate_calls(monkeypatch, tmp_path):
    """Replace ``decode.generate`` with a recorder: the CLI tests check which keyword arguments
    their flags become, without decoding. Returns (calls, path of an ``{"type": "object"}``
    schema file)."""
    import decode

    calls = []

    def fake_generate(model, tok, prompt, constraint, **kw):
        calls.append(kw)
        return decode.GenerationResult(text="{}", token_ids=[], finished=True, stop_reason="eos")

    monkeypatch.setattr(decode, "generate", fake_generate)
    schema = tmp_path / "s.json"
    schema.write_text('{"type": "object"}')
    return calls, schema
