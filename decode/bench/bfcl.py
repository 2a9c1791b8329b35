"""``structgen bench bfcl``: function calling on the Berkeley Function Calling Leaderboard's
non-live categories, constrained vs unconstrained, with BFCL's own data and AST checker.

Why: the claim of :mod:`decode.tools` is that every call parses and validates against its tool's
schema; this measures it on someone else's cases and scores the calls with someone else's
checker. Per category and mode: the calls emitted, the share that parse *and* validate against
the tool's JSON schema (target: 100% constrained), BFCL's AST accuracy, and the tokens and
seconds per case.

Both modes get the same prompt (:func:`decode.tools.turn.prompt_messages`: the tools listed in
the Hermes system prompt for a template without tool support) and the same envelope; the
constrained mode generates under the turn's grammar, the unconstrained one freely, and both are
read back by the same lenient parser. ``--tool-choice required`` (the default) starts both with
a call: the constrained turn through its grammar, the unconstrained one by ending its prompt with
the trigger (``<tool_call>``), which the grammar forces anyway. ``--parallel by-category``
(the default) allows several calls only in the ``parallel*`` categories (``parallel_tool_calls``;
the unconstrained mode stops at the first ``</tool_call>`` elsewhere). ``irrelevance`` (no function fits;
correct means no call) always runs with ``"auto"``: forcing a call there would score zero by
construction.

BFCL ships in the ``bfcl-eval`` package (``pip install 'structgen[bfcl]'``, or give its folder
with ``--bfcl-dir``). Only its data files and ``eval_checker/ast_eval`` are used, loaded from
that folder with a stand-in for its model registry (which imports every API client), so its
model-calling code is never imported. The ``live_*`` categories are refused: they are the
held-out check.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import random
import statistics
import sys
import time
import types
from pathlib import Path

__all__ = ["CATEGORIES", "add_arguments", "bfcl_tool", "load_cases", "load_checker", "main"]

#: category -> data file (BFCL v4 names); the Python "simple" set is BFCL's "simple"
CATEGORIES = {
    "simple": "BFCL_v4_simple_python.json",
    "multiple": "BFCL_v4_multiple.json",
    "parallel": "BFCL_v4_parallel.json",
    "parallel_multiple": "BFCL_v4_parallel_multiple.json",
    "irrelevance": "BFCL_v4_irrelevance.json",
}

_TYPES = {"dict": "object", "float": "number", "tuple": "array"}


def find_bfcl_dir(given: str | None) -> Path:
    """The ``bfcl_eval`` package folder: ``--bfcl-dir``, else the installed package."""
    if given:
        path = Path(given)
    else:
        spec = importlib.util.find_spec("bfcl_eval")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("structgen bench bfcl: bfcl-eval is not installed: pip install 'structgen[bfcl]' "
                             "(or pip install --no-deps bfcl-eval into any venv and pass --bfcl-dir "
                             "<its site-packages>/bfcl_eval)")
        path = Path(list(spec.submodule_search_locations)[0])
    if not (path / "data" / CATEGORIES["simple"]).is_file():
        raise SystemExit(f"structgen bench bfcl: {path} is not a bfcl_eval folder (no data/{CATEGORIES['simple']})")
    return path


def to_json_schema(s):
    """A BFCL parameter schema as JSON Schema: ``dict`` -> object, ``float`` -> number,
    ``tuple`` -> array, ``any`` -> no type; BFCL's ``optional`` flag dropped."""
    if not isinstance(s, dict):
        return s
    out = {}
    for k, v in s.items():
        if k == "optional":
            continue
        if k == "type":
            if v == "any":
                continue
            out[k] = _TYPES.get(v, v)
        elif k == "properties" and isinstance(v, dict):
            out[k] = {name: to_json_schema(p) for name, p in v.items()}
        elif k == "items":
            out[k] = to_json_schema(v)
        else:
            out[k] = v
    return out


def bfcl_tool(doc: dict) -> dict:
    """An OpenAI tool dict from a BFCL function document."""
    return {"type": "function", "function": {"name": doc["name"], "description": doc.get("description", ""),
                                             "parameters": to_json_schema(doc["parameters"])}}


def load_cases(bfcl_dir: Path, category: str, sample: int | None, seed: int = 0) -> list[dict]:
    """The category's cases (a seeded sample of ``sample`` of them, in file order), each with its
    ``ground_truth`` (none for irrelevance)."""
    def read(path: Path) -> list[dict]:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    cases = read(bfcl_dir / "data" / CATEGORIES[category])
    answers_path = bfcl_dir / "data" / "possible_answer" / CATEGORIES[category]
    if answers_path.is_file():
        answers = {a["id"]: a["ground_truth"] for a in read(answers_path)}
        for c in cases:
            c["ground_truth"] = answers[c["id"]]
    if sample is not None and sample < len(cases):
        keep = set(random.Random(seed).sample(range(len(cases)), sample))
        cases = [c for i, c in enumerate(cases) if i in keep]
    return cases


class _AnyModel(dict):
    """Stand-in for BFCL's MODEL_CONFIG_MAPPING: our tool names keep their dots."""

    def __missing__(self, key):
        return types.SimpleNamespace(underscore_to_dot=False)


def load_checker(bfcl_dir: Path):
    """``(ast_checker, Language)`` from BFCL's ``eval_checker/ast_eval``, imported from
    ``bfcl_dir`` without its package ``__init__`` files or its model registry."""
    for name, sub in (("bfcl_eval", ""), ("bfcl_eval.constants", "constants"),
                      ("bfcl_eval.eval_checker", "eval_checker"),
                      ("bfcl_eval.eval_checker.ast_eval", "eval_checker/ast_eval"),
                      ("bfcl_eval.eval_checker.ast_eval.type_convertor", "eval_checker/ast_eval/type_convertor")):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(bfcl_dir / sub) if sub else str(bfcl_dir)]
        sys.modules[name] = pkg
    registry = types.ModuleType("bfcl_eval.constants.model_config")
    registry.MODEL_CONFIG_MAPPING = _AnyModel()
    sys.modules[registry.__name__] = registry
    checker = importlib.import_module("bfcl_eval.eval_checker.ast_eval.ast_checker")
    enums = importlib.import_module("bfcl_eval.constants.enums")
    return checker.ast_checker, enums.Language


def _score(case: dict, category: str, text: str, tools: list, envelope, ast_checker, language) -> dict:
    """Calls emitted, valid calls (parse + known name + arguments valid under the schema), AST."""
    import jsonschema

    _, parsed = envelope.parse(text)
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    valid = 0
    for c in parsed:
        if c.error is None and c.name in schemas:
            try:
                jsonschema.validate(c.arguments, schemas[c.name])
                valid += 1
            except jsonschema.ValidationError:
                pass
            except jsonschema.SchemaError:
                pass
    if category == "irrelevance":
        ast_ok = not any(c.error is None for c in parsed)
    elif not parsed or any(c.error is not None for c in parsed):
        ast_ok = False
    else:
        out = [{c.name: c.arguments} for c in parsed]
        try:
            verdict = ast_checker(case["function"], out, case["ground_truth"], language.PYTHON, category, "structgen")
            ast_ok = bool(verdict["valid"])
        except Exception:  # noqa: BLE001 - a checker crash on odd output counts as wrong
            ast_ok = False
    return {"calls": len(parsed), "valid_calls": valid, "ast": ast_ok}


def run_case(model, tok, case: dict, category: str, constrained: bool, choice: str, max_new_tokens: int,
             envelope, ast_checker, language, parallel: bool = True) -> dict:
    from decode import generate
    from decode.tools.turn import chat, prompt_messages
    from decode.tools.schemas import as_tools

    tools = [bfcl_tool(f) for f in case["function"]]
    messages = case["question"][0]
    t0 = time.perf_counter()
    rec = {"id": case["id"], "category": category, "mode": "constrained" if constrained else "unconstrained",
           "tool_choice": choice, "parallel": parallel}
    try:
        if constrained:
            _, res = chat(model, tok, messages, tools=tools, tool_choice=choice, temperature=0,
                          parallel_tool_calls=parallel, max_new_tokens=max_new_tokens, return_result=True,
                          envelope=envelope)
            text = res.text
        else:
            msgs = prompt_messages(messages, as_tools(tools), envelope, native=False)
            prompt = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
            prefix = envelope.trigger if choice == "required" else ""
            # one call allowed: the text ends with the first call's closing tag, as the grammar's does
            stop = None if parallel else "</tool_call>"
            res = generate(model, tok, prompt + prefix, None, temperature=0, max_new_tokens=max_new_tokens, stop=stop)
            text = prefix + res.text + ("</tool_call>" if res.stop_reason == "stop" else "")
    except Exception as e:  # noqa: BLE001 - e.g. a schema the compiler refuses: reported, not fatal
        rec.update(error=f"{type(e).__name__}: {e}"[:300], calls=0, valid_calls=0, ast=False, tokens=0,
                   seconds=time.perf_counter() - t0, text="")
        return rec
    rec.update(_score(case, category, text, tools, envelope, ast_checker, language))
    rec.update(tokens=len(res.token_ids), seconds=time.perf_counter() - t0, text=text, error=None,
               compile_s=res.timings.get("compile_s", 0.0))
    return rec


def summarize(records: list[dict]) -> list[dict]:
    rows = []
    keys = []
    for r in records:
        k = (r["category"], r["mode"], r["tool_choice"])
        if k not in keys:
            keys.append(k)
    for k in keys:
        rs = [r for r in records if (r["category"], r["mode"], r["tool_choice"]) == k]
        calls = sum(r["calls"] for r in rs)
        valid = sum(r["valid_calls"] for r in rs)
        rows.append({"category": k[0], "mode": k[1], "tool_choice": k[2], "cases": len(rs),
                     "errors": sum(r["error"] is not None for r in rs), "calls": calls,
                     "valid_pct": 100.0 * valid / calls if calls else float("nan"),
                     "ast_pct": 100.0 * sum(r["ast"] for r in rs) / len(rs),
                     "tokens": statistics.median(r["tokens"] for r in rs),
                     "seconds": statistics.median(r["seconds"] for r in rs)})
    return rows


def format_table(rows: list[dict]) -> str:
    head = ("| category | tool_choice | mode | cases | calls | calls parse + valid | AST accuracy "
            "| tokens / case (median) | s / case (median) |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        valid = "-" if r["calls"] == 0 else f"{r['valid_pct']:.0f}%"
        err = f" ({r['errors']} errors)" if r["errors"] else ""
        lines.append(f"| {r['category']} | {r['tool_choice']} | {r['mode']} | {r['cases']}{err} | {r['calls']} | "
                     f"{valid} | {r['ast_pct']:.0f}% | {r['tokens']:.0f} | {r['seconds']:.1f} |")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bfcl-dir", default=None, help="the bfcl_eval package folder (default: the installed bfcl-eval)")
    p.add_argument("--categories", default=",".join(CATEGORIES),
                   help=f"comma-separated, from {', '.join(CATEGORIES)} (live categories are held out)")
    p.add_argument("--sample", type=int, default=10, metavar="N", help="cases per category, a seeded sample (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    p.add_argument("--tool-choice", choices=("required", "auto"), default="required",
                   help="for the call categories (irrelevance always runs with auto); default: required")
    p.add_argument("--parallel", choices=("by-category", "always", "never"), default="by-category",
                   help="parallel_tool_calls: by-category (the default) allows several calls in the parallel "
                        "categories only; the unconstrained mode stops at the first </tool_call> where one is allowed")
    p.add_argument("--modes", default="constrained,unconstrained", help="constrained, unconstrained or both")
    p.add_argument("--max-new-tokens", type=int, default=128, metavar="N")
    p.add_argument("--model", default="default", help="'default' (SmolLM2-135M-Instruct) or an HF id / path")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", default=None, metavar="FILE", help="write every case's record here")
    p.add_argument("--show", type=int, default=0, metavar="N", help="print the first N outputs of each row")


def main(args: argparse.Namespace) -> int:
    cats = [c.strip() for c in args.categories.split(",") if c.strip()]
    for c in cats:
        if c.startswith("live"):
            print(f"structgen bench bfcl: {c} is a live category, held out of development", file=sys.stderr)
            return 2
        if c not in CATEGORIES:
            print(f"structgen bench bfcl: unknown category {c!r} (one of {', '.join(CATEGORIES)})", file=sys.stderr)
            return 2
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("constrained", "unconstrained") for m in modes):
        print(f"structgen bench bfcl: --modes takes constrained and/or unconstrained, got {args.modes!r}", file=sys.stderr)
        return 2
    bfcl_dir = find_bfcl_dir(args.bfcl_dir)
    ast_checker, language = load_checker(bfcl_dir)
    import torch

    import decode
    from decode.tools.envelopes import ENVELOPES

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = (decode.load_default_model() if args.model == "default" else decode.load_model(args.model))
    envelope = ENVELOPES["hermes"]
    records: list[dict] = []
    t_start = time.perf_counter()
    for cat in cats:
        cases = load_cases(bfcl_dir, cat, args.sample, args.seed)
        choice = "auto" if cat == "irrelevance" else args.tool_choice
        for mode in modes:
            for case in cases:
                parallel = {"always": True, "never": False}.get(args.parallel, cat.startswith("parallel"))
                rec = run_case(model, tok, case, cat, mode == "constrained", choice, args.max_new_tokens,
                               envelope, ast_checker, language, parallel=parallel)
                records.append(rec)
                print(f"[{time.perf_counter() - t_start:7.0f}s] {cat} {mode} {case['id']}: calls={rec['calls']} "
                      f"valid={rec['valid_calls']} ast={rec['ast']} {rec['seconds']:.1f}s"
                      + (f" error={rec['error']}" if rec["error"] else ""), file=sys.stderr, flush=True)
    rows = summarize(records)
    print(format_table(rows))
    if args.show:
        for r in rows:
            shown = [x for x in records if (x["category"], x["mode"]) == (r["category"], r["mode"])][:args.show]
            for x in shown:
                print(f"{x['id']} {x['mode']}: {x['text'][:200]!r}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"kind": "bfcl", "args": vars(args), "sample_ids": sorted({r["id"] for r in records}),
                       "rows": rows, "records": records}, f, indent=1, default=str)
    return 0
