"""Engine adapters for the benchmarks: structgen and its peers behind one small interface.

Every adapter is built from a :class:`BenchTokenizer` (ids, exact token bytes, EOS ids) and
implements::

    compile(schema) -> handle          # timed as the compile step
    new_matcher(handle) -> m           # a fresh matcher (untimed)
    mask_allows(m, token) -> bool      # computes the FULL mask of the current state, tests a bit
    advance(m, token) -> bool          # consumes the token; False if the engine refuses it
    eos_allowed(m) -> bool             # computes the full mask, tests the EOS bit(s)
    accepting(m) -> bool               # the engine's own "output may end here"

Exceptions of the types in ``compile_errors`` raised by ``compile`` are compile errors (the
engine declined the schema); anything else is a crash.  Peers (llguidance, xgrammar,
outlines-core) are optional extras, never runtime dependencies: :func:`engine_status` says
whether one is importable and the harness skips the others with a clear line.

``fake`` is a scripted engine for the harness's own tests: each schema says what the engine
does with it (``"x-fake"`` key, see :class:`FakeEngine`).  A ``module:attribute`` name loads a
user-supplied adapter class.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import signal
import time
from typing import Any

__all__ = [
    "BenchTokenizer",
    "load_bench_tokenizer",
    "Engine",
    "StructgenEngine",
    "LLGuidanceEngine",
    "XGrammarEngine",
    "OutlinesEngine",
    "FakeEngine",
    "PeerCompileError",
    "ENGINES",
    "DEFAULT_ENGINES",
    "engine_status",
    "create_engine",
    "error_info",
]

DEFAULT_ENGINES = ("structgen", "llguidance", "xgrammar")


# ============================================================================ tokenizers


class BenchTokenizer:
    """The tokenizer every engine of one run shares: ids, exact bytes, EOS ids, encoding.

    ``name`` is ``smollm2``/``tekken``/``mistral`` (loaded with
    :func:`constrain.tokenizers.load_tokenizer`, canonical encoding by
    :meth:`constrain.tokens.vocab.Vocabulary.encode`) or ``bytes`` (a synthetic tokenizer for
    tests: ids 0-255 are the single bytes, 256 is EOS; no Hugging Face tokenizer).
    """

    def __init__(self, name: str, token_bytes: list, eos_ids: list[int], *, hf=None, vocab=None):
        self.name = name
        self.token_bytes = token_bytes
        self.eos_ids = [int(e) for e in eos_ids]
        self.size = len(token_bytes)
        self.n_words = (self.size + 31) // 32
        self.hf = hf
        self._vocab = vocab

    @property
    def vocab(self):
        """structgen's :class:`~constrain.tokens.vocab.Vocabulary` for these ids (built lazily)."""
        if self._vocab is None:
            from constrain.tokens.vocab import Vocabulary

            self._vocab = Vocabulary.from_token_bytes(self.token_bytes, self.eos_ids)
        return self._vocab

    def encode(self, text: str) -> list[int]:
        """Canonical ids whose bytes concatenate to exactly ``text.encode()``."""
        if self.name == "bytes":
            return list(text.encode("utf-8"))
        return list(self.vocab.encode(text))


def load_bench_tokenizer(name: str) -> BenchTokenizer:
    if name == "bytes":
        return BenchTokenizer("bytes", [bytes([i]) for i in range(256)] + [None], [256])
    from constrain.tokens.vocab import Vocabulary

    voc = Vocabulary.from_name(name)
    return BenchTokenizer(name, list(voc.token_bytes), [int(e) for e in voc.eos_ids],
                          hf=voc.tokenizer, vocab=voc)


# ============================================================================ errors


class PeerCompileError(Exception):
    """A peer engine declined a schema; ``keyword`` is our best guess at the cause."""

    def __init__(self, message: str, keyword: str | None = None):
        super().__init__(message)
        self.keyword = keyword


def error_info(exc: BaseException) -> dict[str, Any]:
    """``{"class", "keyword", "pointer", "message"}`` of an exception (message truncated)."""
    msg = str(exc)
    if len(msg) > 500:
        msg = msg[:500] + "..."
    return {
        "class": type(exc).__name__,
        "keyword": getattr(exc, "keyword", None),
        "pointer": getattr(exc, "pointer", None),
        "message": msg,
    }


def _bit(words, t: int, *, word_bits: int = 32) -> bool:
    return bool((int(words[t // word_bits]) >> (t % word_bits)) & 1)


# ============================================================================ base


class Engine:
    """Base class; see the module docstring for the protocol."""

    name = "engine"
    #: exceptions from ``compile`` that mean "schema declined" (anything else is a crash)
    compile_errors: tuple[type[BaseException], ...] = (Exception,)
    #: keyword options ``compile`` takes per schema (a bench's ``SchemaEntry.compile_options``)
    compile_options_known: frozenset = frozenset()

    def __init__(self, tok: BenchTokenizer, options: dict[str, Any] | None = None):
        self.tok = tok
        self.options = dict(options or {})

    def version(self) -> str:
        return ""

    def compile(self, schema: Any):  # pragma: no cover - interface
        raise NotImplementedError

    def new_matcher(self, handle):  # pragma: no cover - interface
        raise NotImplementedError

    def mask_allows(self, m, token: int) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def advance(self, m, token: int) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def accepting(self, m) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def eos_allowed(self, m) -> bool:
        return self.accepting(m)


def _dist_version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001
        return "?"


# ============================================================================ structgen


def _structgen_version() -> str:
    """The installed distribution's version, else the git commit of the source tree."""
    v = _dist_version("structgen")
    try:
        import subprocess

        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        h = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "constrain"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        if h:
            git = f"git-{h}{'+dirty' if dirty else ''}"
            return git if v == "?" else f"{v} {git}"
    except Exception:  # noqa: BLE001
        pass
    return v


class StructgenEngine(Engine):
    """``constrain.compile_json_schema(schema, vocab)`` with the default options
    (non-strict, flexible whitespace, not lenient); ``lenient=True`` in the options for the
    ``structgen-lenient`` variant; ``resources`` ({uri: schema}, the Test Suite's remotes) for
    remote references; ``format_assertion`` per schema (the Test Suite's files that
    read ``format`` as an annotation)."""

    name = "structgen"
    compile_options_known = frozenset({"format_assertion"})

    def __init__(self, tok: BenchTokenizer, options: dict[str, Any] | None = None):
        super().__init__(tok, options)
        import warnings

        import constrain

        self._constrain = constrain
        self._warnings = warnings
        self.compile_errors = (constrain.ConstraintError,)
        self.vocab = tok.vocab
        self.eos = [int(e) for e in self.vocab.eos_ids]
        self.lenient = bool(self.options.get("lenient", False))
        self.resources = self.options.get("resources") or None  # {uri: schema}: documents $ref may name
        self.last_warnings: list[str] = []

    def version(self) -> str:
        return _structgen_version()

    def compile(self, schema, **options):
        with self._warnings.catch_warnings(record=True) as caught:
            self._warnings.simplefilter("always")
            c = self._constrain.compile_json_schema(schema, self.vocab, lenient=self.lenient,
                                                    resources=self.resources, **options)
        self.last_warnings = [str(w.message)[:200] for w in caught]
        return c

    def new_matcher(self, handle):
        return handle.matcher()

    def mask_allows(self, m, token):
        return _bit(m.mask(), token)

    def advance(self, m, token):
        return bool(m.advance(token))

    def accepting(self, m):
        return bool(m.is_accepting())

    def eos_allowed(self, m):
        mask = m.mask()
        return any(_bit(mask, e) for e in self.eos)

    def quick_allows(self, m, token):
        """The cheap single-token check (``Matcher.is_allowed``), cross-checked on request."""
        return bool(m.is_allowed(token))


# ============================================================================ llguidance


_LLG_KEYWORD_RES = [
    re.compile(r"[Uu]nimplemented keys?:?\s*\[?\s*\"?([$\w-]+)"),
    re.compile(r"[Uu]nknown format:?\s*\"?([\w-]+)"),
    re.compile(r"[Uu]nsupported (?:keyword|key)s?:?\s*\"?([$\w-]+)"),
]


def _llg_keyword(msg: str) -> str | None:
    m = re.search(r"[Uu]nimplemented keys?:?\s*\[([^\]]*)\]", msg)
    if m:
        keys = re.findall(r"\"([^\"]+)\"", m.group(1))
        if keys:
            return ",".join(sorted(keys))
    if re.search(r"[Uu]nknown format", msg):
        return "format"
    for rx in _LLG_KEYWORD_RES:
        m = rx.search(msg)
        if m:
            return m.group(1)
    if "oneOf" in msg:
        return "oneOf"
    if "$ref" in msg or "reference" in msg.lower():
        return "$ref"
    return None


class LLGuidanceEngine(Engine):
    """llguidance: ``LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible":
    True})``; compile = grammar construction + ``LLMatcher(...)`` (errors via ``is_error``);
    each instance gets a ``deep_copy`` of that pristine matcher."""

    name = "llguidance"

    def __init__(self, tok: BenchTokenizer, options: dict[str, Any] | None = None):
        super().__init__(tok, options)
        if tok.hf is None:
            raise RuntimeError("llguidance needs a Hugging Face tokenizer (not 'bytes')")
        import llguidance
        import llguidance.hf

        self._llg = llguidance
        self.lltok = llguidance.hf.from_tokenizer(tok.hf, n_vocab=tok.size, eos_token=tok.eos_ids or None)
        self.eos = list(tok.eos_ids)

    def version(self) -> str:
        return _dist_version("llguidance")

    def compile(self, schema):
        M = self._llg.LLMatcher
        try:
            grammar = M.grammar_from_json_schema(schema, defaults={"whitespace_flexible": True})
        except Exception as e:  # noqa: BLE001 - declined at the JSON level
            raise PeerCompileError(f"{type(e).__name__}: {e}", _llg_keyword(str(e))) from None
        m = M(self.lltok, grammar, log_level=0)
        if m.is_error():
            err = m.get_error()
            raise PeerCompileError(err, _llg_keyword(err))
        return m

    def new_matcher(self, handle):
        return handle.deep_copy()

    def mask_allows(self, m, token):
        mask = m.compute_bitmask()
        return bool((mask[token >> 3] >> (token & 7)) & 1)

    def advance(self, m, token):
        return bool(m.consume_token(token))

    def accepting(self, m):
        return bool(m.is_accepting())

    def eos_allowed(self, m):
        mask = m.compute_bitmask()
        return any((mask[e >> 3] >> (e & 7)) & 1 for e in self.eos)


# ============================================================================ xgrammar


def _xgr_keyword(msg: str) -> str | None:
    m = re.search(r"[Uu]nsupported (?:keyword|key|type|format)[^\"'`]*[\"'`]([$\w-]+)", msg)
    if m:
        return m.group(1)
    for kw in ("oneOf", "anyOf", "allOf", "$ref", "not", "if", "pattern", "format", "minimum",
               "maximum", "multipleOf", "dependencies", "uniqueItems", "enum", "const"):
        if re.search(r"(?<![\w$])" + re.escape(kw) + r"(?![\w])", msg):
            return kw
    return None


class XGrammarEngine(Engine):
    """xgrammar in compliant mode: ``GrammarCompiler(TokenizerInfo.from_huggingface(tok,
    vocab_size=..., stop_token_ids=...), max_threads=threads, cache_enabled=False)
    .compile_json_schema(schema, any_whitespace=True, strict_mode=False)``; one
    ``GrammarMatcher`` per instance, ``fill_next_token_bitmask`` into a numpy int32 row."""

    name = "xgrammar"

    def __init__(self, tok: BenchTokenizer, options: dict[str, Any] | None = None):
        super().__init__(tok, options)
        if tok.hf is None:
            raise RuntimeError("xgrammar needs a Hugging Face tokenizer (not 'bytes')")
        import numpy as np
        import xgrammar as xgr

        self._xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(tok.hf, vocab_size=tok.size,
                                                  stop_token_ids=list(tok.eos_ids) or None)
        self.compiler = xgr.GrammarCompiler(info, max_threads=int(self.options.get("threads", 1)),
                                            cache_enabled=False)
        self.bitmask = np.zeros((1, tok.n_words), dtype=np.int32)
        self.eos = list(tok.eos_ids)

    def version(self) -> str:
        return _dist_version("xgrammar")

    def compile(self, schema):
        try:
            return self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=True,
                                                     strict_mode=False)
        except Exception as e:  # noqa: BLE001
            raise PeerCompileError(f"{type(e).__name__}: {e}", _xgr_keyword(str(e))) from None

    def new_matcher(self, handle):
        return self._xgr.GrammarMatcher(handle)

    def mask_allows(self, m, token):
        m.fill_next_token_bitmask(self.bitmask)
        return _bit(self.bitmask[0], token)

    def advance(self, m, token):
        return bool(m.accept_token(token))

    def accepting(self, m):
        return bool(m.is_completed())

    def eos_allowed(self, m):
        m.fill_next_token_bitmask(self.bitmask)
        return any(_bit(self.bitmask[0], e) for e in self.eos)


# ============================================================================ outlines-core


class OutlinesEngine(Engine):
    """outlines-core: ``build_regex_from_schema`` then ``Index(regex, Vocabulary)`` (the whole
    token-level DFA is built at compile time), ``Guide`` per instance, ``write_mask_into``."""

    name = "outlines"

    def __init__(self, tok: BenchTokenizer, options: dict[str, Any] | None = None):
        super().__init__(tok, options)
        import numpy as np
        import outlines_core as oc

        self._oc = oc
        if not tok.eos_ids:
            raise RuntimeError("outlines-core needs an EOS id")
        self.eos = int(tok.eos_ids[0])
        groups: dict[bytes, list[int]] = {}
        for i, b in enumerate(tok.token_bytes):
            if b is not None:
                groups.setdefault(bytes(b), []).append(i)
        self.vocabulary = oc.Vocabulary(self.eos, groups)
        self.buf = np.zeros(tok.n_words, dtype=np.int32)

    def version(self) -> str:
        return _dist_version("outlines-core")

    def compile(self, schema):
        from outlines_core.json_schema import build_regex_from_schema

        try:
            regex = build_regex_from_schema(json.dumps(schema))
            return self._oc.Index(regex, self.vocabulary)
        except Exception as e:  # noqa: BLE001
            raise PeerCompileError(f"{type(e).__name__}: {e}", _xgr_keyword(str(e))) from None

    def new_matcher(self, handle):
        return self._oc.Guide(handle)

    def _mask(self, m):
        self.buf[:] = 0
        m.write_mask_into(self.buf.ctypes.data, self.buf.size, 4)
        return self.buf

    def mask_allows(self, m, token):
        return _bit(self._mask(m), token)

    def advance(self, m, token):
        try:
            m.advance(token, return_tokens=False)
            return True
        except Exception:  # noqa: BLE001 - outlines raises on a refused token
            return False

    def accepting(self, m):
        return bool(m.is_finished())

    def eos_allowed(self, m):
        return _bit(self._mask(m), self.eos)


# ============================================================================ fake


class FakeUnsupported(Exception):
    def __init__(self, keyword: str):
        super().__init__(f"fake: unsupported {keyword!r}")
        self.keyword = keyword
        self.pointer = "#"


class FakeEngine(Engine):
    """A scripted engine for testing the harness.  The schema's ``"x-fake"`` object says what
    happens (missing: the engine accepts every token everywhere):

    ``forbid``: a string; a token whose bytes contain one of its characters is masked out.
    ``never_accept``: true -> EOS is never allowed.
    ``inconsistent``: true -> ``advance`` accepts every token whatever the mask says.
    ``compile_error``: keyword -> compile raises an error carrying ``.keyword``.
    ``raise``: message -> compile raises RuntimeError (a crash).
    ``exit``: code -> the worker process exits abruptly in compile (``os._exit``).
    ``signal``: "SIGSEGV"/"SIGKILL"... -> the worker kills itself with that signal.
    ``allocate_gb``: n -> compile allocates n GiB (MemoryError under the memory limit).
    ``sleep``: seconds -> compile sleeps; ``sleep_per_token``: seconds per mask.
    """

    name = "fake"
    compile_errors = (FakeUnsupported,)

    def version(self) -> str:
        return "0"

    def compile(self, schema):
        spec = schema.get("x-fake", {}) if isinstance(schema, dict) else {}
        if "sleep" in spec:
            time.sleep(float(spec["sleep"]))
        if "compile_error" in spec:
            raise FakeUnsupported(spec["compile_error"])
        if "raise" in spec:
            raise RuntimeError(spec["raise"])
        if "exit" in spec:
            os._exit(int(spec["exit"]))
        if "signal" in spec:
            os.kill(os.getpid(), getattr(signal, spec["signal"]))
            time.sleep(5)
        if "allocate_gb" in spec:
            blob = bytearray(int(float(spec["allocate_gb"]) * (1 << 30)))
            del blob
        return spec

    def new_matcher(self, handle):
        return {"spec": handle, "n": 0}

    def _allowed(self, m, token):
        if token in self.tok.eos_ids:
            return not m["spec"].get("never_accept", False)
        b = self.tok.token_bytes[token]
        if b is None:
            return False
        forbid = m["spec"].get("forbid", "").encode("utf-8")
        return not any(c in b for c in forbid)

    def mask_allows(self, m, token):
        dt = m["spec"].get("sleep_per_token")
        if dt:
            time.sleep(float(dt))
        return self._allowed(m, token)

    def advance(self, m, token):
        ok = True if m["spec"].get("inconsistent") else self._allowed(m, token)
        if ok:
            m["n"] += 1
        return ok

    def accepting(self, m):
        return not m["spec"].get("never_accept", False)


# ============================================================================ registry


# name -> (module that must be importable, distribution for the version, class, options)
ENGINES: dict[str, tuple[str | None, str | None, type[Engine], dict[str, Any]]] = {
    "structgen": ("constrain", "structgen", StructgenEngine, {}),
    "structgen-lenient": ("constrain", "structgen", StructgenEngine, {"lenient": True}),
    "llguidance": ("llguidance", "llguidance", LLGuidanceEngine, {}),
    "xgrammar": ("xgrammar", "xgrammar", XGrammarEngine, {}),
    "outlines": ("outlines_core", "outlines-core", OutlinesEngine, {}),
    "fake": (None, None, FakeEngine, {}),
}


def engine_status(name: str) -> tuple[bool, str]:
    """``(available, detail)``: detail is the version or why the engine cannot run."""
    if ":" in name:
        mod, _, attr = name.partition(":")
        try:
            getattr(importlib.import_module(mod), attr)
        except Exception as e:  # noqa: BLE001
            return False, f"cannot load {name}: {type(e).__name__}: {e}"
        return True, "custom"
    if name not in ENGINES:
        return False, f"unknown engine {name!r} (known: {', '.join(ENGINES)}, or module:Class)"
    module, dist, _, _ = ENGINES[name]
    if module is not None and importlib.util.find_spec(module) is None:
        return False, f"not installed (pip install {dist})"
    return True, _dist_version(dist) if dist else ""


def create_engine(name: str, tok: BenchTokenizer, options: dict[str, Any] | None = None) -> Engine:
    opts = dict(options or {})
    if ":" in name:
        mod, _, attr = name.partition(":")
        cls = getattr(importlib.import_module(mod), attr)
        return cls(tok, opts)
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}")
    _, _, cls, extra = ENGINES[name]
    eng = cls(tok, {**extra, **opts})
    eng.name = name
    return eng
