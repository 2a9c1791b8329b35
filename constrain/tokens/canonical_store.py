"""The canonical filter's caches kept on disk: pre-tokenizer outcomes per pre-tokenizer, and
the lookahead's lexeme-level verdicts per tokenizer and code version.

Why: a first visit of a canonical mask is slow mostly where the filter judges, for the
previous token's class, how the pre-tokenizer chunks it against every other class (hundreds
of Python calls into ``tokenizers`` per class, :meth:`CanonicalFilter._outcome_row`).  The
answers depend only on the pre-tokenizer and the class strings, never on a schema, so a
process that computed them can hand them to the next one: each process then pays only for
the classes no earlier process met.  This module reads and writes that table; the filter
decides what goes in it.

One file per (pre-tokenizer, class list): ``<cache_root>/canonical/<sha256>.npz`` holding the
outcome keys (JSON) and one uint8 row per key over the class list, each byte the bits
:data:`CAN_SPLIT` .. :data:`DONE`.  Bounded by :data:`STORE_BYTES` (the keys this process
used are kept first).  Written to a temporary file and renamed, so a reader never sees half
a file; two processes that write at once lose one's additions, never correctness.  A file
that does not load (other version, damaged) is ignored and replaced.
``STRUCTGEN_CANONICAL_STORE``: ``0`` turns the store off, a path puts it in that folder.

The lookahead's lexeme-level verdicts (``CanonicalFilter.lexeme_verdicts``: for a lexeme,
its DFA state, what follows it and the filter state, which tokens lead on canonically) are
per tokenizer too, but they name lexemes by key and DFA state number, which only the
compiler's code fixes.  So their file (:class:`VerdictStore`,
``<cache_root>/canonical/verdicts-<sha256>.npz``) is named by a hash of the tokenizer (its
full JSON, the vocabulary's size) and of the ``constrain`` package's source (any code change
starts a new file); the version string inside is checked again on reading, and a file that
does not load or does not check is ignored and replaced.  Each code version (a development
checkout's every change, an upgrade) starts a new file, so a save keeps only the
:data:`VERDICT_FILES_KEPT` most recently written verdict files of its folder and deletes the
older ones (the outcome files, one per pre-tokenizer, do not depend on the code and stay).

The filter's packed rows of a previous token's class and of a crossing set
(``CanonicalFilter.class_words``, ``conflict_words``) depend only on the tokenizer and the
code too (and on the ``tokenizers`` library, which chunks the class strings).  Their file
(:class:`RowStore`, ``<cache_root>/canonical/rows-<sha256>.npz``) is named like the
verdicts' with the ``tokenizers`` version added, checked the same way, and pruned with them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["CAN_JOIN", "CAN_SPLIT", "DONE", "END_JOIN", "END_SPLIT", "ROW_STORE_BYTES", "STORE_BYTES",
           "VERDICT_FILES_KEPT", "VERDICT_STORE_BYTES", "OutcomeStore", "RowStore", "VerdictStore", "code_version",
           "outcome_store", "row_store", "verdict_store"]

#: bits of one stored byte: the four outcome flags of :meth:`CanonicalFilter._outcome_row`
#: and whether the pair was judged at all
CAN_SPLIT, CAN_JOIN, END_SPLIT, END_JOIN, DONE = 1, 2, 4, 8, 16
#: bytes the stored table may hold (SmolLM2: 670 classes, so ~25,000 outcome keys)
STORE_BYTES = 16 << 20
_VERSION = "canonical-outcomes-1"
#: bytes of token ids the stored verdicts may hold (int32 each)
VERDICT_STORE_BYTES = 16 << 20
_VERDICT_VERSION = "canonical-verdicts-1"
#: bytes of packed rows the row store may hold (SmolLM2: 6 KiB a row, so ~2,700 rows)
ROW_STORE_BYTES = 16 << 20
_ROW_VERSION = "canonical-rows-1"
#: verdict files a folder keeps (the most recently written; a save deletes older ones): a
#: few tokenizers times a few code versions, at most VERDICT_STORE_BYTES each
VERDICT_FILES_KEPT = 8


class OutcomeStore:
    """The stored outcome rows of one (pre-tokenizer, class list): ``load`` and ``save``."""

    def __init__(self, path: Path, n_classes: int):
        self.path = path
        self.n_classes = n_classes

    def load(self) -> dict[tuple, np.ndarray]:
        """Outcome key -> uint8 codes over the classes; empty if there is no usable file."""
        try:
            with np.load(self.path, allow_pickle=False) as z:
                keys = json.loads(bytes(z["keys"]).decode("utf-8"))
                codes = np.asarray(z["codes"], dtype=np.uint8)
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return {}
        if codes.ndim != 2 or codes.shape != (len(keys), self.n_classes):
            return {}
        return {(int(s), str(pre), int(mode)): codes[i] for i, (s, pre, mode) in enumerate(keys)}

    def save(self, rows: dict[tuple, np.ndarray]) -> None:
        """Write ``rows`` (key -> codes) merged over what the file holds now, ``rows`` first
        where the byte bound cuts; silently nothing where the folder cannot be written."""
        merged = dict(rows)
        for key, codes in self.load().items():
            merged.setdefault(key, codes)
        limit = max(1, STORE_BYTES // max(1, self.n_classes))
        items = list(merged.items())[:limit]
        if not items:
            return
        keys = json.dumps([list(k) for k, _ in items]).encode("utf-8")
        codes = np.stack([c for _, c in items]).astype(np.uint8, copy=False)
        _write_npz(self.path, keys=np.frombuffer(keys, dtype=np.uint8), codes=codes)


def _folder() -> Path | None:
    where = os.environ.get("STRUCTGEN_CANONICAL_STORE", "")
    if where == "0":
        return None
    if where and where != "1":
        return Path(where).expanduser()
    from ..tokenizers import cache_root

    return cache_root() / "canonical"


def _write_npz(path: Path, **arrays) -> None:
    """``np.savez`` to a temporary file renamed over ``path``; nothing where it cannot."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return


class VerdictStore:
    """The stored lexeme-level verdicts of one (tokenizer, code version): ``load`` and
    ``save``.  An entry is a JSON key (lexeme key, DFA size, DFA state, follow bits as hex,
    follow may end, previous token, context characters, mode, may end) and three sorted
    id lists (kept, judged, left open)."""

    def __init__(self, path: Path, version: str, size: int):
        self.path = path
        self.version = version
        self.size = size

    def load(self) -> dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Key -> (kept, judged, opened) id arrays; empty where there is no usable file."""
        try:
            with np.load(self.path, allow_pickle=False) as z:
                version = bytes(z["version"]).decode("utf-8")
                keys = json.loads(bytes(z["keys"]).decode("utf-8"))
                ptr = np.asarray(z["ptr"], dtype=np.int64)
                ids = np.asarray(z["ids"], dtype=np.int64)
        except (OSError, ValueError, KeyError, UnicodeDecodeError, json.JSONDecodeError):
            return {}
        if (version != self.version or not isinstance(keys, list) or ptr.ndim != 1
                or len(ptr) != 3 * len(keys) + 1 or (len(ptr) and (ptr[0] != 0 or ptr[-1] != len(ids)))
                or (np.diff(ptr) < 0).any() or (len(ids) and (ids.min() < 0 or ids.max() >= self.size))):
            return {}
        out = {}
        try:
            for i, k in enumerate(keys):
                lex, n, q, fbits, can_end, prev, ctx, mode, end = k
                key = (str(lex), int(n), int(q), int(fbits, 16), bool(can_end), int(prev), str(ctx), int(mode), bool(end))
                out[key] = tuple(ids[ptr[3 * i + j]: ptr[3 * i + j + 1]] for j in range(3))
        except (TypeError, ValueError):
            return {}
        return out

    def save(self, entries: dict[tuple, tuple]) -> None:
        """Write ``entries`` (key -> three id arrays) merged over the file's, ``entries``
        first where :data:`VERDICT_STORE_BYTES` cuts."""
        merged = dict(entries)
        for key, rows in self.load().items():
            merged.setdefault(key, rows)
        keys, parts, ptr, total = [], [], [0], 0
        for key, rows in merged.items():
            n = sum(len(r) for r in rows)
            if 4 * (total + n) > VERDICT_STORE_BYTES:
                break
            lex, n_states, q, fbits, can_end, prev, ctx, mode, end = key
            keys.append([lex, n_states, q, format(fbits, "x"), can_end, prev, ctx, mode, end])
            for r in rows:
                parts.append(np.asarray(r, dtype=np.int32))
                ptr.append(ptr[-1] + len(r))
            total += n
        if not keys:
            return
        _write_npz(self.path, version=np.frombuffer(self.version.encode("utf-8"), dtype=np.uint8),
                   keys=np.frombuffer(json.dumps(keys).encode("utf-8"), dtype=np.uint8),
                   ptr=np.asarray(ptr, dtype=np.int64), ids=np.concatenate(parts))
        _prune_files(self.path, "verdicts-")


class RowStore:
    """The stored packed rows of one (tokenizer, code version, ``tokenizers`` version):
    ``load`` and ``save``.  An entry is a string key (the filter names its rows) and its
    rows, int32 words of ``n_words`` each."""

    def __init__(self, path: Path, version: str, n_words: int):
        self.path = path
        self.version = version
        self.n_words = n_words

    def load(self) -> dict[str, np.ndarray]:
        """Key -> int32[k, n_words] rows; empty where there is no usable file."""
        try:
            with np.load(self.path, allow_pickle=False) as z:
                version = bytes(z["version"]).decode("utf-8")
                keys = json.loads(bytes(z["keys"]).decode("utf-8"))
                ptr = np.asarray(z["ptr"], dtype=np.int64)
                rows = np.asarray(z["rows"])
        except (OSError, ValueError, KeyError, UnicodeDecodeError, json.JSONDecodeError):
            return {}
        if (version != self.version or not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)
                or rows.dtype != np.int32 or rows.ndim != 2 or rows.shape[1] != self.n_words
                or ptr.shape != (len(keys) + 1,) or (len(ptr) and (ptr[0] != 0 or ptr[-1] != len(rows)))
                or (np.diff(ptr) <= 0).any()):
            return {}
        return {k: rows[ptr[i]: ptr[i + 1]] for i, k in enumerate(keys)}

    def save(self, entries: dict[str, np.ndarray]) -> None:
        """Write ``entries`` (key -> int32[k, n_words]) merged over the file's, ``entries``
        first where :data:`ROW_STORE_BYTES` cuts."""
        merged = dict(entries)
        for key, rows in self.load().items():
            merged.setdefault(key, rows)
        keys, parts, ptr = [], [], [0]
        for key, rows in merged.items():
            rows = np.asarray(rows, dtype=np.int32).reshape(-1, self.n_words)
            if 4 * self.n_words * (ptr[-1] + len(rows)) > ROW_STORE_BYTES:
                break
            keys.append(key)
            parts.append(rows)
            ptr.append(ptr[-1] + len(rows))
        if not keys:
            return
        _write_npz(self.path, version=np.frombuffer(self.version.encode("utf-8"), dtype=np.uint8),
                   keys=np.frombuffer(json.dumps(keys).encode("utf-8"), dtype=np.uint8),
                   ptr=np.asarray(ptr, dtype=np.int64), rows=np.concatenate(parts))
        _prune_files(self.path, "rows-")


def _prune_files(kept: Path, prefix: str) -> None:
    """Delete the files named ``<prefix>*.npz`` of ``kept``'s folder beyond the
    :data:`VERDICT_FILES_KEPT` most recently written (``kept``, just written, is never one of
    them); nothing where the folder cannot be read or a file is already gone (another
    process pruning too)."""
    try:
        files = []
        for f in kept.parent.glob(f"{prefix}*.npz"):
            if f != kept:
                files.append((f.stat().st_mtime_ns, f))
    except OSError:
        return
    files.sort(reverse=True)
    for _, f in files[VERDICT_FILES_KEPT - 1:]:
        try:
            f.unlink()
        except OSError:
            pass


_CODE_VERSION: list[str] = []


def code_version() -> str:
    """A hash of the ``constrain`` package's Python source, the Python and numpy versions
    (computed once per process): the stored verdicts name lexeme DFA states, which the
    compiler's code numbers."""
    if not _CODE_VERSION:
        h = hashlib.sha256(f"{sys.version}|numpy {np.__version__}".encode("utf-8"))  # unicodedata, sorting
        root = Path(__file__).resolve().parents[1]
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode("utf-8"))
            h.update(b"\x00")
            h.update(path.read_bytes())
        _CODE_VERSION.append(h.hexdigest())
    return _CODE_VERSION[0]


def verdict_store(tokenizer_json: str, size: int) -> VerdictStore | None:
    """The verdict store of a tokenizer (its full JSON) and vocabulary size for this code, or
    None where the store is turned off."""
    folder = _folder()
    if folder is None:
        return None
    digest = _digest(_VERDICT_VERSION, code_version(), str(size), tokenizer_json)
    return VerdictStore(folder / f"verdicts-{digest}.npz", f"{_VERDICT_VERSION}:{digest}", size)


def row_store(tokenizer_json: str, size: int, n_words: int) -> RowStore | None:
    """The row store of a tokenizer (its full JSON) and vocabulary size for this code and
    ``tokenizers`` version, or None where the store is turned off."""
    folder = _folder()
    if folder is None:
        return None
    import tokenizers

    digest = _digest(_ROW_VERSION, code_version(), tokenizers.__version__, str(size), str(n_words), tokenizer_json)
    return RowStore(folder / f"rows-{digest}.npz", f"{_ROW_VERSION}:{digest}", n_words)


def outcome_store(pre_tokenizer_json: str, class_strings: list[str]) -> OutcomeStore | None:
    """The store of a pre-tokenizer (its JSON) and class list, or None where turned off."""
    folder = _folder()
    if folder is None:
        return None
    return OutcomeStore(folder / f"{_digest(_VERSION, pre_tokenizer_json, *class_strings)}.npz", len(class_strings))


def _digest(*parts: str) -> str:
    """SHA-256 of ``parts``, each followed by a NUL byte (what names a store's file)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()
