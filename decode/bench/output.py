"""Result files of the benchmarks: atomic JSON writes, and ``--json`` / ``--resume`` paths.

Why one module: every benchmark writes its payload as JSON (the input of ``report`` and
``plots``), and the long ones (MaskBench, the test suite) write it after each schema and resume
from it; one writer and one reading of ``--resume`` keep those files alike.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

__all__ = ["load_previous", "output_path", "resume_paths", "write_json"]


def write_json(path: str | os.PathLike, payload, *, indent: int | None = None) -> None:
    """Write ``payload`` to ``path`` atomically (a temporary file, then a rename): a run killed
    mid-write leaves the previous file whole, which ``--resume`` relies on."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, ensure_ascii=False, indent=indent,
                  separators=None if indent is not None else (",", ":"))
    os.replace(tmp, p)


def resume_paths(resume: str | None) -> list[str]:
    """``--resume`` may name several JSON files, comma-separated (e.g. engines run apart)."""
    return [p for p in (resume or "").split(",") if p]


def output_path(json_out: str | None, resume: str | None) -> str | None:
    """Where a run writes: ``--json``, else the first ``--resume`` file."""
    return json_out or next(iter(resume_paths(resume)), None)


def load_previous(resume: str | None, tokenizer: str, say: Callable[[str], None], tag: str) -> dict[str, dict[str, dict]]:
    """Per engine, the records of previous runs' JSON (``--resume``, one file or several
    comma-separated, merged: a later file adds engines and records) by key, plus its
    ``__info__`` and ``__wall__``."""
    previous: dict[str, dict[str, dict]] = {}
    for path in resume_paths(resume):
        if not Path(path).exists():
            continue
        old = json.loads(Path(path).read_text(encoding="utf-8"))
        if old.get("config", {}).get("tokenizer") != tokenizer:
            raise ValueError(f"--resume {path}: tokenizer {old.get('config', {}).get('tokenizer')!r} != {tokenizer!r}")
        for name, eng in (old.get("engines") or {}).items():
            recs = previous.setdefault(name, {})
            recs.update({r["key"]: r for r in eng.get("results", [])})
            if eng.get("info"):
                recs["__info__"] = eng["info"]
            recs["__wall__"] = recs.get("__wall__", 0.0) + (eng.get("wall_s") or 0.0)
        say(f"[{tag}] resuming from {path}: "
            + ", ".join(f"{k} {sum(not x.startswith('__') for x in v)}" for k, v in previous.items()))
    return previous
