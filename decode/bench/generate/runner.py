"""Running the benchmark: one (schema, mode) job, the worker process that holds the model,
and the run over the sample with resume, timeouts and progress."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

from ..engines import error_info
from ..maskbench import load_sample
from ..output import write_json
from ..workers import (
    WorkerProcess,
    WorkerSetupError,
    describe_exit,
    serve_jobs,
    short_traceback,
    start_worker,
)

from .backends import PromptTooLong, make_backend
from .checks import check_output
from .protocol import MODES, PROMPT_TEMPLATE, build_messages, strip_annotations
from .report import summarize_generate


JSON_FORMAT_VERSION = 1
TEXT_KEEP = 4000  # characters of each output kept in the JSON file



def _crashed(res: dict, e: BaseException) -> dict:
    """Record an exception from the backend as a crash (a MemoryError also restarts the worker)."""
    res.update(status="crash", error=error_info(e))
    res["error"]["message"] = short_traceback(e)
    if isinstance(e, MemoryError):
        res["restart"] = True
    return res


def run_job(backend, job: dict, notify: Callable[[tuple], None] | None = None) -> dict:
    """Compile (constrained), generate, parse and validate one (schema, mode).  Never raises."""
    mode, schema = job["mode"], job["schema"]
    res: dict[str, Any] = {"status": None, "phase": "compile", "compile_ms": None, "error": None,
                           "warnings": [], "restart": False}
    compiled = None
    if mode == "constrained":
        t0 = time.perf_counter_ns()
        try:
            compiled = backend.compile(schema)
        except backend.compile_errors as e:
            res.update(status="compile_error", compile_ms=(time.perf_counter_ns() - t0) / 1e6,
                       error=error_info(e))
            return res
        except Exception as e:  # noqa: BLE001 (MemoryError included: the worker restarts)
            return _crashed(res, e)
        res["compile_ms"] = (time.perf_counter_ns() - t0) / 1e6
        res["warnings"] = list(getattr(backend, "last_warnings", []) or [])
        if notify is not None:
            notify(("compiled", res["compile_ms"]))
    elif mode != "unconstrained":
        raise ValueError(f"unknown mode {mode!r}")
    res["phase"] = "generate"
    messages = build_messages(schema)
    for fit in ("annotations", "cut", None):
        try:
            out = backend.generate(messages, compiled, max_new_tokens=job["max_new_tokens"],
                                   temperature=job["temperature"], seed=job.get("seed"))
            break
        except PromptTooLong as e:
            if fit is None:
                res.update(status="prompt_too_long", prompt_tokens=e.prompt_tokens,
                           error={"class": "PromptTooLong", "keyword": None, "pointer": None, "message": str(e)})
                return res
            # the schema does not fit the context: show less of it (the constraint is unchanged)
            res["prompt_fit"] = "no annotations" if fit == "annotations" else "cut"
            if fit == "annotations":
                messages = build_messages(schema, annotations=False)
            else:
                text = json.dumps(strip_annotations(schema), ensure_ascii=False)
                keep = max(200, int(len(text) * 0.85 * e.limit / max(e.prompt_tokens, 1)) - 400)
                messages = build_messages(schema, annotations=False, max_chars=keep)
        except Exception as e:  # noqa: BLE001 (MemoryError included: the worker restarts)
            return _crashed(res, e)
    text = out.get("text", "")
    res.update({k: v for k, v in out.items() if k != "text"})
    res["text"] = text[:TEXT_KEEP]
    res["text_chars"] = len(text)
    res["phase"] = "validate"
    res.update(check_output(schema, text, mode, bool(out.get("finished"))))
    res["status"] = "ok"
    return res


# ============================================================================ worker process


def _worker_main(conn, backend_spec: str, options: dict, mem_limit: int | None,
                 stderr_path: str | None) -> None:  # pragma: no cover - subprocess
    def setup():
        backend = make_backend(backend_spec, options)
        return backend, dict(getattr(backend, "info", {}) or {})

    serve_jobs(conn, mem_limit=mem_limit, stderr_path=stderr_path, setup=setup, run=run_job)


class _ProcessRunner(WorkerProcess):
    """The backend in a worker process (model loaded once); per-job deadline; restart on
    timeout or death (alive/kill/stop from :class:`~.workers.WorkerProcess`)."""

    def __init__(self, mpctx, backend_spec: str, options: dict, mem_limit: int | None,
                 setup_timeout: float, stderr_path: str | None):
        self.proc, self.conn, self.info = start_worker(
            mpctx, _worker_main, (backend_spec, options, mem_limit, stderr_path), "bench-generate",
            setup_timeout, "generation ")

    def run(self, job: dict, timeout: float | None) -> dict:
        try:
            self.conn.send(job)
        except (BrokenPipeError, OSError):
            return self._dead(None, "compile")
        t_start = time.monotonic()
        deadline = t_start + timeout if timeout else float("inf")
        compile_ms = None
        phase = "compile" if job["mode"] == "constrained" else "generate"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                return {"status": "timeout", "phase": phase, "compile_ms": compile_ms, "error": None,
                        "restart": True, "elapsed_s": round(time.monotonic() - t_start, 3)}
            if self.conn.poll(min(left, 0.5)):
                try:
                    msg = self.conn.recv()
                except (EOFError, OSError):
                    return self._dead(compile_ms, phase)
                if msg[0] == "compiled":
                    compile_ms, phase = msg[1], "generate"
                    continue
                res = msg[1]
                res["elapsed_s"] = round(time.monotonic() - t_start, 3)
                return res
            if not self.proc.is_alive():
                if self.conn.poll(0):
                    continue
                return self._dead(compile_ms, phase)

    def _dead(self, compile_ms, phase) -> dict:
        self.proc.join(2)
        return {"status": "crash", "phase": phase, "compile_ms": compile_ms,
                "error": {"class": "WorkerDied", "keyword": None, "pointer": None,
                          "message": describe_exit(self.proc.exitcode)}, "restart": True}



class _InlineRunner:
    """A backend object in this process (tests, debugging): no deadline, no isolation."""

    def __init__(self, backend):
        self.backend = backend
        self.info = dict(getattr(backend, "info", {}) or {})

    def run(self, job: dict, timeout: float | None) -> dict:
        t0 = time.monotonic()
        res = run_job(self.backend, job)
        res["elapsed_s"] = round(time.monotonic() - t0, 3)
        return res

    def alive(self) -> bool:
        return True

    def kill(self) -> None:
        pass

    stop = kill


# ============================================================================ the run


def _record(entry, mode: str, res: dict) -> dict:
    rec = {"key": entry.key, "id": entry.id, "mode": mode}
    rec.update({k: v for k, v in res.items() if k != "restart"})
    for k in ("parses", "valid", "success", "finished"):
        rec.setdefault(k, False if k != "valid" else None)
    return rec


_CONFIG_MUST_MATCH = ("model", "backend", "max_new_tokens", "temperature", "gen_seed", "whitespace", "lenient",
                      "frequency_penalty", "finish_within_budget")


def run_generate_bench(data_dir, *, model: str = "default", modes: Sequence[str] = MODES,
                       sample: int | None = None, seed: int = 0, files_glob: str | None = None,
                       max_new_tokens: int = 512, temperature: float = 0.0, gen_seed: int | None = 0,
                       timeout: float | None = 120.0, max_prompt_tokens: int | None = None,
                       whitespace: str | None = None, lenient: bool = False, threads: int | None = None,
                       frequency_penalty: float = 0.0, finish_within_budget: bool = False, backend: Any = "hf", json_out: str | None = None, resume: str | None = None,
                       retry_timeouts: bool = False, mem_limit_gb: float | None = None,
                       start_method: str = "spawn",
                       setup_timeout: float = 900.0, progress: bool = True,
                       log: Callable[[str], None] | None = None) -> dict:
    """Run the generation benchmark; returns the payload (also written to ``json_out``).

    ``backend``: ``"hf"`` (the model, in a worker process), ``"fake"`` or ``"module:Class"``
    (in a worker process), or a backend *object* (run in this process, no timeout).
    """
    say = log or (lambda s: print(s, file=sys.stderr, flush=True))
    modes = [m for m in modes]
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown mode {m!r} (constrained, unconstrained)")
    entries = load_sample(data_dir, sample=sample, seed=seed, files_glob=files_glob)
    backend_name = backend if isinstance(backend, str) else type(backend).__name__
    config = {"data_dir": str(data_dir), "model": model, "backend": backend_name, "modes": list(modes),
              "sample": sample, "seed": seed, "files": files_glob, "n_schemas": len(entries),
              "max_new_tokens": max_new_tokens, "temperature": temperature, "gen_seed": gen_seed,
              "timeout_s": timeout, "max_prompt_tokens": max_prompt_tokens, "whitespace": whitespace,
              "frequency_penalty": frequency_penalty, "finish_within_budget": finish_within_budget,
              "lenient": lenient, "prompt_template": [dict(m) for m in PROMPT_TEMPLATE],
              "python": sys.version.split()[0], "cpu_count": os.cpu_count(),
              "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    payload: dict[str, Any] = {"kind": "generate", "format": JSON_FORMAT_VERSION, "config": config,
                               "info": {}, "results": [], "worker_starts": 0}
    done: dict[tuple[str, str], dict] = {}
    wall0 = 0.0
    if resume and Path(resume).exists():
        old = json.loads(Path(resume).read_text(encoding="utf-8"))
        oc = old.get("config", {})
        for k in _CONFIG_MUST_MATCH:
            if oc.get(k) != config[k]:
                raise ValueError(f"--resume {resume}: {k} {oc.get(k)!r} != {config[k]!r}")
        done = {(r["key"], r["mode"]): r for r in old.get("results", [])
                if not (retry_timeouts and r["status"] in ("timeout", "crash"))}
        payload["info"] = old.get("info") or {}
        wall0 = float(old.get("wall_s") or 0.0)
        say(f"[generate] resuming from {resume}: {len(done)} (schema, mode) results reused")

    jobs = [(e, m) for e in entries for m in modes]
    todo = sum((e.key, m) not in done for e, m in jobs)
    say(f"[generate] {len(entries)} schemas x {len(modes)} modes from {data_dir}; {todo} jobs to run; "
        f"model {model}, max_new_tokens {max_new_tokens}, temperature {temperature}, timeout {timeout} s")

    options = {"model": model, "max_new_tokens": max_new_tokens, "max_prompt_tokens": max_prompt_tokens,
               "whitespace": whitespace, "lenient": lenient, "threads": threads,
               "frequency_penalty": frequency_penalty, "finish_within_budget": finish_within_budget}
    mpctx = mp.get_context(start_method)
    mem_limit = int(mem_limit_gb * (1 << 30)) if mem_limit_gb else None
    stderr_path = None
    if json_out and isinstance(backend, str):
        stderr_path = f"{json_out}.worker.stderr.log"
        payload["worker_stderr"] = stderr_path
        if not done:
            open(stderr_path, "w").close()
    runner = None
    results = payload["results"]
    stats: Counter = Counter()
    bar = ProgressBar(len(jobs), progress)
    t_run = time.perf_counter()
    last_write = time.monotonic()

    def write():
        payload["wall_s"] = round(wall0 + time.perf_counter() - t_run, 1)
        payload["summary"] = summarize_generate(results, modes)
        if json_out:
            write_json(json_out, payload)

    try:
        for e, mode in jobs:
            prev = done.get((e.key, mode))
            if prev is not None:
                results.append(prev)
                stats[(mode, _outcome(prev))] += 1
                bar.update(stats, reused=True)
                continue
            if runner is None or not runner.alive():
                if isinstance(backend, str):
                    try:
                        runner = _ProcessRunner(mpctx, backend, options, mem_limit, setup_timeout, stderr_path)
                    except WorkerSetupError as ex:
                        say(f"[generate] worker setup failed: {ex}")
                        payload["setup_error"] = str(ex)
                        break
                else:
                    runner = _InlineRunner(backend)
                payload["worker_starts"] += 1
                bar.worker_ready()
                if not payload["info"]:
                    payload["info"] = runner.info
                    say(f"[generate] worker ready: {json.dumps(runner.info)}")
            job = {"key": e.key, "schema": e.schema, "mode": mode, "max_new_tokens": max_new_tokens,
                   "temperature": temperature, "seed": gen_seed}
            res = runner.run(job, timeout if isinstance(backend, str) else None)
            if res.get("restart"):
                runner.kill()
                runner = None
            rec = _record(e, mode, res)
            results.append(rec)
            stats[(mode, _outcome(rec))] += 1
            bar.update(stats)
            if json_out and time.monotonic() - last_write > 30:
                write()
                last_write = time.monotonic()
    except KeyboardInterrupt:
        say("[generate] interrupted; writing partial results")
        if runner is not None:
            runner.kill()
        write()
        raise
    finally:
        bar.close()
    if runner is not None:
        runner.stop()
    write()
    return payload


def _outcome(rec: dict) -> str:
    if rec["status"] != "ok":
        return rec["status"]
    return "valid" if rec.get("success") else "invalid"


def _hms(seconds: float) -> str:
    """``754.2`` -> ``"12:34"``, ``4000`` -> ``"1:06:40"``."""
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


class ProgressBar:
    """Progress on stderr: a tqdm bar when tqdm is installed and stderr is a terminal, else a
    plain line with done/total, the seconds per job, the elapsed time and the ETA (after the
    first job run, then every ``interval`` seconds, and at the end).  Jobs reused from
    ``--resume`` count as done but not in the rate, so the ETA reflects this run's speed.
    """

    def __init__(self, total: int, enabled: bool, *, interval: float = 15.0,
                 clock: Callable[[], float] = time.monotonic, out=None, use_tqdm: bool | None = None):
        self.bar = None
        self.enabled, self.total, self.n, self.ran = enabled, total, 0, 0
        self.interval, self.clock, self.out = interval, clock, out
        self.t0 = clock()
        self.last = None
        stream = out if out is not None else sys.stderr
        if use_tqdm is None:
            use_tqdm = stream.isatty()
        if enabled and use_tqdm:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc="generate", file=stream, mininterval=1.0)
            except ImportError:
                pass

    def update(self, stats: Counter, *, reused: bool = False) -> None:
        self.n += 1
        self.ran += not reused
        if not self.enabled:
            return
        parts = []
        for mode, short in (("constrained", "C"), ("unconstrained", "U")):
            c = {o: n for (m, o), n in stats.items() if m == mode}
            if c:
                parts.append(f"{short} valid {c.get('valid', 0)}/{sum(c.values())}")
        post = "  ".join(parts)
        if self.bar is not None:
            self.bar.set_postfix_str(post, refresh=False)
            self.bar.update(1)
            return
        now = self.clock()
        first_run = not reused and self.ran == 1
        if not (first_run or self.n == self.total or (self.last is not None and now - self.last >= self.interval)):
            return
        self.last = now
        print(f"[generate] {self.line(now)}  {post}", file=self.out or sys.stderr, flush=True)

    def worker_ready(self) -> None:
        """Start the clock when the model is loaded: loading is not a job, and counting it would
        inflate the first ETA."""
        if not self.ran:
            self.t0 = self.clock()

    def line(self, now: float) -> str:
        """``"3/40 jobs, 12.5 s/job, elapsed 0:37, ETA 7:42"``."""
        elapsed = now - self.t0
        head = f"{self.n}/{self.total} jobs"
        if not self.ran:
            return head
        per_job = elapsed / self.ran
        tail = f", {per_job:.1f} s/job, elapsed {_hms(elapsed)}"
        if self.n < self.total:
            tail += f", ETA {_hms(per_job * (self.total - self.n))}"
        return head + tail

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
