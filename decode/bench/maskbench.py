"""MaskBench: mask computation in isolation, on real-world schemas, engine by engine.

Protocol (the JSONSchemaBench MaskBench protocol, see ``shared/data/README.md``): for every
schema, compile it (timed); for every test instance serialize ``data`` with
``json.dumps(data, ensure_ascii=False)``, tokenize canonically, and walk a fresh matcher
token by token.  Each step computes the full mask, tests the token's bit and advances; the
time of the three together is one per-token sample.  An unset bit rejects the instance at
that token; a bit that disagrees with ``advance``'s verdict is an *inconsistency* (an engine
bug).  After the last token the mask is computed once more (also a per-token sample) and the
instance is accepted iff an EOS bit is set; the engine's ``accepting()`` must agree (else
inconsistency).  A schema passes when every valid instance is accepted, every invalid one is
rejected and nothing was inconsistent.

Each engine runs in a long-lived worker process (caches stay warm across schemas) with an
address-space limit; the parent sends one schema at a time and waits at most ``timeout``
seconds for compile plus all its instances.  On timeout the worker is killed and replaced; a
dead worker (segfault, ``os._exit``) or a ``MemoryError`` is recorded as a crash and the run
goes on.  Engines run one after the other, never side by side.

Entry point: ``python -m decode.bench maskbench DATA_DIR --tokenizer smollm2 ...``
(:func:`main`); programmatic: :func:`run_maskbench`.
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import json
import multiprocessing as mp
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .engines import (
    DEFAULT_ENGINES,
    BenchTokenizer,
    create_engine,
    engine_status,
    error_info,
    load_bench_tokenizer,
)
from .output import load_previous, output_path, write_json
from .report import fmt_count_pct, fmt_num, format_table, percentiles, top_counts
from .workers import (
    WorkerProcess,
    WorkerSetupError,
    describe_exit,
    peak_rss_mb,
    serve_jobs,
    short_traceback,
    start_worker,
    vm_hwm_mb,
)

__all__ = [
    "SchemaEntry",
    "list_files",
    "index_dataset",
    "sample_index",
    "load_sample",
    "run_maskbench",
    "summarize",
    "format_report",
    "main",
]

TOKEN_QS = (50, 90, 99, 99.9, 99.99, 100)  # 100: the longest single step (mask + advance)
COMPILE_QS = (50, 90, 99)
JSON_FORMAT_VERSION = 1


# ============================================================================ dataset


@dataclass
class SchemaEntry:
    file: str  # basename, e.g. "Github_easy.jsonl.gz"
    line: int  # 1-based line number in the file
    id: str
    schema: Any
    tests: list[dict]
    # filled by _prepare: per test, the text, the ids (None if untokenizable), why skipped
    texts: list[str | None] = field(default_factory=list)
    ids: list[list[int] | None] = field(default_factory=list)
    skipped: list[str | None] = field(default_factory=list)
    #: options for this schema's compile (e.g. the Test Suite's ``format_assertion=False``
    #: for the files that read ``format`` as an annotation); engines that do not know one ignore it
    compile_options: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.file}:{self.line}"


def list_files(data_dir: str | os.PathLike, files_glob: str | None = None) -> list[Path]:
    """The dataset's ``*.jsonl.gz`` files (basename filtered by ``files_glob``), sorted."""
    d = Path(data_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"no dataset directory {d}")
    files = sorted(p for p in d.glob("*.jsonl.gz") if p.is_file())
    if files_glob:
        pats = [g.strip() for g in files_glob.split(",") if g.strip()]
        files = [p for p in files if any(fnmatch.fnmatch(p.name, g) or fnmatch.fnmatch(str(p), g)
                                         for g in pats)]
    return files


def _lines(path: Path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                yield i, line


def index_dataset(files: Sequence[Path]) -> list[tuple[str, int]]:
    """``(basename, line)`` of every non-empty line, files in the given order."""
    out = []
    for p in files:
        out.extend((p.name, i) for i, _ in _lines(p))
    return out


def sample_index(index: Sequence[tuple[str, int]], n: int | None, seed: int = 0) -> list[tuple[str, int]]:
    """A deterministic sample of ``n`` entries (all if ``n`` is None or too large).

    Depends only on the sorted index, ``n`` and ``seed`` (not on file system order or the
    Python hash seed); returned sorted by (file, line).
    """
    items = sorted(index)
    if n is None or n >= len(items):
        return items
    if n < 0:
        raise ValueError("sample size must be >= 0")
    rng = random.Random(seed)
    picked = rng.sample(range(len(items)), n)
    return [items[i] for i in sorted(picked)]


def load_sample(data_dir, *, sample: int | None = None, seed: int = 0,
                files_glob: str | None = None) -> list[SchemaEntry]:
    files = list_files(data_dir, files_glob)
    if not files:
        raise FileNotFoundError(f"no *.jsonl.gz files in {data_dir}" + (f" matching {files_glob!r}" if files_glob else ""))
    keys = sample_index(index_dataset(files), sample, seed)
    wanted: dict[str, set[int]] = {}
    for f, i in keys:
        wanted.setdefault(f, set()).add(i)
    entries = []
    for p in files:
        lines = wanted.get(p.name)
        if not lines:
            continue
        for i, line in _lines(p):
            if i in lines:
                obj = json.loads(line)
                entries.append(SchemaEntry(p.name, i, str(obj.get("id", f"{p.name}:{i}")),
                                           obj.get("schema"), list(obj.get("tests") or [])))
    entries.sort(key=lambda e: (e.file, e.line))
    return entries


def instance_text(data: Any) -> str:
    return json.dumps(data, indent=None, ensure_ascii=False)


def _prepare(entries: Sequence[SchemaEntry], tok: BenchTokenizer) -> None:
    """Serialize and tokenize every instance once (shared by all engines)."""
    for e in entries:
        if e.ids:
            continue
        e.texts, e.ids, e.skipped = [], [], []
        for t in e.tests:
            try:
                text = instance_text(t.get("data"))
                text.encode("utf-8")
            except Exception as ex:  # noqa: BLE001 - lone surrogates, NaN...
                e.texts.append(None)
                e.ids.append(None)
                e.skipped.append(f"unserializable: {type(ex).__name__}")
                continue
            try:
                ids = tok.encode(text)
            except Exception as ex:  # noqa: BLE001
                e.texts.append(text)
                e.ids.append(None)
                e.skipped.append(f"untokenizable: {type(ex).__name__}: {ex}"[:200])
                continue
            e.texts.append(text)
            e.ids.append(ids)
            e.skipped.append(None)


# ============================================================================ worker side


CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}
"""``--clock``: wall time (the default, what a user waits) or the worker thread's CPU time
(``time.thread_time_ns``: leaves out time the process spent preempted, so runs on a machine
shared with other jobs compare; an engine computing masks on other threads would be
undercounted, which structgen and the peers at ``--threads 1`` do not)."""


def run_instance(eng, handle, ids: Sequence[int], *, check_quick: bool = False, clock: str = "wall"):
    """Walk one instance; returns (record, per-step times in ns)."""
    pc = CLOCKS[clock]
    m = eng.new_matcher(handle)
    quick = getattr(eng, "quick_allows", None) if check_quick else None
    times: list[int] = []
    inc: list[dict] = []
    reject_at = None
    for k, t in enumerate(ids):
        q = quick(m, t) if quick is not None else None
        t0 = pc()
        ok = eng.mask_allows(m, t)
        adv = eng.advance(m, t)
        times.append(pc() - t0)
        if q is not None and q != ok:
            inc.append({"at": k, "token": t, "kind": "quick", "mask": ok, "quick": q})
        if ok != adv:
            inc.append({"at": k, "token": t, "kind": "advance", "mask": ok, "advance": adv})
        if not (ok and adv):
            reject_at = k
            break
    accepted = False
    if reject_at is None:
        t0 = pc()
        eos = eng.eos_allowed(m)
        times.append(pc() - t0)
        acc = eng.accepting(m)
        if bool(eos) != bool(acc):
            inc.append({"at": len(ids), "token": None, "kind": "eos", "mask": bool(eos), "accepting": bool(acc)})
        accepted = bool(eos)
    return {"accepted": accepted, "reject_at": reject_at, "n_tokens": len(ids), "inconsistent": inc}, times


def run_schema(eng, job: dict, notify: Callable[[tuple], None] | None = None, *,
               check_quick: bool = False, clock: str = "wall") -> dict:
    """Compile one schema and walk its instances (in the worker).  Never raises."""
    res: dict[str, Any] = {"status": None, "compile_ms": None, "error": None, "phase": None,
                           "instances": [], "token_us": [], "warnings": [], "restart": False}
    now = CLOCKS[clock]
    t0 = now()
    try:
        opts = {k: v for k, v in (job.get("compile_options") or {}).items() if k in getattr(eng, "compile_options_known", ())}
        handle = eng.compile(job["schema"], **opts) if opts else eng.compile(job["schema"])
    except MemoryError as e:
        res.update(status="crash", phase="compile", error=error_info(e), restart=True)
        res["error"]["message"] = short_traceback(e)
        return res
    except eng.compile_errors as e:
        res["compile_ms"] = (now() - t0) / 1e6
        res.update(status="compile_error", phase="compile", error=error_info(e))
        return res
    except Exception as e:  # noqa: BLE001
        res.update(status="crash", phase="compile", error=error_info(e))
        res["error"]["message"] = short_traceback(e)
        return res
    res["compile_ms"] = (now() - t0) / 1e6
    res["warnings"] = list(getattr(eng, "last_warnings", []) or [])[:5]
    if notify is not None:
        notify(("compiled", res["compile_ms"]))
    times_all: list[int] = []
    for ids in job["instances"]:
        if ids is None:
            res["instances"].append(None)
            continue
        try:
            rec, times = run_instance(eng, handle, ids, check_quick=check_quick, clock=clock)
        except MemoryError as e:
            res.update(status="crash", phase="match", error=error_info(e), restart=True)
            res["error"]["message"] = short_traceback(e)
            break
        except Exception as e:  # noqa: BLE001
            res.update(status="crash", phase="match", error=error_info(e))
            res["error"]["message"] = short_traceback(e)
            break
        res["instances"].append(rec)
        times_all.extend(times)
    res["token_us"] = [round(t / 1000.0, 3) for t in times_all]
    if res["status"] is None:
        res["status"] = "ok"
    return res


def _worker_main(conn, engine_name: str, tokenizer_name: str, options: dict,
                 mem_limit: int | None, check_quick: bool,
                 stderr_path: str | None = None) -> None:  # pragma: no cover - subprocess
    def setup():
        t0 = time.perf_counter()
        tok = load_bench_tokenizer(tokenizer_name)
        eng = create_engine(engine_name, tok, options)
        return eng, {"version": eng.version(), "setup_s": round(time.perf_counter() - t0, 3),
                     "pid": os.getpid(), "vocab_size": tok.size}

    def run(eng, job, notify):
        res = run_schema(eng, job, notify, check_quick=check_quick, clock=options.get("clock", "wall"))
        res["rss_mb"] = round(peak_rss_mb(), 1)
        return res

    serve_jobs(conn, mem_limit=mem_limit, stderr_path=stderr_path, setup=setup, run=run,
               crash_fields=lambda res: {"instances": [], "token_us": [], "warnings": [],
                                         "rss_mb": res["rss_mb"]})


# ============================================================================ parent side


class Worker(WorkerProcess):
    """One engine worker process; restarted by the caller after a timeout or crash."""

    def __init__(self, mpctx, engine: str, tokenizer: str, options: dict, mem_limit: int | None,
                 check_quick: bool, setup_timeout: float, stderr_path: str | None = None):
        self.engine = engine
        self.proc, self.conn, self.info = start_worker(
            mpctx, _worker_main, (engine, tokenizer, options, mem_limit, check_quick, stderr_path),
            f"maskbench-{engine}", setup_timeout, f"{engine}: ")

    def run(self, job: dict, timeout: float) -> dict:
        """Send one schema; returns the worker's result, or a timeout/crash record."""
        try:
            self.conn.send(job)
        except (BrokenPipeError, OSError):
            return self._dead(None)
        t_start = time.monotonic()
        deadline = t_start + timeout
        compile_ms = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                rss = vm_hwm_mb(self.proc.pid)
                self.kill()
                return {"status": "timeout", "phase": "match" if compile_ms is not None else "compile",
                        "compile_ms": compile_ms, "error": None, "instances": [], "token_us": [],
                        "warnings": [], "restart": True, "rss_mb": rss,
                        "elapsed_s": round(time.monotonic() - t_start, 3)}
            if self.conn.poll(min(left, 0.5)):
                try:
                    msg = self.conn.recv()
                except (EOFError, OSError):
                    return self._dead(compile_ms)
                if msg[0] == "compiled":
                    compile_ms = msg[1]
                    continue
                res = msg[1]
                res["elapsed_s"] = round(time.monotonic() - t_start, 3)
                return res
            if not self.proc.is_alive():
                # drain what was sent before dying
                if self.conn.poll(0):
                    continue
                return self._dead(compile_ms)

    def _dead(self, compile_ms) -> dict:
        self.proc.join(2)
        desc = describe_exit(self.proc.exitcode)
        return {"status": "crash", "phase": "match" if compile_ms is not None else "compile",
                "compile_ms": compile_ms,
                "error": {"class": "WorkerDied", "keyword": None, "pointer": None, "message": desc},
                "instances": [], "token_us": [], "warnings": [], "restart": True, "rss_mb": None}


def _context(text: str | None, ids: Sequence[int], k: int | None, tok: BenchTokenizer) -> dict | None:
    """Where an instance was rejected: the text before the token and the token's bytes."""
    if text is None or k is None:
        return None
    pre = b"".join(tok.token_bytes[i] or b"" for i in ids[:k])
    tb = tok.token_bytes[ids[k]] if k < len(ids) else None
    pre_s = pre.decode("utf-8", "replace")
    return {"byte_offset": len(pre), "before": pre_s[-80:],
            "token": (tb or b"").decode("utf-8", "replace"), "token_id": int(ids[k]) if k < len(ids) else None}


def _make_record(entry: SchemaEntry, res: dict, tok: BenchTokenizer) -> dict:
    rec: dict[str, Any] = {
        "key": entry.key, "id": entry.id, "status": res["status"], "phase": res.get("phase"),
        "compile_ms": res.get("compile_ms"), "error": res.get("error"),
        "warnings": res.get("warnings") or [], "rss_mb": res.get("rss_mb"),
        "elapsed_s": res.get("elapsed_s"),
    }
    insts = []
    got = res.get("instances") or []
    val_err = inval_err = False
    n_inc = 0
    # an empty language is a verdict, not a refusal (as in the test-suite and peer-suite
    # benches): the engine proved no instance valid, so each one counts as rejected
    empty = res["status"] == "compile_error" and (res.get("error") or {}).get("class") == "EmptyLanguageError"
    if empty:
        rec["status"] = "ok"
        rec["empty_language"] = True
    for j, t in enumerate(entry.tests):
        valid = bool(t.get("valid"))
        d: dict[str, Any] = {"valid": valid}
        if entry.skipped[j] is not None:
            d["skipped"] = entry.skipped[j]
        elif empty:
            d.update(accepted=False, n_tokens=0, reject_at=0)
            val_err = val_err or valid
        elif j < len(got) and got[j] is not None:
            r = got[j]
            d.update(accepted=r["accepted"], n_tokens=r["n_tokens"], reject_at=r["reject_at"])
            if r["inconsistent"]:
                d["inconsistent"] = r["inconsistent"]
                n_inc += len(r["inconsistent"])
            if valid and not r["accepted"]:
                val_err = True
                d["context"] = (_context(entry.texts[j], entry.ids[j], r["reject_at"], tok)
                                if r["reject_at"] is not None else {"at_end": True, "text_tail": entry.texts[j][-80:]})
            if not valid and r["accepted"]:
                inval_err = True
                d["text"] = entry.texts[j][:400]
        else:
            d["not_run"] = True
        insts.append(d)
    rec["instances"] = insts
    if rec["status"] == "ok":
        rec["validation_error"] = val_err
        rec["invalidation_error"] = inval_err
        rec["inconsistent"] = n_inc
        rec["status"] = "pass" if not (val_err or inval_err or n_inc) else "fail"
    else:
        # partial results of a crash/timeout still expose engine bugs
        rec["validation_error"] = False
        rec["invalidation_error"] = inval_err
        rec["inconsistent"] = n_inc
    rec["token_us"] = res.get("token_us") or []
    return rec


class _Progress:
    def __init__(self, total: int, desc: str, enabled: bool = True):
        self.total, self.desc, self.n = total, desc, 0
        self.enabled = enabled
        self.bar = None
        self.last = 0.0
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=desc, file=sys.stderr, mininterval=1.0, leave=True)
            except ImportError:
                pass

    def update(self, stats: Counter, n: int = 1) -> None:
        self.n += n
        if not self.enabled:
            return
        post = f"pass {stats['pass']} fail {stats['fail']} cerr {stats['compile_error']} crash {stats['crash']} timeout {stats['timeout']}"
        if self.bar is not None:
            self.bar.set_postfix_str(post, refresh=False)
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= 15 or self.n == self.total:
            self.last = now
            print(f"[maskbench] {self.desc}: {self.n}/{self.total}  {post}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_maskbench(data_dir, *, tokenizer: str = "smollm2", engines: Sequence[str] = DEFAULT_ENGINES,
                  sample: int | None = None, seed: int = 0, files_glob: str | None = None,
                  timeout: float = 30.0, mem_limit_gb: float | None = 8.0, threads: int = 1,
                  start_method: str = "spawn", json_out: str | None = None,
                  resume: str | None = None, check_quick: bool = False, progress: bool = True,
                  setup_timeout: float = 600.0, log: Callable[[str], None] | None = None,
                  clock: str = "wall") -> dict:
    """Run MaskBench; returns the payload written to ``json_out`` (config + per-engine results
    and summaries)."""
    if clock not in CLOCKS:
        raise ValueError(f"--clock must be one of {sorted(CLOCKS)}, got {clock!r}")
    say = log or (lambda s: print(s, file=sys.stderr, flush=True))
    t_load = time.perf_counter()
    entries = load_sample(data_dir, sample=sample, seed=seed, files_glob=files_glob)
    tok = load_bench_tokenizer(tokenizer)
    _prepare(entries, tok)
    n_inst = sum(len(e.tests) for e in entries)
    n_skip = sum(s is not None for e in entries for s in e.skipped)
    say(f"[maskbench] {len(entries)} schemas, {n_inst} instances ({n_skip} skipped: untokenizable) "
        f"from {data_dir}; tokenizer {tokenizer} ({tok.size} ids); prepared in {time.perf_counter() - t_load:.1f} s")

    config = {"data_dir": str(data_dir), "tokenizer": tokenizer, "vocab_size": tok.size,
              "sample": sample, "seed": seed, "files": files_glob, "timeout_s": timeout,
              "mem_limit_gb": mem_limit_gb, "threads": threads, "start_method": start_method,
              "check_quick": check_quick, "engines": list(engines), "n_schemas": len(entries),
              "n_instances": n_inst, "n_skipped_instances": n_skip,
              "python": sys.version.split()[0], "cpu_count": os.cpu_count(), "clock": clock,
              "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    payload: dict[str, Any] = {"format": JSON_FORMAT_VERSION, "config": config, "engines": {}}

    previous = load_previous(resume, tokenizer, say, "maskbench")
    run_engines(entries, payload, engines=engines, tokenizer=tokenizer, options={"threads": threads, "clock": clock},
                mem_limit_gb=mem_limit_gb, check_quick=check_quick, start_method=start_method,
                timeout=timeout, setup_timeout=setup_timeout, json_out=json_out, previous=previous,
                make_record=lambda e, res: _make_record(e, res, tok), summarize=summarize,
                progress=progress, say=say, tag="maskbench", desc=lambda name: name)
    if json_out:
        write_json(json_out, payload)
    return payload


# ============================================================================ the engine loop
# shared by MaskBench and the JSON Schema Test Suite (decode.bench.test_suite)


def run_engines(entries: Sequence[SchemaEntry], payload: dict, *, engines: Sequence[str], tokenizer: str,
                options: dict, mem_limit_gb: float | None, check_quick: bool, start_method: str,
                timeout: float, setup_timeout: float, json_out: str | None, previous: dict,
                make_record: Callable[[SchemaEntry, dict], dict], summarize: Callable[[list], dict],
                progress: bool, say: Callable[[str], None], tag: str, desc: Callable[[str], str]) -> None:
    """Every entry through every engine, one long-lived worker per engine (restarted after a
    timeout or crash); fills ``payload["engines"]`` and rewrites ``json_out`` every minute
    and after each engine.  Entries whose key is in ``previous[engine]`` are reused."""
    mpctx = mp.get_context(start_method)
    mem_limit = int(mem_limit_gb * (1 << 30)) if mem_limit_gb else None
    last_write = time.monotonic()
    for name in engines:
        ok, detail = engine_status(name)
        if not ok:
            say(f"[{tag}] SKIP engine {name}: {detail}")
            payload["engines"][name] = {"skipped": detail}
            continue
        done = previous.get(name, {})
        results: list[dict] = []
        eng_payload: dict[str, Any] = {"info": dict(done.get("__info__", {})), "results": results}
        payload["engines"][name] = eng_payload
        worker: Worker | None = None
        stderr_path = None
        if json_out:
            stderr_path = str(Path(json_out).with_name(f"{Path(json_out).name}.{name.replace(':', '_')}.stderr.log"))
            eng_payload["worker_stderr"] = stderr_path
            if name not in previous:
                open(stderr_path, "w").close()
        stats: Counter = Counter()
        prog = _Progress(len(entries), desc(name), progress)
        failed_setup = None
        t_engine = time.perf_counter()
        try:
            for e in entries:
                if e.key in done:
                    rec = done[e.key]
                else:
                    if worker is None or not worker.alive():
                        try:
                            worker = Worker(mpctx, name, tokenizer, options, mem_limit, check_quick,
                                            setup_timeout, stderr_path)
                        except WorkerSetupError as ex:
                            failed_setup = str(ex)
                            break
                        if not eng_payload["info"]:
                            eng_payload["info"] = worker.info
                            say(f"[{tag}] engine {name} {worker.info.get('version', '')}: worker ready "
                                f"in {worker.info.get('setup_s')} s")
                        eng_payload["worker_starts"] = eng_payload.get("worker_starts", 0) + 1
                    job = {"key": e.key, "schema": e.schema, "instances": e.ids}
                    if e.compile_options:
                        job["compile_options"] = e.compile_options
                    res = worker.run(job, timeout)
                    if res.get("restart"):
                        worker.kill()
                        worker = None
                    rec = make_record(e, res)
                results.append(rec)
                stats[rec["status"]] += 1
                prog.update(stats)
                if json_out and time.monotonic() - last_write > 60:
                    write_json(json_out, payload)
                    last_write = time.monotonic()
        except KeyboardInterrupt:
            say(f"[{tag}] interrupted during {name}; writing partial results")
            if worker is not None:
                worker.kill()
            eng_payload["summary"] = summarize(results)
            if json_out:
                write_json(json_out, payload)
            raise
        finally:
            prog.close()
        if worker is not None:
            worker.stop()
        eng_payload["wall_s"] = round(done.get("__wall__", 0.0) + time.perf_counter() - t_engine, 1)
        if failed_setup:
            say(f"[{tag}] SKIP engine {name}: {failed_setup.splitlines()[0]}")
            eng_payload["skipped"] = failed_setup
        if results or not failed_setup:
            eng_payload["summary"] = summarize(results)
        if json_out:
            write_json(json_out, payload)


# ============================================================================ summary


def _error_key(err: dict | None) -> str:
    if not err:
        return "?"
    kw = err.get("keyword")
    return f"{err.get('class')}[{kw}]" if kw else str(err.get("class"))


def summarize(results: Sequence[dict]) -> dict:
    """Counts, error groups and percentiles of one engine's per-schema records."""
    n = len(results)
    st = Counter(r["status"] for r in results)
    cerr = [r for r in results if r["status"] == "compile_error"]
    crashes = [r for r in results if r["status"] == "crash"]
    compile_ms = [r["compile_ms"] for r in results
                  if r.get("compile_ms") is not None and r["status"] != "compile_error"]
    token_us: list[float] = []
    for r in results:
        token_us.extend(r.get("token_us") or [])
    rss = [r["rss_mb"] for r in results if r.get("rss_mb")]
    crash_msgs: list[str] = []
    for r in crashes:
        m = (r.get("error") or {}).get("message", "?")
        if m not in crash_msgs:
            crash_msgs.append(m)
    instances = sum(1 for r in results for i in r.get("instances", []) if "accepted" in i)
    # the schemas holding the longest steps: where a decoder would stall a whole batch
    worst = sorted(((max(r["token_us"]), r["key"]) for r in results if r.get("token_us")), reverse=True)[:5]
    return {
        "schemas": n,
        "passing": st["pass"],
        "failing": st["fail"],
        "compile_errors": len(cerr),
        "compile_error_groups": top_counts(Counter(_error_key(r.get("error")) for r in cerr), 15),
        "validation_errors": sum(1 for r in results if r.get("validation_error")),
        "invalidation_errors": sum(1 for r in results if r.get("invalidation_error")),
        "inconsistent": sum(1 for r in results if r.get("inconsistent")),
        "crashes": len(crashes),
        "crash_samples": crash_msgs[:5],
        "timeouts": st["timeout"],
        "timeouts_in_compile": sum(1 for r in results if r["status"] == "timeout" and r.get("phase") == "compile"),
        "compile_ms": {str(q): v for q, v in percentiles(compile_ms, COMPILE_QS).items()},
        "token_us": {str(q): v for q, v in percentiles(token_us, TOKEN_QS).items()},
        "n_compiled": len(compile_ms),
        "n_tokens": len(token_us),
        "n_instances": instances,
        "peak_rss_mb": max(rss) if rss else None,
        "longest_steps": [{"key": k, "us": us} for us, k in worst],
        "invalidation_keys": [r["key"] for r in results if r.get("invalidation_error")],
        "validation_keys": [r["key"] for r in results if r.get("validation_error")],
        "inconsistent_keys": [r["key"] for r in results if r.get("inconsistent")],
        "crash_keys": [r["key"] for r in crashes],
        "timeout_keys": [r["key"] for r in results if r["status"] == "timeout"],
    }


def format_report(payload: dict, *, markdown: bool = False, details: bool = True,
                  max_ids: int = 50) -> str:
    """The comparison table (one column per engine) and the per-engine failure details."""
    cfg = payload.get("config", {})
    engines = payload.get("engines", {})
    out: list[str] = []
    out.append(f"MaskBench: {cfg.get('n_schemas')} schemas (sample {cfg.get('sample')}, seed {cfg.get('seed')}"
               f"{', files ' + cfg['files'] if cfg.get('files') else ''}), tokenizer {cfg.get('tokenizer')} "
               f"({cfg.get('vocab_size')} ids), timeout {cfg.get('timeout_s')} s, "
               f"{cfg.get('n_instances')} instances ({cfg.get('n_skipped_instances')} untokenizable, skipped)"
               + ("; times are the worker thread's CPU time (--clock cpu)" if cfg.get("clock") == "cpu" else ""))
    ran = {k: v for k, v in engines.items() if "summary" in v}
    for k, v in engines.items():
        if v.get("skipped"):
            what = "skipped engine" if "summary" not in v else "engine stopped early"
            out.append(f"{what} {k}: {v['skipped'].splitlines()[0]}")
    if not ran:
        return "\n".join(out)
    names = list(ran)
    S = {k: ran[k]["summary"] for k in names}

    def row(label, fn):
        return [label] + [fn(S[k]) for k in names]

    def pq(key, q):
        return lambda s: fmt_num(s[key].get(q))

    heads = ["", *[f"{k} {ran[k].get('info', {}).get('version', '')}".strip() for k in names]]
    rows = [
        row("schemas", lambda s: str(s["schemas"])),
        row("passing", lambda s: fmt_count_pct(s["passing"], s["schemas"])),
        row("compile errors", lambda s: fmt_count_pct(s["compile_errors"], s["schemas"])),
        row("validation errors (valid rejected)", lambda s: fmt_count_pct(s["validation_errors"], s["schemas"])),
        row("invalidation errors (invalid accepted)", lambda s: fmt_count_pct(s["invalidation_errors"], s["schemas"])),
        row("inconsistent (mask vs advance)", lambda s: str(s["inconsistent"])),
        row("crashes", lambda s: str(s["crashes"])),
        row("timeouts", lambda s: f"{s['timeouts']} ({s['timeouts_in_compile']} in compile)"),
        row("compile p50 (ms)", pq("compile_ms", "50")),
        row("compile p90 (ms)", pq("compile_ms", "90")),
        row("compile p99 (ms)", pq("compile_ms", "99")),
        row("per-token p50 (us)", pq("token_us", "50")),
        row("per-token p90 (us)", pq("token_us", "90")),
        row("per-token p99 (us)", pq("token_us", "99")),
        row("per-token p99.9 (us)", pq("token_us", "99.9")),
        row("per-token p99.99 (us)", pq("token_us", "99.99")),
        row("longest step (us)", pq("token_us", "100")),
        row("tokens measured", lambda s: f"{s['n_tokens']:,}"),
        row("peak RSS (MB)", lambda s: fmt_num(s["peak_rss_mb"], 0)),
        row("engine wall time (s)", lambda s: "-"),
    ]
    rows[-1] = ["engine wall time (s)"] + [fmt_num(ran[k].get("wall_s")) for k in names]
    out.append("")
    out.append(format_table(heads, rows, markdown=markdown))

    if len(names) > 1:
        passed = {k: {r["key"] for r in ran[k]["results"] if r["status"] == "pass"} for k in names}
        any_pass = set().union(*passed.values())
        out.append("")
        out.append(f"passed by at least one engine: {len(any_pass)}; "
                   + "; ".join(f"{k} fails {len(any_pass - passed[k])} of them" for k in names))

    if details:
        for k in names:
            s = S[k]
            res = {r["key"]: r for r in ran[k]["results"]}
            out.append("")
            out.append(f"== {k}")
            if s.get("longest_steps"):
                out.append("longest steps (mask + advance): " + ", ".join(
                    f"{w['key']} {fmt_num(w['us'] / 1000)} ms" for w in s["longest_steps"]))
            if s["compile_error_groups"]:
                out.append("compile errors (top 15):")
                out.extend(f"  {n:5d}  {g}" for g, n in s["compile_error_groups"])
            if s["crash_samples"]:
                out.append("crashes (sample messages):")
                out.extend(f"  {m}" for m in s["crash_samples"])
            for label, key in (("INVALIDATION errors (invalid instance accepted)", "invalidation_keys"),
                               ("inconsistent", "inconsistent_keys"),
                               ("crashes", "crash_keys"),
                               ("timeouts", "timeout_keys"),
                               ("validation errors (valid instance rejected)", "validation_keys")):
                keys = s[key]
                if not keys:
                    continue
                out.append(f"{label}: {len(keys)}")
                for key_ in keys[:max_ids]:
                    r = res.get(key_, {})
                    out.append(f"  {key_}  {r.get('id', '')}{_detail(r, key)}")
                if len(keys) > max_ids:
                    out.append(f"  ... {len(keys) - max_ids} more (see the JSON file)")
    return "\n".join(out)


def _detail(r: dict, kind: str) -> str:
    if kind == "validation_keys":
        for i in r.get("instances", []):
            if i.get("valid") and i.get("accepted") is False:
                c = i.get("context") or {}
                if c.get("at_end"):
                    return f"  | rejected at end (EOS not allowed) after ...{c.get('text_tail', '')!r}"
                return f"  | ...{c.get('before', '')[-50:]!r} + {c.get('token', '')!r} rejected"
    if kind == "invalidation_keys":
        for i in r.get("instances", []):
            if not i.get("valid") and i.get("accepted"):
                return f"  | accepted {i.get('text', '')[:120]!r}"
    if kind == "inconsistent_keys":
        for i in r.get("instances", []):
            if i.get("inconsistent"):
                return f"  | {i['inconsistent'][0]}"
    if kind in ("crash_keys",):
        return f"  | {(r.get('error') or {}).get('message', '')[:160]}"
    if kind == "timeout_keys":
        return f"  | in {r.get('phase')}" + (f" (compiled in {r['compile_ms']:.0f} ms)" if r.get("compile_ms") else "")
    return ""


# ============================================================================ CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", help="folder of JSONSchemaBench *.jsonl.gz files ($DATA/maskbench, see README)")
    p.add_argument("--tokenizer", default="smollm2", help="smollm2 | tekken | mistral (| bytes, for tests)")
    p.add_argument("--sample", type=int, default=None, help="number of schemas (deterministic sample); default all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engines", default=",".join(DEFAULT_ENGINES),
                   help="comma-separated: structgen, structgen-lenient, llguidance, xgrammar, outlines, or module:Class")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per schema (compile + all instances)")
    p.add_argument("--json", dest="json_out", default=None, help="write raw results and summaries here")
    p.add_argument("--resume", default=None, help="reuse the results in this JSON file (and write to it unless --json); "
                   "several files, comma-separated, are merged (engines run apart), written to the first")
    p.add_argument("--files", default=None, help="glob(s) on file names, comma-separated, e.g. 'Github_*'")
    p.add_argument("--mem-limit-gb", type=float, default=8.0, help="RLIMIT_AS per worker (0: none)")
    p.add_argument("--threads", type=int, default=1, help="threads an engine may use to compile (xgrammar)")
    p.add_argument("--start-method", default="spawn", choices=("spawn", "fork", "forkserver"))
    p.add_argument("--check-is-allowed", action="store_true",
                   help="also cross-check the cheap single-token check (structgen Matcher.is_allowed) "
                        "against the mask, outside the timed region")
    p.add_argument("--clock", default="wall", choices=sorted(CLOCKS),
                   help="time compiles and steps by wall clock (default) or by the worker thread's CPU time "
                        "(comparable across runs on a machine shared with other jobs)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--max-ids", type=int, default=50, help="schema ids listed per failure kind")
    p.add_argument("--no-progress", action="store_true")


def main(argv: Sequence[str] | None = None, args: argparse.Namespace | None = None) -> int:
    if args is None:
        p = argparse.ArgumentParser(prog="python -m decode.bench maskbench", description=__doc__.split("\n")[0])
        add_arguments(p)
        args = p.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    json_out = output_path(args.json_out, args.resume)
    payload = run_maskbench(
        args.data_dir, tokenizer=args.tokenizer, engines=engines, sample=args.sample, seed=args.seed,
        files_glob=args.files, timeout=args.timeout, mem_limit_gb=args.mem_limit_gb or None,
        threads=args.threads, start_method=args.start_method, json_out=json_out, resume=args.resume,
        check_quick=args.check_is_allowed, progress=not args.no_progress, clock=args.clock,
    )
    print(format_report(payload, markdown=args.markdown, max_ids=args.max_ids))
    if json_out:
        print(f"\nraw results: {json_out}")
    return 0
