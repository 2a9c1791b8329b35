"""``python -m decode.bench serve``: ``structgen serve`` under 1, 4 and 16 concurrent clients,
constrained (``response_format`` JSON schemas) against unconstrained, same prompts.

Why: the two claims of the server are "batching works" (many clients get more tokens per
second than one) and "constraints cost next to nothing" (masks are precomputed lookups, the
per-row matcher work is small beside a forward pass).  The server runs in its own process
(``python -m decode.cli serve``, so the clients' Python does not share its interpreter); each
client sends its requests one after another over HTTP, all clients at once.  Per concurrency
the constrained and unconstrained runs alternate (``--reps`` each), so machine load drifts
alike for both.  Reported: completed requests/s, generated tokens/s (the server's ``usage``), p50/p99
request latency, rows per decoding step and tokens per CPU second of the server process
(both from ``/health``: on a shared machine CPU time is inflated far less by other load than
wall time is), and the ratios the targets
name: constrained/unconstrained tokens/s at each concurrency, and N clients' tokens/s over
one client's.  The schemas' instances are longer than ``max_tokens`` (a long text, a long
list), so constrained requests run to ``max_tokens`` like free answers do and both modes
generate about the same tokens per request (``tok/req``); both ratios are of tokens/s.
Requests are sent with ``finish_within_budget: false``: the model writes every token.

``--speculative``: the server runs with ``--speculative`` and the two modes compared are
constrained requests decoded plainly (``"speculative": false``) and speculatively (the same
requests, ``"speculative": true``); the ratio column is then speculative over plain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time

from .report import format_table

__all__ = ["SCHEMAS", "add_arguments", "main"]

#: the constrained workload: extraction-style objects, each with a long part (a text of at least
#: 300 characters, a list of at least 12 items), so that a constrained request, like a free
#: answer, runs to ``max_tokens`` and both modes generate about the same tokens per request
SCHEMAS = [
    {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                      "biography": {"type": "string", "minLength": 300}},
     "required": ["name", "age", "biography"], "additionalProperties": False},
    {"type": "object", "properties": {"title": {"type": "string"}, "year": {"type": "integer"},
                                      "cast": {"type": "array", "items": {"type": "string"}, "minItems": 12}},
     "required": ["title", "year", "cast"], "additionalProperties": False},
    {"type": "object", "properties": {"product": {"type": "string"}, "price": {"type": "number"},
                                      "features": {"type": "array", "items": {"type": "string"}, "minItems": 12}},
     "required": ["product", "price", "features"], "additionalProperties": False},
    {"type": "object", "properties": {"sentiment": {"enum": ["positive", "negative", "neutral"]},
                                      "review": {"type": "string", "minLength": 300}},
     "required": ["sentiment", "review"], "additionalProperties": False},
]
PROMPTS = [
    "Describe a person who lives in a big city, as JSON.",
    "Tell me about a classic film, as JSON.",
    "Describe a product in an online shop, as JSON.",
    "Review a restaurant you visited, as JSON.",
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="default", help="'default' (SmolLM2-135M-Instruct), an HF id or a local path")
    p.add_argument("--clients", default="1,4,16", help="concurrency levels (default: 1,4,16)")
    p.add_argument("--requests", type=int, default=4, help="requests per client (default: 4)")
    p.add_argument("--max-tokens", type=int, default=48, help="max_tokens of each request (default: 48)")
    p.add_argument("--reps", type=int, default=2, help="runs of each setting, modes alternating (default: 2)")
    p.add_argument("--max-batch", type=int, default=16, help="the server's --max-batch (default: 16)")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--threads", type=int, default=None, help="the server's torch CPU threads")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--speculative", action="store_true",
                   help="compare constrained requests decoded speculatively against the same decoded plainly "
                        "(instead of constrained against unconstrained)")
    p.add_argument("--speculative-disable-batch", type=int, default=None, metavar="N",
                   help="with --speculative: the server's --speculative-disable-batch (passes of N rows or more "
                        "draft for none)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")


def _server(args, port: int):
    """The benchmarked ``structgen serve``, in a child process (its output goes to this one's)."""
    from decode.serve import ServerProcess

    cmd = [sys.executable, "-m", "decode.cli", "serve", "--model", args.model, "--port", str(port),
           "--max-batch", str(args.max_batch), "--log-level", "warning"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if getattr(args, "speculative", False):
        cmd += ["--speculative"]
        if getattr(args, "speculative_disable_batch", None):
            cmd += ["--speculative-disable-batch", str(args.speculative_disable_batch)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    return ServerProcess(cmd, port, env=env)


def _modes(args) -> tuple[str, str]:
    """(baseline, compared) modes of the run."""
    return ("plain", "speculative") if getattr(args, "speculative", False) else ("unconstrained", "constrained")


def _body(model: str, i: int, mode: str, args) -> dict:
    constrained = mode != "unconstrained"
    k = i % len(PROMPTS)
    body = {"model": model, "messages": [{"role": "user", "content": PROMPTS[k]}], "max_tokens": args.max_tokens,
            "temperature": args.temperature, "seed": i,
            # the model writes every token (the server's default for constrained rows lets the
            # grammar close an output whose budget runs short, which would skip passes)
            "finish_within_budget": False}
    if constrained:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": f"s{k}", "schema": SCHEMAS[k]}}
    if mode in ("plain", "speculative"):
        body["speculative"] = mode == "speculative"
    return body


def _pool(runs: list[dict]) -> dict:
    """The repetitions of one setting as one row: totals over total seconds, pooled latencies."""
    lat = [x for r in runs for x in r["latencies"]]
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
    secs, toks, reqs = sum(r["seconds"] for r in runs), sum(r["tokens"] for r in runs), len(lat)
    steps = sum(r["steps"] for r in runs)
    return {"mode": runs[0]["mode"], "clients": runs[0]["clients"], "reps": len(runs), "requests": reqs,
            "errors": sum(r["errors"] for r in runs), "error_samples": [e for r in runs for e in r["error_samples"]][:3],
            "seconds": secs, "req_s": reqs / secs, "tokens": toks, "tok_s": toks / secs,
            "tok_per_req": toks / max(1, reqs), "p50_s": q[49], "p99_s": q[98],
            "rows_per_step": sum(r["rows_per_step"] * r["steps"] for r in runs) / steps if steps else 0.0,
            "tok_s_per_rep": [r["tok_s"] for r in runs],
            "cpu_s": sum(r["cpu_s"] for r in runs), "tok_per_cpu_s": toks / max(1e-9, sum(r["cpu_s"] for r in runs))}


async def _level(client, base: str, model: str, n_clients: int, mode: str, args) -> dict:
    constrained = mode != "unconstrained"
    lat, toks, errors = [], [], []
    before = (await client.get(base + "/health")).json()["stats"]

    async def user(c: int):
        for k in range(args.requests):
            t0 = time.perf_counter()
            r = await client.post(base + "/v1/chat/completions", json=_body(model, c * args.requests + k,
                                                                           mode, args))
            lat.append(time.perf_counter() - t0)
            if r.status_code != 200:
                errors.append(r.text[:200])
                continue
            out = r.json()
            toks.append(out["usage"]["completion_tokens"])
            choice = out["choices"][0]
            if constrained and choice["finish_reason"] == "stop":  # a finished output must parse
                try:
                    json.loads(choice["message"]["content"])
                except json.JSONDecodeError:
                    errors.append("invalid JSON: " + choice["message"]["content"][:80])

    t0 = time.perf_counter()
    await asyncio.gather(*(user(c) for c in range(n_clients)))
    wall = time.perf_counter() - t0
    after = (await client.get(base + "/health")).json()["stats"]
    steps = after["steps"] - before["steps"]
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
    return {"mode": mode, "clients": n_clients, "requests": len(lat),
            "errors": len(errors), "error_samples": errors[:3], "seconds": wall, "req_s": len(lat) / wall,
            "tokens": sum(toks), "tok_s": sum(toks) / wall, "tok_per_req": sum(toks) / max(1, len(toks)), "p50_s": q[49], "p99_s": q[98],
            "rows_per_step": (after["row_steps"] - before["row_steps"]) / steps if steps else 0.0,
            "steps": steps, "latencies": lat, "cpu_s": after["cpu_s"] - before["cpu_s"]}


async def _run(args) -> list[dict]:
    import httpx

    from decode.serve import free_port

    with _server(args, args.port or free_port()) as server:
        base = server.base_url
        await asyncio.to_thread(server.wait_healthy)
        async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=256)) as client:
            model = (await client.get(base + "/v1/models")).json()["data"][0]["id"]
            # warm-up, not timed: each schema compiled and its first masks built, the model's first passes
            base_mode, other = _modes(args)
            for mode in (other, base_mode):
                await asyncio.gather(*(client.post(base + "/v1/chat/completions",
                                                   json=_body(model, i, mode, args))
                                       for i in range(len(PROMPTS))))
            rows = []
            for n in [int(x) for x in args.clients.split(",") if x.strip()]:
                runs = {base_mode: [], other: []}
                for rep in range(args.reps):  # alternating order: drift in machine load hits both modes alike
                    for mode in ((base_mode, other) if rep % 2 == 0 else (other, base_mode)):
                        run = await _level(client, base, model, n, mode, args)
                        print(f"  {run['mode']:>13} x{n} rep {rep}: {run['req_s']:.2f} req/s, {run['tok_s']:.1f} "
                              f"tok/s, {run['tok_per_req']:.1f} tok/req, p50 {run['p50_s']:.2f} s, "
                              f"{run['rows_per_step']:.1f} rows/step, {run['tokens'] / max(1e-9, run['cpu_s']):.1f} "
                              f"tok/cpu-s"
                              + (f", {run['errors']} errors" if run["errors"] else ""), file=sys.stderr, flush=True)
                        runs[mode].append(run)
                rows += [_pool(runs[base_mode]), _pool(runs[other])]
            return rows


def format_rows(rows: list[dict], markdown: bool = False) -> str:
    low = min(x["clients"] for x in rows)
    base_mode = "plain" if any(x["mode"] == "plain" for x in rows) else "unconstrained"
    table = []
    for r in rows:
        free = next((x for x in rows if x["mode"] == base_mode and x["clients"] == r["clients"]), None)
        one = next((x for x in rows if x["mode"] == r["mode"] and x["clients"] == low), None)

        def ratio(key, base):
            return f"{r[key] / base[key]:.2f}" if base is not None and base[key] else ""

        table.append([r["mode"], r["clients"], r["requests"], r["errors"], f"{r['tok_per_req']:.1f}",
                      f"{r['req_s']:.2f}", f"{r['tok_s']:.1f}", f"{r['p50_s']:.2f}", f"{r['p99_s']:.2f}",
                      f"{r['rows_per_step']:.1f}", f"{r['tok_per_cpu_s']:.1f}",
                      ratio("tok_s", free), ratio("tok_per_cpu_s", free), ratio("tok_s", one), ratio("tok_per_cpu_s", one)])
    return format_table(["mode", "clients", "requests", "errors", "tok/req", "req/s", "tok/s", "p50 s", "p99 s",
                         "rows/step", "tok/cpu-s", f"vs {'plain' if base_mode == 'plain' else 'unconstr.'} (tok/s)",
                         "(tok/cpu-s)", f"vs {low} client (tok/s)",
                         "(tok/cpu-s)"], table, markdown=markdown)


def main(args) -> int:
    try:
        import httpx  # noqa: F401
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        print(f"structgen bench serve: needs the serve extra and httpx (pip install 'structgen[serve,test]'): {e}",
              file=sys.stderr)
        return 2
    import signal

    def _terminate(signum, frame):  # a killed benchmark still stops its server (the finally in _run)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    rows = asyncio.run(_run(args))
    print(format_rows(rows, markdown=args.markdown))
    if args.json:
        from .output import write_json

        write_json(args.json, {"kind": "serve", "args": {k: v for k, v in vars(args).items()
                                                          if isinstance(v, (int, float, str, type(None)))},
                               "rows": rows}, indent=1)
    print("tok/s: generated tokens per wall-clock second; tok/cpu-s: per CPU second of the server process (all its "
          "threads), which other load on the machine inflates far less than wall time. "
          + ("vs plain: constrained requests decoded speculatively over the same decoded plainly"
             if args.speculative else "vs unconstr.: constrained over unconstrained")
          + " at the same concurrency; vs 1 client: over the same mode with one client. "
          f"Totals over {args.reps} alternating runs per setting.")
    return 1 if any(r["errors"] for r in rows) else 0
