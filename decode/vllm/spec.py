"""A request's constraint as vLLM carries it: ``SamplingParams.extra_args["structgen"]``.

Why a module of its own: the same reading runs in two processes.  vLLM's front end calls
``validate_params`` at admission (no tokenizer there, so a bad schema is checked by compiling it
over a byte vocabulary and fails as a 400 / ``ValueError``), and the engine's worker reads the
same dict again when the request joins the batch and compiles it for the model's tokenizer.
Nothing here imports vLLM or torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from constrain.cache import LRUCache

from ..constraints import GENERATION_JSON_OPTIONS, Lark, Regex, as_compiled
from ..result import GenerationArgumentError

__all__ = ["EXTRA_ARGS_KEY", "ConstraintSpec", "check_spec", "compile_spec", "spec_from_extra_args"]

#: the key of ``SamplingParams.extra_args`` this plugin reads; anything else there is left alone
EXTRA_ARGS_KEY = "structgen"

_KINDS = ("json_schema", "regex", "lark")
_OTHER_KEYS = {"json_options", "start"}
_WHERE = f"extra_args[{EXTRA_ARGS_KEY!r}]"
_FLAT = f"{EXTRA_ARGS_KEY}_"  # the flat keys' prefix: structgen_json_schema, ...


@dataclass(frozen=True)
class ConstraintSpec:
    """One constraint in a hashable, canonical form: the key of the compile caches.

    ``kind`` is ``"json_schema"``, ``"regex"`` or ``"lark"``; ``text`` the schema as
    ``json.dumps(..., sort_keys=True)``, the pattern, or the grammar; ``start`` the Lark start
    rule; ``json_options`` the ``compile_json_schema`` options as sorted ``(name, value)`` pairs
    (``GENERATION_JSON_OPTIONS`` with the request's overrides, as ``decode.generate`` uses).
    """

    kind: str
    text: str
    start: str = "start"
    json_options: tuple = ()

    def constraint(self):
        """The ``decode`` constraint object (schema dict, ``Regex``, ``Lark``) to compile."""
        if self.kind == "json_schema":
            return json.loads(self.text)
        if self.kind == "regex":
            return Regex(self.text)
        return Lark(self.text, self.start)


def spec_from_extra_args(extra_args) -> ConstraintSpec | None:
    """The request's :class:`ConstraintSpec`, or None when it carries no structgen entry.

    Accepted: ``{"structgen": {"json_schema": <dict | bool | JSON text>}}``,
    ``{"structgen": {"regex": "<pattern>"}}`` or ``{"structgen": {"lark": "<grammar>", "start": "start"}}``;
    ``"json_options"`` (a dict, e.g. ``{"strict": False}``) may go with a schema or a grammar.
    The same flat, for vLLM's OpenAI server, whose ``vllm_xargs`` takes no nested objects:
    ``structgen_json_schema`` (JSON text), ``structgen_regex``, ``structgen_lark``,
    ``structgen_start``, ``structgen_json_options`` (JSON text).
    Anything else raises :class:`~decode.GenerationArgumentError` (a ``ValueError``, which vLLM
    turns into a 400) naming the entry.
    """
    if extra_args is None:
        return None
    if not isinstance(extra_args, dict):
        raise GenerationArgumentError("extra_args", f"expected a dict, got {type(extra_args).__name__}")
    entry = extra_args.get(EXTRA_ARGS_KEY)
    flat = {k[len(_FLAT):]: v for k, v in extra_args.items() if isinstance(k, str) and k.startswith(_FLAT)}
    if entry is None and not flat:
        return None
    if entry is not None and flat:
        raise GenerationArgumentError("extra_args", f"give either {_WHERE} or the flat "
                                      f"{sorted(_FLAT + k for k in flat)}, not both")
    if entry is None:  # the flat form: names like extra_args['structgen_regex']
        entry = dict(flat)

        def name(key=None):
            return f"extra_args[{_FLAT + key!r}]" if key else "extra_args (structgen_* keys)"

        if isinstance(entry.get("json_options"), str):
            try:
                entry["json_options"] = json.loads(entry["json_options"])
            except json.JSONDecodeError as e:
                raise GenerationArgumentError(name("json_options"), f"not valid JSON ({e})") from None
    else:
        def name(key=None):
            return f"{_WHERE}[{key!r}]" if key else _WHERE

        if not isinstance(entry, dict):
            raise GenerationArgumentError(_WHERE, f"expected a dict with one of {list(_KINDS)}, got "
                                          f"{type(entry).__name__}")
    kinds = [k for k in _KINDS if k in entry]
    unknown = sorted(set(entry) - set(_KINDS) - _OTHER_KEYS)
    if unknown:
        raise GenerationArgumentError(name(), f"unknown key(s) {unknown}; expected one of {list(_KINDS)}, "
                                      f"with optional {sorted(_OTHER_KEYS)}")
    if len(kinds) != 1:
        raise GenerationArgumentError(name(), f"give exactly one of {list(_KINDS)}, got {kinds or 'none'}")
    kind = kinds[0]
    value = entry[kind]
    where = name(kind)
    if "start" in entry and kind != "lark":
        raise GenerationArgumentError(name("start"), "only a 'lark' grammar has a start rule")
    if "json_options" in entry and kind == "regex":
        raise GenerationArgumentError(name("json_options"), "a regex takes no JSON options")
    options = _json_options(entry.get("json_options"), name("json_options"))
    if kind == "json_schema":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                raise GenerationArgumentError(where, f"not valid JSON ({e})") from None
        if not isinstance(value, (dict, bool)):
            raise GenerationArgumentError(where, f"a JSON schema is an object or a boolean, got "
                                          f"{type(value).__name__}")
        try:
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise GenerationArgumentError(where, f"not JSON-serializable ({e})") from None
        return ConstraintSpec("json_schema", text, json_options=options)
    if not isinstance(value, str) or (kind == "lark" and not value.strip()):
        raise GenerationArgumentError(where, f"expected a non-empty string, got {type(value).__name__}"
                                      if not isinstance(value, str) else "the grammar is empty")
    if kind == "regex":
        return ConstraintSpec("regex", value)
    start = entry.get("start", "start")
    if not isinstance(start, str) or not start:
        raise GenerationArgumentError(name("start"), "expected a rule name")
    return ConstraintSpec("lark", value, start=start, json_options=options)


def _json_options(overrides, where: str) -> tuple:
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict):
        raise GenerationArgumentError(where, f"expected a dict, got {type(overrides).__name__}")
    merged = {**GENERATION_JSON_OPTIONS, **overrides}
    items = tuple(sorted(merged.items()))
    try:
        hash(items)
    except TypeError:
        raise GenerationArgumentError(where, "option values must be scalars "
                                      "(numbers, strings, booleans, null)") from None
    return items


#: compiled constraints by (vocabulary fingerprint, spec): one compile per constraint and tokenizer
_COMPILED = LRUCache("decode.vllm.compiled", 256)
#: specs already checked in the front end: () when it compiles, else (argument, message)
_CHECKED = LRUCache("decode.vllm.checked", 1024)
_BYTE_VOCAB = None


def compile_spec(spec: ConstraintSpec, vocab):
    """``spec`` compiled over ``vocab``, cached by (the vocabulary's fingerprint, spec).

    The fingerprint covers every token's bytes and the EOS ids, so a second tokenizer object
    for the same vocabulary (each vLLM worker loads its own) shares the compile.  Raises
    :class:`~decode.GenerationArgumentError` (a ``ValueError``) naming the entry, with the
    compiler's message (keyword, JSON pointer, regex position) inside.
    """
    key = (vocab.fingerprint, spec)
    hit = _COMPILED.get(key)
    if hit is not None:
        return hit
    return _COMPILED.put(key, _compile(spec, vocab))


def _compile(spec: ConstraintSpec, vocab):
    from constrain.errors import ConstraintError

    try:
        return as_compiled(spec.constraint(), vocab, **dict(spec.json_options))
    except GenerationArgumentError:
        raise
    except (ConstraintError, ValueError, TypeError, RecursionError) as e:
        raise GenerationArgumentError(f"{_WHERE}[{spec.kind!r}]", f"{type(e).__name__}: {e}") from e


def _byte_vocabulary():
    """256 one-byte tokens and an EOS: enough to compile any constraint without a tokenizer."""
    global _BYTE_VOCAB
    if _BYTE_VOCAB is None:
        from constrain.tokens.vocab import Vocabulary

        _BYTE_VOCAB = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], eos_ids=[256])
    return _BYTE_VOCAB


def check_spec(spec: ConstraintSpec) -> None:
    """Raise the compile error ``spec`` would give, without the model's tokenizer.

    Compiles over a byte vocabulary: schema, regex and grammar errors do not depend on the
    tokenizer (a compile budget can, rarely; the worker then ends that request, see
    :class:`~decode.vllm.ConstrainedRows`).  Verdicts are cached per spec.
    """
    verdict = _CHECKED.get(spec)
    if verdict is None:
        try:
            _compile(spec, _byte_vocabulary())
            verdict = ()
        except GenerationArgumentError as e:  # kept as text: no traceback frames held in the cache
            verdict = (e.argument, str(e)[len(e.argument) + 2:])
        _CHECKED.put(spec, verdict)
    if verdict:
        raise GenerationArgumentError(*verdict)
