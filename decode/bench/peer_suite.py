"""The peer suite: other engines' JSON Schema test cases, run through structgen's masks.

``shared/data/peer-suite/cases.jsonl.gz`` holds cases gathered from the test suites of
XGrammar, llguidance, outlines, guidance, llama.cpp and the JSON-Schema-Test-Suite, each a
schema, an instance *text* exactly as the peer wrote it, and the ground truth
``valid_by_jsonschema``.  Every distinct schema is compiled once
(``constrain.compile_json_schema(schema, vocab)``, default options, the Test Suite's
``remotes/`` as ``resources`` where found: ``--remotes``); every text is tokenized
canonically and walked token by token: the full mask must allow each token, and after the
last one the mask must allow EOS.  Each case ends up as one of:

``correct``        the verdict equals the ground truth;
``wrong_accept``   an invalid text was accepted (the serious kind: the guard keeps it at 0);
``wrong_reject``   a valid text was refused;
``unscored``       compiled and walked, but the case is ``ambiguous`` or has no ground truth
                   (the peers disagree on it), so its verdict counts neither way;
``compile_error``  the schema was declined with a :class:`constrain.ConstraintError`
                   (but :class:`constrain.EmptyLanguageError` is a verdict: the engine proved
                   that no text is valid, so every text counts as rejected);
``crash``          anything else was raised (compiling or walking): always a bug;
``skipped``        the text cannot be tokenized (a lone surrogate, a byte no token has).

Entry point: ``python -m decode.bench peer-suite PATH`` (or ``structgen bench peer-suite
PATH``); programmatic: :func:`run_peer_suite`.  Everything runs in this process, one schema
after the other, each compile bounded by ``time_budget_s``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .report import format_table

__all__ = [
    "OUTCOMES",
    "load_cases",
    "group_by_schema",
    "select_schemas",
    "text_accepted",
    "run_peer_suite",
    "summarize",
    "format_peer_report",
    "add_arguments",
    "main",
]

JSON_FORMAT_VERSION = 1
OUTCOMES = ("correct", "wrong_accept", "wrong_reject", "unscored", "compile_error", "crash", "skipped")


# ============================================================================ loading


def cases_file(path: str | Path) -> Path:
    """``PATH`` itself, or ``PATH/cases.jsonl.gz`` (then ``.jsonl``) when it is a folder."""
    p = Path(path)
    if p.is_dir():
        for name in ("cases.jsonl.gz", "cases.jsonl"):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"no cases.jsonl.gz or cases.jsonl in {p}")
    if not p.is_file():
        raise FileNotFoundError(f"no peer-suite cases file at {p}")
    return p


def load_cases(path: str | Path) -> list[dict]:
    """The cases, one JSON object per line (gzip-compressed when the name ends in ``.gz``)."""
    f = cases_file(path)
    opener = gzip.open if f.suffix == ".gz" else open
    with opener(f, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _schema_key(schema: Any) -> str:
    # keys keep their order: property order is part of what a peer tested
    return json.dumps(schema, ensure_ascii=False)


def group_by_schema(cases: Iterable[dict]) -> list[tuple[Any, list[dict]]]:
    """``(schema, its cases)`` per distinct schema, in order of first appearance."""
    groups: dict[str, tuple[Any, list[dict]]] = {}
    for c in cases:
        groups.setdefault(_schema_key(c["schema"]), (c["schema"], []))[1].append(c)
    return list(groups.values())


def _scored(case: dict) -> bool:
    return isinstance(case.get("valid_by_jsonschema"), bool) and not case.get("ambiguous")


def select_schemas(groups: Sequence[tuple[Any, list[dict]]], which: str) -> list[tuple[Any, list[dict]]]:
    """``all`` the groups, or only those with an ``invalid`` scored case: the schemas where a
    wrong accept can happen at all (a deterministic subset for quick guards)."""
    if which == "all":
        return list(groups)
    if which == "invalid":
        return [g for g in groups if any(_scored(c) and not c["valid_by_jsonschema"] for c in g[1])]
    raise ValueError(f"unknown schema selection {which!r} (all | invalid)")


# ============================================================================ walking


def _bit(mask: np.ndarray, t: int) -> bool:
    return bool((int(mask.view(np.uint32)[t >> 5]) >> (t & 31)) & 1)


def text_accepted(compiled, ids: Sequence[int], eos_ids: Sequence[int]) -> bool:
    """Whether a fresh matcher takes ``ids`` as a finished output: before each token its
    full mask allows it, and after the last one the mask allows an EOS token."""
    m = compiled.matcher()
    for t in ids:
        if not _bit(m.mask(), t) or not m.advance(t):
            return False
    mask = m.mask()
    return any(_bit(mask, e) for e in eos_ids)


# ============================================================================ running


def run_peer_suite(path: str | Path | None = None, *, cases: Sequence[dict] | None = None,
                   tokenizer: str = "smollm2", schemas: str = "all", time_budget_s: float = 20.0,
                   lenient: bool = False, resources: dict | None = None, progress: bool = False, log: Callable[[str], None] | None = None) -> dict:
    """Compile each distinct schema once and walk each of its texts; returns the payload
    (``config``, ``summary``, one ``results`` row per case) that ``--json`` writes.
    ``lenient=True`` compiles with ``lenient=True`` (the opt-in supersets: A-labels by syntax,
    unenforceable keywords dropped): its wrong accepts are those of that documented reading.
    ``resources``: documents remote ``$ref`` may name (the Test Suite's ``remotes/``, whose
    cases here carry the suite's own labels), given to ``compile_json_schema``."""
    import constrain

    from .engines import load_bench_tokenizer

    say = log or (lambda s: print(s, file=sys.stderr, flush=True))
    if cases is None:
        if path is None:
            raise ValueError("run_peer_suite needs a path or cases")
        cases = load_cases(path)
    groups = select_schemas(group_by_schema(cases), schemas)
    tok = load_bench_tokenizer(tokenizer)
    vocab = tok.vocab
    eos = [int(e) for e in vocab.eos_ids]
    results: list[dict] = []
    compile_s: list[float] = []
    t0 = time.perf_counter()
    for gi, (schema, group) in enumerate(groups):
        row_base = [{"id": c.get("id"), "source": c.get("source"), "test": c.get("test"),
                     "valid": c.get("valid_by_jsonschema"), "scored": _scored(c)} for c in group]
        tc = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ignored annotations (unknown formats...) are not verdicts
                compiled = constrain.compile_json_schema(schema, vocab, time_budget_s=time_budget_s,
                                                         lenient=lenient, resources=resources)
        except constrain.EmptyLanguageError:
            # a verdict, not a refusal: the engine proved that no text is valid (``false``,
            # ``not: {}``, an empty ``enum``...), so every text is rejected
            for c, r in zip(group, row_base):
                outcome = "unscored" if not r["scored"] else "wrong_reject" if r["valid"] else "correct"
                row = {**r, "outcome": outcome, "accepted": False, "empty_language": True}
                if outcome == "wrong_reject":
                    row["text"] = c["text"][:400]
                results.append(row)
            continue
        except constrain.ConstraintError as ex:
            err = {"class": type(ex).__name__, "message": str(ex)[:300]}
            results += [{**r, "outcome": "compile_error", "error": err} for r in row_base]
            continue
        except Exception as ex:  # noqa: BLE001 - the guard reports crashes, it does not raise them
            err = {"class": type(ex).__name__, "message": str(ex)[:300], "phase": "compile"}
            results += [{**r, "outcome": "crash", "error": err} for r in row_base]
            continue
        finally:
            compile_s.append(time.perf_counter() - tc)
        for c, r in zip(group, row_base):
            try:
                ids = vocab.encode(c["text"])
            except (ValueError, UnicodeError) as ex:
                results.append({**r, "outcome": "skipped", "error": {"class": type(ex).__name__,
                                                                     "message": str(ex)[:200]}})
                continue
            try:
                accepted = text_accepted(compiled, ids, eos)
            except Exception as ex:  # noqa: BLE001
                results.append({**r, "outcome": "crash", "error": {"class": type(ex).__name__,
                                                                   "message": str(ex)[:300], "phase": "walk"}})
                continue
            if not r["scored"]:
                outcome = "unscored"
            elif accepted == r["valid"]:
                outcome = "correct"
            else:
                outcome = "wrong_accept" if accepted else "wrong_reject"
            row = {**r, "outcome": outcome, "accepted": accepted}
            if outcome in ("wrong_accept", "wrong_reject"):
                row["text"] = c["text"][:400]
            results.append(row)
        if progress and (gi + 1) % 100 == 0:
            say(f"[peer-suite] {gi + 1}/{len(groups)} schemas, {time.perf_counter() - t0:.0f} s")
    wall = time.perf_counter() - t0
    config = {"path": None if path is None else str(path), "tokenizer": tokenizer, "vocab_size": tok.size,
              "lenient": lenient, "remotes": len(resources or {}),
              "schemas": schemas, "time_budget_s": time_budget_s, "n_schemas": len(groups),
              "python": sys.version.split()[0], "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    summary = summarize(results)
    summary["wall_s"] = round(wall, 2)
    summary["compile_s_max"] = round(max(compile_s, default=0.0), 3)
    return {"format": JSON_FORMAT_VERSION, "kind": "peer-suite", "config": config,
            "summary": summary, "results": results}


# ============================================================================ summary


def summarize(results: Sequence[dict]) -> dict:
    """Case counts per outcome; ``compiled``: cases whose schema compiled; compile errors and
    crashes by exception class; the ids of the wrong accepts, wrong rejects and crashes."""
    n = Counter(r["outcome"] for r in results)
    return {
        "cases": len(results),
        "scored": sum(bool(r.get("scored")) for r in results),
        "compiled": len(results) - n["compile_error"] - sum(r.get("error", {}).get("phase") == "compile"
                                                             for r in results if r["outcome"] == "crash"),
        **{o: n[o] for o in OUTCOMES},
        "compile_errors_by_class": dict(sorted(Counter(r["error"]["class"] for r in results
                                                       if r["outcome"] == "compile_error").items())),
        "crashes_by_class": dict(sorted(Counter(r["error"]["class"] for r in results
                                                if r["outcome"] == "crash").items())),
        "wrong_accept_ids": [r["id"] for r in results if r["outcome"] == "wrong_accept"],
        "wrong_reject_ids": [r["id"] for r in results if r["outcome"] == "wrong_reject"],
        "crash_ids": [r["id"] for r in results if r["outcome"] == "crash"],
    }


def format_peer_report(payload: dict, *, markdown: bool = True, max_items: int = 50) -> str:
    """The counts table, compile errors by class, then the wrong accepts (and rejects) listed."""
    cfg, s = payload["config"], payload["summary"]
    out = [f"peer suite {cfg.get('path')}: {s['cases']} cases ({s['scored']} scored: not ambiguous), "
           f"{cfg.get('n_schemas')} schemas ({cfg.get('schemas')}); tokenizer {cfg.get('tokenizer')} "
           f"({cfg.get('vocab_size')} ids){'; lenient=True' if cfg.get('lenient') else ''}"
           f"{'; %d remote documents served' % cfg['remotes'] if cfg.get('remotes') else ''}; "
           f"{s.get('wall_s')} s", ""]
    out.append(format_table(
        ["engine", "cases", "compiled", "wrong accepts", "wrong rejects", "compile errors", "crashes", "skipped"],
        [["structgen", f"{s['cases']:,}", f"{s['compiled']:,}", s["wrong_accept"], s["wrong_reject"],
          s["compile_error"], s["crash"], s["skipped"]]], markdown=markdown))
    if s["compile_errors_by_class"] or s["crashes_by_class"]:
        out += ["", format_table(["error class", "cases"],
                                 [[k, v] for k, v in s["compile_errors_by_class"].items()]
                                 + [[f"{k} (crash)", v] for k, v in s["crashes_by_class"].items()],
                                 markdown=markdown)]
    by_id = {r["id"]: r for r in payload["results"]}
    for label, key in (("WRONG ACCEPTS (invalid text accepted)", "wrong_accept_ids"),
                       ("crashes", "crash_ids"), ("wrong rejects (valid text refused)", "wrong_reject_ids")):
        ids = s[key]
        if not ids:
            continue
        out += ["", f"{label}: {len(ids)}"]
        for i in ids[:max_items]:
            r = by_id[i]
            what = r.get("text", "") if "text" in r else r.get("error", {}).get("message", "")
            out.append(f"  #{i} {r.get('source')} {r.get('test')!r}  | {what[:100]!r}")
        if len(ids) > max_items:
            out.append(f"  ... {len(ids) - max_items} more (see the JSON file)")
    return "\n".join(out)


# ============================================================================ CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="the cases file (cases.jsonl.gz) or the folder holding it")
    p.add_argument("--tokenizer", default="smollm2", help="smollm2 | tekken | mistral (| bytes, for tests)")
    p.add_argument("--schemas", default="all", choices=("all", "invalid"),
                   help="all schemas, or only those with an invalid case (where a wrong accept can happen)")
    p.add_argument("--time-budget", type=float, default=20.0, help="seconds per schema compile")
    p.add_argument("--json", dest="json_out", default=None, help="write the summary and every case's outcome here")
    p.add_argument("--text", action="store_true", help="plain-text tables instead of Markdown")
    p.add_argument("--max-items", type=int, default=50, help="cases listed per failure kind")
    p.add_argument("--remotes", default="auto", metavar="DIR",
                   help="serve DIR's *.json at http://localhost:1234/ (the Test Suite's remotes/, whose cases "
                   "the suite holds); auto: ../json-schema-test-suite/remotes beside the cases folder; none: off")
    p.add_argument("--lenient", action="store_true",
                   help="compile with lenient=True (opt-in supersets: A-labels by syntax, unenforceable keywords dropped)")
    p.add_argument("--no-progress", action="store_true")


def _remotes_arg(value: str, cases_path: str) -> dict | None:
    from .test_suite import remotes_from_folder

    if value == "none":
        return None
    if value == "auto":
        p = Path(cases_path)
        folder = (p if p.is_dir() else p.parent).parent / "json-schema-test-suite" / "remotes"
        return remotes_from_folder(folder) or None
    if not Path(value).is_dir():
        raise SystemExit(f"--remotes: no folder {value}")
    return remotes_from_folder(value)


def main(argv: Sequence[str] | None = None, args: argparse.Namespace | None = None) -> int:
    """Prints the report; exit status 1 when an invalid text was accepted or something crashed."""
    if args is None:
        p = argparse.ArgumentParser(prog="python -m decode.bench peer-suite", description=__doc__.split("\n")[0])
        add_arguments(p)
        args = p.parse_args(argv)
    payload = run_peer_suite(args.path, tokenizer=args.tokenizer, schemas=args.schemas,
                             time_budget_s=args.time_budget, lenient=args.lenient,
                             resources=_remotes_arg(args.remotes, args.path), progress=not args.no_progress)
    print(format_peer_report(payload, markdown=not args.text, max_items=args.max_items))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"\nraw results: {args.json_out}")
    s = payload["summary"]
    return 1 if s["wrong_accept"] or s["crash"] else 0
