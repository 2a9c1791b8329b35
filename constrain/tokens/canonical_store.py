"""The canonical filter's pre-tokenizer outcomes, kept on disk per pre-tokenizer.

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
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["CAN_JOIN", "CAN_SPLIT", "DONE", "END_JOIN", "END_SPLIT", "STORE_BYTES", "OutcomeStore",
           "outcome_store"]

#: bits of one stored byte: the four outcome flags of :meth:`CanonicalFilter._outcome_row`
#: and whether the pair was judged at all
CAN_SPLIT, CAN_JOIN, END_SPLIT, END_JOIN, DONE = 1, 2, 4, 8, 16
#: bytes the stored table may hold (SmolLM2: 670 classes, so ~25,000 outcome keys)
STORE_BYTES = 16 << 20
_VERSION = "canonical-outcomes-1"


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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.savez(fh, keys=np.frombuffer(keys, dtype=np.uint8), codes=codes)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return


def outcome_store(pre_tokenizer_json: str, class_strings: list[str]) -> OutcomeStore | None:
    """The store of a pre-tokenizer (its JSON) and class list, or None where turned off."""
    where = os.environ.get("STRUCTGEN_CANONICAL_STORE", "")
    if where == "0":
        return None
    if where and where != "1":
        folder = Path(where).expanduser()
    else:
        from ..tokenizers import cache_root

        folder = cache_root() / "canonical"

    h = hashlib.sha256()
    for part in (_VERSION, pre_tokenizer_json, *class_strings):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return OutcomeStore(folder / f"{h.hexdigest()}.npz", len(class_strings))
