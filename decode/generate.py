"""Constrained generation loop over a Hugging Face causal LM.

Why our own loop instead of ``model.generate``: the matcher must see every sampled token
before the next mask is built, masks for a batch are filled into one pinned buffer and
applied with a single fused mask+sample kernel, and the loop can stop as soon as the grammar
leaves EOS as the only continuation (saving a forward pass).  ``decode.hf.LogitsProcessor``
is the drop-in alternative for code that already uses ``model.generate``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from constrain.cache import register as _register_cache
from constrain.errors import ConstraintError, SchemaError, VocabularyError
from constrain.vocab import Vocabulary, require_eos

from .kernels import masked_sample

__all__ = [
    "Regex",
    "Lark",
    "GenerationResult",
    "GenerationError",
    "GenerationArgumentError",
    "GENERATION_JSON_OPTIONS",
    "check_vocabulary",
    "as_compiled",
    "constraint_kind",
    "generate",
    "generate_object",
    "get_vocabulary",
    "logits_width",
]


# --------------------------------------------------------------------------------------------
# Constraint wrappers and coercion
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Regex:
    """A regular-expression constraint (full match over the output text)."""

    pattern: str


@dataclass(frozen=True)
class Lark:
    """A Lark grammar constraint: grammar text and its start rule."""

    text: str
    start: str = "start"


def lark_compiler():
    """``constrain``'s Lark compiler, or None while it is not there."""
    import constrain

    fn = getattr(constrain, "compile_lark", None)
    if fn is None:
        try:
            from constrain.lark import compile_lark as fn
        except ImportError:
            return None
    return fn


class GenerationError(ConstraintError, RuntimeError):
    """Generation could not produce a complete, valid output.

    ``partial_text`` holds what was generated (e.g. when max_new_tokens ran out), ``result``
    the whole :class:`GenerationResult`.
    """

    def __init__(self, message: str, partial_text: str = "", result: "GenerationResult | None" = None):
        super().__init__(message)
        self.partial_text = partial_text
        self.result = result


class GenerationArgumentError(ConstraintError, ValueError, TypeError):
    """An argument of ``generate`` is wrong: a sampling parameter out of range, a prompt longer
    than the model's context, a constraint of an unsupported type, mismatched batch lists.

    Raised before any forward pass. ``argument`` names the parameter. Also a ``ValueError``
    and a ``TypeError``, so code written against the builtin exceptions keeps working.
    """

    def __init__(self, argument: str, message: str):
        self.argument = argument
        super().__init__(f"{argument}: {message}")


@dataclass
class GenerationResult:
    """One generated output.

    ``token_ids`` excludes EOS; ``value`` is ``json.loads(text)`` for JSON constraints (None
    otherwise or if the text is incomplete); ``finished`` is False when max_new_tokens ran out.
    ``stop_reason`` is one of "eos" (EOS sampled), "grammar_complete" (nothing but EOS
    allowed), "budget" (``finish_within_budget`` appended the shortest completion), "stop" (a
    stop string; the text is cut before it) or "max_new_tokens" (then ``finished`` is False).
    """

    text: str
    token_ids: list[int]
    value: Any = None
    timings: dict = field(default_factory=dict)
    finished: bool = False
    stop_reason: str = ""


def _is_compiled(obj) -> bool:
    return hasattr(obj, "matcher") and hasattr(obj, "vocab") and callable(obj.matcher)


def _is_pydantic_class(obj) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def constraint_kind(constraint) -> str | None:
    """"json", "regex", "lark", "compiled" or None (unconstrained); TypeError if unsupported."""
    if constraint is None:
        return None
    if _is_compiled(constraint):
        kind = getattr(constraint, "kind", None)
        if kind in ("json", "json_schema"):
            return "json"
        return kind if kind in ("regex", "lark") else "compiled"
    if isinstance(constraint, Regex):
        return "regex"
    if isinstance(constraint, Lark):
        return "lark"
    if isinstance(constraint, (dict, bool, str)) or _is_pydantic_class(constraint):
        return "json"
    raise GenerationArgumentError(
        "constraint", f"unsupported type {type(constraint).__name__}: expected a Compiled, a JSON "
        "schema (dict or JSON string), a Pydantic model class, decode.Regex, decode.Lark or None"
    )


def _schema_of(constraint) -> dict | bool:
    if isinstance(constraint, str):
        from constrain.json_schema import normalize_schema_input

        try:
            json.loads(constraint)
        except json.JSONDecodeError as e:
            raise GenerationArgumentError(
                "constraint", "a str constraint must be a JSON schema; wrap regular expressions in "
                f"decode.Regex(...) ({e})") from None
        return normalize_schema_input(constraint)  # SchemaError for JSON that is no schema
    if _is_pydantic_class(constraint):
        return constraint.model_json_schema()
    return constraint


#: ``compile_json_schema`` options used when ``generate`` / ``generate_object`` / the CLI compile
#: a JSON schema themselves.  Each narrows the schema's language (every output still validates)
#: towards what a model writes when it finishes well:
#:
#: - ``strict``: no undeclared properties (small models otherwise echo the schema back,
#:   ``{"properties": {...}}``, and never finish);
#: - ``canonical_literals``: property names and ``enum``/``const`` strings only in their plain
#:   spelling (``"name"``, never ``"\u006eame"``: a model that starts escaping keys rarely stops);
#: - ``canonical_strings``: every string value too, free or constrained, is spelled as
#:   ``json.dumps`` writes it: escapes only where JSON needs one (a datetime cannot come out as
#:   ``"2024\u002d01..."``); also applied to ``%json{...}`` blocks of ``Lark`` constraints;
#: - ``trailing_whitespace=False``: the output ends with the root value (EOS or the grammar
#:   stopping), instead of the model padding it with newlines;
#: - ``max_newlines=1`` with ``max_whitespace=16``: pretty-printed output stays possible (one
#:   line break plus indentation per run), blank-line runs do not.
#:
#: Compare: Outlines allows ``[ ]?`` between tokens, llguidance defaults to flexible whitespace
#: unless ``whitespace_flexible`` is off, XGrammar ``any_whitespace`` with ``max_whitespace_cnt``.
#: Pass ``json_options=`` to override entries (e.g. ``{"strict": False}``), or a ``Compiled`` for
#: full control; ``constrain.compile_json_schema``'s own defaults accept every JSON spelling.
GENERATION_JSON_OPTIONS: dict = {
    "strict": True,
    "canonical_literals": True,
    "canonical_strings": True,
    "trailing_whitespace": False,
    "whitespace": "flexible",
    "max_whitespace": 16,
    "max_newlines": 1,
}


def generation_json_options(json_options: dict | None = None) -> dict:
    """``GENERATION_JSON_OPTIONS`` with the entries of ``json_options`` replacing its own."""
    opts = dict(GENERATION_JSON_OPTIONS)
    if json_options:
        opts.update(json_options)
    return opts


def finish_margin(n_tokens: int) -> int:
    """Tokens kept in hand before finish_within_budget closes an output whose shortest
    completion is ``n_tokens`` long: one sampled token can lengthen the completion (a new
    object with required properties), and the output must still close after it."""
    return 4 + n_tokens // 4

_CACHE_SIZE = 64
_compiled_cache: "OrderedDict[tuple, tuple[Any, Any]]" = OrderedDict()
_cache_lock = threading.Lock()


def _clear_compiled_cache() -> None:
    with _cache_lock:
        _compiled_cache.clear()


# the compiled constraints (and through them their vocabularies) go with constrain.clear_caches()
_register_cache("decode.compiled_constraints", _clear_compiled_cache, lambda: len(_compiled_cache))


def _cached_compile(vocab, key: tuple, build):
    full_key = (id(vocab),) + key
    with _cache_lock:
        hit = _compiled_cache.get(full_key)
        if hit is not None and hit[0] is vocab:
            _compiled_cache.move_to_end(full_key)
            return hit[1]
    compiled = build()
    with _cache_lock:
        _compiled_cache[full_key] = (vocab, compiled)
        _compiled_cache.move_to_end(full_key)
        while len(_compiled_cache) > _CACHE_SIZE:
            _compiled_cache.popitem(last=False)
    return compiled


def as_compiled(constraint, vocab, **json_options):
    """Coerce any supported constraint to a ``constrain`` Compiled for ``vocab`` (None stays None).

    Accepts a Compiled (returned as is), a JSON schema (dict/bool or JSON text), a Pydantic
    model class, ``Regex`` or ``Lark``.  ``json_options`` (strict=, whitespace=, ...) go to
    ``compile_json_schema`` (none given: its own, spec-exact defaults; ``generate`` passes
    ``GENERATION_JSON_OPTIONS``).  Compilations are cached per (vocab, constraint, options) in a
    small LRU because compiling a schema costs far more than a decoding step.
    """
    kind = constraint_kind(constraint)
    if kind is None:
        return None
    if _is_compiled(constraint):
        return constraint
    import constrain

    if kind == "json":
        schema = _schema_of(constraint)
        key = ("json", json.dumps(schema, sort_keys=True, separators=(",", ":")),
               tuple(sorted(json_options.items())))
        return _cached_compile(vocab, key, lambda: constrain.compile_json_schema(schema, vocab, **json_options))
    if kind == "regex":
        return _cached_compile(vocab, ("regex", constraint.pattern),
                               lambda: constrain.compile_regex(constraint.pattern, vocab))
    if kind == "lark":
        compile_lark = lark_compiler()
        if compile_lark is None:
            raise NotImplementedError("constrain.compile_lark is not available yet")
        kw = {} if constraint.start == "start" else {"start": constraint.start}
        from constrain.lark import JSON_BLOCK_OPTIONS

        block = {k: v for k, v in json_options.items() if k in JSON_BLOCK_OPTIONS}  # for %json{...}
        if block:
            kw["json_options"] = block
        return _cached_compile(vocab, ("lark", constraint.text, constraint.start, tuple(sorted(block.items()))),
                               lambda: compile_lark(constraint.text, vocab, **kw))
    raise AssertionError(kind)


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

def logits_width(model) -> int:
    """Number of logits the model produces (may exceed the tokenizer's size)."""
    n = getattr(getattr(model, "config", None), "vocab_size", None)
    if n:
        return int(n)
    emb = model.get_output_embeddings()
    return int(emb.weight.shape[0])


def get_vocabulary(tokenizer, vocab_size: int | None = None):
    """``constrain.Vocabulary.from_hf`` (itself cached per tokenizer object and vocab_size)."""
    from constrain.vocab import Vocabulary

    return Vocabulary.from_hf(tokenizer, vocab_size=vocab_size)


def check_vocabulary(vocab, *, width: int, tokenizer=None, where: str = "constraint") -> None:
    """:class:`VocabularyError` unless a constraint's vocabulary fits the model and tokenizer.

    A ``Compiled`` built for another model's vocabulary does not fail by itself: its masks
    allow ids that spell other text, and the output comes out as garbage marked finished. So:
    the vocabulary needs an EOS id; it may not have more ids than the model has logits
    (``width``); with the ``tokenizer`` at hand, it must cover the tokenizer's ids and every id
    both spell must spell the same bytes (the fingerprint first: equal for a vocabulary built
    from this tokenizer, so the common case costs a string compare). Without a tokenizer
    (``LogitsProcessor``), a model with many more logits than the vocabulary has ids (past
    the usual padding to a multiple of 1024) is taken as another model.
    """
    require_eos(vocab, where)
    size = int(vocab.size)
    hint = f"compile it for Vocabulary.from_hf(tokenizer, vocab_size={width}) of this model's tokenizer"
    if size > width:
        raise VocabularyError(f"{where}: compiled for a vocabulary of {size} ids, but the model has only "
                              f"{width} logits: it was compiled for another model; {hint}")
    if tokenizer is None:
        if width > -(-size // 1024) * 1024:
            raise VocabularyError(f"{where}: compiled for a vocabulary of {size} ids, but the model has "
                                  f"{width} logits: it looks compiled for another model; {hint}")
        return
    n_tok = _tokenizer_len(tokenizer)
    if n_tok is not None and size < n_tok:
        raise VocabularyError(f"{where}: compiled for a vocabulary of {size} ids, but the tokenizer has "
                              f"{n_tok}: it was compiled for another tokenizer; {hint}")
    if not isinstance(vocab, Vocabulary) or getattr(vocab, "tokenizer", None) is tokenizer:
        return
    try:
        ref = Vocabulary.from_hf(tokenizer, vocab_size=size)
    except (ValueError, ConstraintError):  # a tokenizer family we cannot read: sizes were checked
        return
    if ref.fingerprint == vocab.fingerprint:
        return
    t = _first_token_mismatch(vocab, ref)
    if t is not None:
        raise VocabularyError(
            f"{where}: compiled for another tokenizer: token {t} is {vocab.token_bytes[t]!r} in its "
            f"vocabulary but {ref.token_bytes[t]!r} for this tokenizer ({type(tokenizer).__name__}); {hint}")


def _first_token_mismatch(a: Vocabulary, b: Vocabulary) -> int | None:
    """The first id that spells text in both vocabularies, differently (None: they agree)."""
    n = min(a.size, b.size)
    la, lb = a.token_lens[:n], b.token_lens[:n]
    both = (la > 0) & (lb > 0)
    k = min(a.padded_bytes.shape[1], b.padded_bytes.shape[1])
    differ = both & ((la != lb) | (a.padded_bytes[:n, :k] != b.padded_bytes[:n, :k]).any(axis=1))
    nz = np.flatnonzero(differ)
    return int(nz[0]) if nz.size else None


def check_sampling(*, max_new_tokens, temperature, top_p, top_k, frequency_penalty, presence_penalty) -> None:
    """:class:`GenerationArgumentError` for sampling parameters outside their meaning."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 1:
        raise GenerationArgumentError("max_new_tokens", f"must be an integer >= 1, got {max_new_tokens!r}")
    if _finite(temperature) is None or temperature < 0:
        raise GenerationArgumentError("temperature", f"must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_p is not None and not (_finite(top_p) is not None and 0 < top_p <= 1):
        raise GenerationArgumentError("top_p", f"must be in (0, 1] (None or 1 = off), got {top_p!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0):
        raise GenerationArgumentError("top_k", f"must be an integer >= 0 (None or 0 = off), got {top_k!r}")
    for name, v in (("frequency_penalty", frequency_penalty), ("presence_penalty", presence_penalty)):
        if _finite(v) is None:
            raise GenerationArgumentError(name, f"must be a finite number (negative favours repeats), got {v!r}")


def _finite(v) -> float | None:
    """``v`` as a float if it is a finite number, else None."""
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def check_context(model, n_prompt: int, max_new_tokens: int, row: int | None = None) -> None:
    """:class:`GenerationArgumentError` if the prompt plus ``max_new_tokens`` exceeds the model's
    context (``config.max_position_embeddings``): positions past it are garbage or an index error."""
    ctx = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(ctx, int) or n_prompt + max_new_tokens <= ctx:
        return
    which = "the prompt" if row is None else f"prompt {row}"
    if n_prompt >= ctx:
        msg = f"{which} has {n_prompt} tokens, more than the model's context of {ctx} positions"
    else:
        msg = (f"{which} has {n_prompt} tokens and max_new_tokens={max_new_tokens}: together more than the "
               f"model's context of {ctx} positions; lower max_new_tokens to {ctx - n_prompt} or shorten the prompt")
    raise GenerationArgumentError("prompt_or_messages", msg)


# --------------------------------------------------------------------------------------------
# Prompt handling
# --------------------------------------------------------------------------------------------


def _is_messages(x) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(m, dict) for m in x)


def _normalize_prompts(prompt_or_messages, batch: bool | None) -> tuple[list, bool]:
    p = prompt_or_messages
    if isinstance(p, str) or _is_messages(p):
        if batch:
            return [p], True
        return [p], False
    if isinstance(p, (list, tuple)) and all(isinstance(x, str) or _is_messages(x) for x in p):
        if not p:
            raise GenerationArgumentError("prompt_or_messages", "empty batch of prompts")
        if batch is False:
            raise GenerationArgumentError("batch", "batch=False but a list of prompts was given")
        return list(p), True
    raise GenerationArgumentError(
        "prompt_or_messages", "must be a str, a list of chat messages (dicts), or a list of those"
    )


def _encode_prompt(tokenizer, p) -> list[int]:
    if isinstance(p, str):
        ids = tokenizer(p)["input_ids"]
    else:
        text = tokenizer.apply_chat_template(list(p), add_generation_prompt=True, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise GenerationArgumentError("prompt_or_messages", "the prompt encodes to zero tokens")
    return list(ids)


def _model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


def _eos_ids(model, tokenizer) -> set[int]:
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


def _pad_id(model, tokenizer, eos: set[int]) -> int:
    for cand in (getattr(tokenizer, "pad_token_id", None),
                 getattr(getattr(model, "generation_config", None), "pad_token_id", None)):
        if isinstance(cand, int):
            return cand
    return min(eos) if eos else 0


def _accepts_kw(model, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _out_cache(out):
    c = getattr(out, "cache", None)
    if c is None:
        c = getattr(out, "past_key_values", None)
    if c is None:
        raise RuntimeError("the model returned no KV cache (use_cache=True was ignored)")
    return c


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


@dataclass
class _Row:
    compiled: Any
    kind: str | None
    matcher: Any = None
    vocab: Any = None
    eos_only: np.ndarray | None = None  # words with only EOS bits set
    token_ids: list = dataclasses.field(default_factory=list)
    done: bool = False
    reason: str = "max_new_tokens"
    mask_time: float = 0.0
    t_done: float | None = None
    text_override: str | None = None
    n_sampled: int = 0  # tokens sampled for this row, EOS included


def _eos_mask(vocab, n_words: int) -> np.ndarray:
    m = np.zeros(n_words, dtype=np.uint32)
    for t in np.asarray(vocab.eos_ids).tolist():
        if t < n_words * 32:
            m[t >> 5] |= np.uint32(1 << (t & 31))
    return m.view(np.int32)


def _tokenizer_len(tokenizer) -> int | None:
    try:
        return int(len(tokenizer))
    except TypeError:
        return None


def _prefix_mask(n: int, n_words: int) -> np.ndarray:
    """Bitmask words allowing exactly tokens [0, n)."""
    m = np.zeros(n_words, dtype=np.uint32)
    full, rem = divmod(n, 32)
    m[:full] = 0xFFFFFFFF
    if rem:
        m[full] = (1 << rem) - 1
    return m.view(np.int32)


def _row_text(row: _Row, tokenizer) -> str:
    if row.vocab is not None:
        tb = row.vocab.token_bytes
        data = b"".join(tb[t] or b"" for t in row.token_ids)
        return data.decode("utf-8", errors="replace")
    return tokenizer.decode(row.token_ids, skip_special_tokens=True)


def generate(
    model,
    tokenizer,
    prompt_or_messages,
    constraint=None,
    *,
    max_new_tokens: int = 256,
    temperature: float = 1.0,
    top_p: float | None = None,
    top_k: int | None = None,
    seed: int | None = None,
    stop: str | Sequence[str] | None = None,
    batch: bool | None = None,
    json_options: dict | None = None,
    frequency_penalty: float = 0.0,
    presence_penalty: float = 0.0,
    finish_within_budget: bool = False,
):
    """Generate text whose every prefix the constraint allows; one result or a list for a batch.

    ``prompt_or_messages``: a prompt string, a list of chat messages (the chat template is
    applied with add_generation_prompt=True), or a list of those (a batch, left-padded).
    ``constraint``: see ``as_compiled``; for a batch, a single constraint or one per row.
    A JSON schema (dict, JSON text, Pydantic class) is compiled with
    ``GENERATION_JSON_OPTIONS`` (strict, canonical property names and enum strings, nothing
    after the root value, at most one line break per whitespace run); ``json_options``
    replaces some of them, e.g. ``{"strict": False}``.  A ``Compiled`` is used as it is.
    ``temperature=0`` is greedy.  ``seed`` makes sampling reproducible.  ``stop``: strings that
    end generation (the text is cut before them).  ``batch=True`` forces a list result.
    ``frequency_penalty`` / ``presence_penalty`` (OpenAI's and vLLM's meaning): before masking,
    each logit drops by ``frequency_penalty`` times the number of times its token was already
    generated in this row, plus ``presence_penalty`` if it was generated at all (the prompt does
    not count).  Small models under a constraint tend to loop inside unbounded strings and
    arrays (``"Cog-Cog-Cog-..."``) when the token they prefer is not allowed; a small frequency
    penalty (0.2-0.5) breaks such loops, since the constraint's forced tokens are unaffected.

    ``finish_within_budget=True``: once the shortest completion of the output
    (``Matcher.shortest_completion``, computed from the grammar's structure) needs nearly all
    the tokens left (all but :func:`finish_margin`), it is appended and the row ends
    (``stop_reason="budget"``): the output is complete and valid, its tail written by the
    grammar rather than the model. The output runs past ``max_new_tokens`` only where the
    schema's shortest instance is longer than the budget, or one token lengthened the
    completion by more than the margin.

    EOS can only be sampled where the matcher accepts (the mask guarantees it); a row also ends
    when the matcher is accepting and EOS is its only continuation.
    """
    prompts, is_batch = _normalize_prompts(prompt_or_messages, batch)
    B = len(prompts)
    if isinstance(constraint, (list, tuple)):
        if not is_batch:
            raise GenerationArgumentError("constraint", "a list of constraints needs a list of prompts")
        if len(constraint) != B:
            raise GenerationArgumentError("constraint", f"{len(constraint)} constraints for {B} prompts")
        constraints = list(constraint)
    else:
        constraints = [constraint] * B
    # every argument is checked before compiling and before any forward pass
    check_sampling(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
                   frequency_penalty=frequency_penalty, presence_penalty=presence_penalty)
    frequency_penalty, presence_penalty = float(frequency_penalty), float(presence_penalty)
    stops = [stop] if isinstance(stop, str) else [s for s in (stop or []) if s]
    encoded = [_encode_prompt(tokenizer, p) for p in prompts]
    for i, e in enumerate(encoded):
        check_context(model, len(e), max_new_tokens, row=i if is_batch else None)

    t_compile = time.perf_counter()
    width = logits_width(model)
    vocab = None
    rows: list[_Row] = []
    opts = generation_json_options(json_options)
    for i, c in enumerate(constraints):
        kind = constraint_kind(c)
        if kind is not None and not _is_compiled(c) and vocab is None:
            vocab = get_vocabulary(tokenizer, width)
        compiled = as_compiled(c, vocab, **opts) if kind in ("json", "lark") else as_compiled(c, vocab)
        row = _Row(compiled=compiled, kind=kind)
        if compiled is not None:
            if compiled is c:  # compiled by the caller, maybe for another model
                check_vocabulary(compiled.vocab, width=width, tokenizer=tokenizer,
                                 where="constraint" if not is_batch else f"constraint {i}")
            else:
                require_eos(compiled.vocab, "tokenizer")
            row.matcher = compiled.matcher()
            row.vocab = compiled.vocab
        rows.append(row)
    compile_s = time.perf_counter() - t_compile

    device = _model_device(model)
    eos = _eos_ids(model, tokenizer)
    pad = _pad_id(model, tokenizer, eos)
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(int(seed))

    L = max(len(e) for e in encoded)
    input_ids = torch.full((B, L), pad, dtype=torch.long)
    attn = torch.zeros((B, L), dtype=torch.long)
    for i, e in enumerate(encoded):
        input_ids[i, L - len(e):] = torch.tensor(e, dtype=torch.long)
        attn[i, L - len(e):] = 1
    position_ids = (attn.cumsum(-1) - 1).clamp_(min=0)
    input_ids, attn, position_ids = input_ids.to(device), attn.to(device), position_ids.to(device)

    # One bitmask buffer for the whole batch; unconstrained rows stay all-ones.
    n_words = max([r.vocab.n_words for r in rows if r.vocab is not None] or [(width + 31) // 32])
    masks = torch.full((B, n_words), -1, dtype=torch.int32)
    n_tok = _tokenizer_len(tokenizer)
    if n_tok is not None and n_tok < n_words * 32:
        # unconstrained rows: ids past the tokenizer (padding rows of the embedding) never decode
        masks[:, :] = torch.from_numpy(_prefix_mask(min(n_tok, width), n_words))
    if device.type == "cuda":
        masks = masks.pin_memory()
    masks_np = masks.numpy()

    def fill(i: int, r: _Row) -> None:
        if r.vocab.n_words == n_words:
            r.matcher.fill_mask(masks_np, i)
        else:
            tmp = np.zeros((1, r.vocab.n_words), dtype=np.int32)
            r.matcher.fill_mask(tmp, 0)
            masks_np[i, :] = 0
            k = min(n_words, r.vocab.n_words)
            masks_np[i, :k] = tmp[0, :k]

    def grammar_complete(i: int, r: _Row) -> bool:
        if not r.matcher.is_accepting():
            return False
        if r.eos_only is None:
            r.eos_only = _eos_mask(r.vocab, n_words)
        return not np.any(masks_np[i] & ~r.eos_only)

    def finish(r: _Row, reason: str, now: float) -> None:
        r.done, r.reason, r.t_done = True, reason, now

    t0 = time.perf_counter()
    for i, r in enumerate(rows):
        if r.matcher is not None:
            ts = time.perf_counter()
            fill(i, r)
            if grammar_complete(i, r):  # e.g. a constraint whose only string is ""
                r.matcher.advance(int(r.vocab.eos_ids[0]))
                finish(r, "grammar_complete", time.perf_counter())
            r.mask_time += time.perf_counter() - ts

    extra = {"logits_to_keep": 1} if _accepts_kw(model, "logits_to_keep") else {}
    # transformers 5.x renamed past_key_values -> cache (the old name warns, then goes away)
    cache_kw = "cache" if _accepts_kw(model, "cache") else "past_key_values"
    def close_within_budget(r) -> bool:
        """Append the shortest completion if the tokens left only just cover it."""
        left = max_new_tokens - len(r.token_ids)
        n_bytes = r.matcher.shortest_completion_length()
        if n_bytes == float("inf"):
            return False  # no completion known
        if n_bytes + finish_margin(int(n_bytes)) < left:
            return False  # a token has at least one byte: the completion fits with room to spare
        tail = r.matcher.shortest_completion()
        if tail is None:
            return False
        try:
            ids = r.vocab.encode(tail.decode("utf-8"))
        except UnicodeDecodeError:  # the output so far ends inside a character
            ids = r.vocab.greedy_encode(tail)
        if len(ids) + finish_margin(len(ids)) < left:
            return False
        for t in ids:
            if not r.matcher.advance(t):
                raise RuntimeError(f"the shortest completion {tail!r} was not accepted token by token")
        r.token_ids.extend(ids)
        r.matcher.advance(int(r.vocab.eos_ids[0]))
        return True

    if finish_within_budget:  # a budget below the shortest instance: the grammar writes it all
        for r in rows:
            if r.matcher is not None and not r.done and close_within_budget(r):
                finish(r, "budget", time.perf_counter())

    t_first = None
    steps = 0
    past = None
    counts = None  # [B, logits] generated-token counts, for the repetition penalties
    with torch.inference_mode():
        if not all(r.done for r in rows):
            out = model(input_ids=input_ids, attention_mask=attn, position_ids=position_ids,
                        use_cache=True, **extra)
            past = _out_cache(out)
            logits = out.logits[:, -1, :]
        while not all(r.done for r in rows):
            active = [i for i, r in enumerate(rows) if not r.done]
            if len(active) == B:
                sub_logits, sub_mask = logits, masks
            else:
                idx = torch.tensor(active, dtype=torch.long)
                sub_logits = logits.index_select(0, idx.to(logits.device))
                sub_mask = masks.index_select(0, idx)
            sub_mask = sub_mask.to(logits.device, non_blocking=True)
            if counts is None and (frequency_penalty or presence_penalty):
                counts = torch.zeros(logits.shape, dtype=torch.float32, device=logits.device)
            if counts is not None:
                c = counts if len(active) == B else counts.index_select(0, idx.to(counts.device))
                sub_logits = sub_logits.float() - frequency_penalty * c - presence_penalty * (c > 0).float()
            toks = masked_sample(sub_logits, sub_mask, temperature, top_k, top_p, generator).tolist()
            if counts is not None:
                rows_t = torch.tensor(active, dtype=torch.long, device=counts.device)
                counts.index_put_((rows_t, torch.tensor(toks, dtype=torch.long, device=counts.device)),
                                  torch.ones(len(toks), device=counts.device), accumulate=True)
            steps += 1
            now = time.perf_counter()
            if t_first is None:
                t_first = now
            for i, t in zip(active, toks):
                r = rows[i]
                r.n_sampled += 1
                if r.matcher is not None:
                    ts = time.perf_counter()
                    if not r.matcher.advance(t):
                        raise RuntimeError(
                            f"row {i}: the matcher rejected token {t} that its own mask allowed"
                        )
                    if r.matcher.is_finished():
                        r.mask_time += time.perf_counter() - ts
                        finish(r, "eos", now)
                        continue
                    r.token_ids.append(t)
                    fill(i, r)
                    complete = grammar_complete(i, r)
                    if complete:
                        r.matcher.advance(int(r.vocab.eos_ids[0]))
                    r.mask_time += time.perf_counter() - ts
                    if complete:
                        finish(r, "grammar_complete", now)
                        continue
                    if finish_within_budget and close_within_budget(r):
                        r.mask_time += time.perf_counter() - ts
                        finish(r, "budget", now)
                        continue
                else:
                    if t in eos:
                        finish(r, "eos", now)
                        continue
                    r.token_ids.append(t)
                if stops:
                    text = _row_text(r, tokenizer)
                    cut = min((text.find(s) for s in stops if s in text), default=-1)
                    if cut >= 0:
                        r.text_override = text[:cut]
                        finish(r, "stop", now)
                        continue
                if len(r.token_ids) >= max_new_tokens:
                    finish(r, "max_new_tokens", now)
            if all(r.done for r in rows):
                break
            nxt = torch.full((B, 1), pad, dtype=torch.long)
            for i, r in enumerate(rows):
                if r.token_ids and not r.done:
                    nxt[i, 0] = r.token_ids[-1]
            attn = torch.cat([attn, attn.new_ones((B, 1))], dim=1)
            position_ids = position_ids[:, -1:] + 1
            out = model(input_ids=nxt.to(device), attention_mask=attn, position_ids=position_ids,
                        use_cache=True, **{cache_kw: past})
            past = _out_cache(out)
            logits = out.logits[:, -1, :]
    t_end = time.perf_counter()

    results = []
    for r in rows:
        text = r.text_override if r.text_override is not None else _row_text(r, tokenizer)
        finished = r.reason != "max_new_tokens"
        value = None
        accepting = finished or (r.matcher is not None and r.matcher.is_accepting())
        if r.kind == "json" and accepting:
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = None
        n = len(r.token_ids)
        t_done = r.t_done if r.t_done is not None else t_end
        ttft = (t_first - t0) if t_first is not None else 0.0
        # decode time after the first token, per sampled token (an EOS step counts: it cost a
        # forward pass like any other)
        tpot = ((t_done - t_first) / (r.n_sampled - 1)) if (t_first is not None and r.n_sampled > 1) else 0.0
        timings = {
            "time_to_first_token_s": ttft,
            "time_per_output_token_s": tpot,
            "mask_time_s": r.mask_time,
            "n_tokens": n,
            "total_s": t_done - t0,
            "compile_s": compile_s,
            "steps": steps,
        }
        results.append(GenerationResult(text=text, token_ids=list(r.token_ids), value=value,
                                        timings=timings, finished=finished, stop_reason=r.reason))
    return results if is_batch else results[0]


def generate_object(model, tokenizer, prompt, model_cls, *, strict: bool = True,
                    return_result: bool = False, json_options: dict | None = None, **kw):
    """Generate an instance of the Pydantic ``model_cls`` (validated with model_validate_json).

    The schema is compiled with ``GENERATION_JSON_OPTIONS`` (``json_options`` replaces some).
    ``strict=True`` compiles the schema without undeclared properties: Pydantic ignores extra
    keys anyway, so letting the model write them only wastes tokens.  Raises GenerationError
    (with ``.partial_text``) if the output did not finish within max_new_tokens or fails
    validation (e.g. a validator the schema cannot express).  ``return_result=True`` returns
    ``(instance, GenerationResult)`` for the text and timings.  ``finish_within_budget``
    defaults to True here (``generate`` leaves it off): a caller asking for an instance wants
    one, so when the tokens left only just cover the shortest completion, it is appended
    (``stop_reason="budget"``) rather than the call failing; pass False to get the error.
    """
    if not _is_pydantic_class(model_cls):
        raise GenerationArgumentError("model_cls", f"generate_object needs a Pydantic model class, got {model_cls!r}")
    if not (isinstance(prompt, str) or _is_messages(prompt)):
        raise GenerationArgumentError("prompt", "generate_object takes a single prompt (str or chat messages)")
    t0 = time.perf_counter()
    vocab = get_vocabulary(tokenizer, logits_width(model))
    compiled = as_compiled(model_cls, vocab, **{**generation_json_options(json_options), "strict": strict})
    compile_s = time.perf_counter() - t0
    kw.setdefault("finish_within_budget", True)
    res = generate(model, tokenizer, prompt, compiled, **kw)
    res.timings["compile_s"] = compile_s
    if not res.finished:
        raise GenerationError(
            f"output did not complete within max_new_tokens={kw.get('max_new_tokens', 256)} "
            f"({res.timings['n_tokens']} tokens)", partial_text=res.text, result=res,
        )
    try:
        obj = model_cls.model_validate_json(res.text)
    except Exception as e:  # pydantic.ValidationError, or JSON the schema allowed but pydantic rejects
        raise GenerationError(f"output failed {model_cls.__name__} validation: {e}",
                              partial_text=res.text, result=res) from e
    return (obj, res) if return_result else obj
