"""Worker processes of the benchmarks: one long-lived process per engine (MaskBench, the test
suite) or per model (bench generate), each under an address-space limit.

Why processes: a benchmark must survive what it measures -- a compile that never ends, a
segfault in a peer engine, a MemoryError -- and record it as a timeout or a crash instead of
dying with it.  The worker side (:func:`set_memory_limit`, :func:`redirect_stderr`,
:func:`short_traceback`, :func:`peak_rss_mb`) runs in the child; the parent side starts it
(:func:`start_worker`), describes how it ended (:func:`describe_exit`) and kills or stops it
(:class:`WorkerProcess`).  :func:`serve_jobs` is the child's whole life (limits, setup, the job
loop, the unpicklable-result fallback); each benchmark passes its own setup and per-job function.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import traceback
from pathlib import Path

__all__ = [
    "WorkerProcess",
    "WorkerSetupError",
    "describe_exit",
    "peak_rss_mb",
    "redirect_stderr",
    "serve_jobs",
    "set_memory_limit",
    "short_traceback",
    "start_worker",
    "vm_hwm_mb",
]


# ============================================================================ worker side


def peak_rss_mb() -> float:
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    except Exception:  # noqa: BLE001
        return 0.0


def short_traceback(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" [{Path(tb[-1].filename).name}:{tb[-1].lineno} in {tb[-1].name}]" if tb else ""
    msg = str(exc)
    if len(msg) > 300:
        msg = msg[:300] + "..."
    return f"{type(exc).__name__}: {msg}{where}"


def set_memory_limit(limit_bytes: int | None) -> None:
    if not limit_bytes:
        return
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        new = limit_bytes if hard == resource.RLIM_INFINITY else min(limit_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (new, hard))
    except Exception as e:  # noqa: BLE001
        print(f"[bench] could not set the memory limit: {e}", file=sys.stderr)


def redirect_stderr(path: str | None) -> None:
    """Send this process's fd 2 to ``path`` (appended), so that engines' native logging
    (xgrammar warnings...) goes to a log file, not the terminal; ``None``: leave it."""
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)
        os.close(fd)


# ============================================================================ parent side


def serve_jobs(conn, *, mem_limit: int | None, stderr_path: str | None, setup, run,
               crash_fields=None) -> None:  # pragma: no cover - runs in the child
    """The worker side of the protocol :func:`start_worker` and :class:`WorkerProcess` speak.

    Redirects stderr, sets the offline environment and the memory limit, calls ``setup()`` ->
    ``(state, info)`` and sends ``("ready", info)`` (or ``("setup_error", text)``), then
    answers each job with ``("result", run(state, job, conn.send))`` until it receives
    ``None``, the pipe closes or a result asks for a ``restart``.  A result that cannot be
    sent (an unpicklable object in it) becomes a crash record, completed by
    ``crash_fields(result)``, and the worker restarts.
    """
    redirect_stderr(stderr_path)  # native logging goes to a log file, not the terminal
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    set_memory_limit(mem_limit)
    try:
        state, info = setup()
        # what imports and set-up allocated (tokenizer, model tables) lives as long as the
        # worker: move it out of the collector's sight, as latency-minded servers do after
        # start-up, so that a full collection triggered inside a timed step walks only what
        # the engine allocated since (every engine's worker alike)
        gc.collect()
        gc.freeze()
        conn.send(("ready", info))
    except BaseException as e:  # noqa: BLE001
        conn.send(("setup_error", short_traceback(e) + "\n" + traceback.format_exc()[-2000:]))
        return
    while True:
        try:
            job = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if job is None:
            return
        res = run(state, job, conn.send)
        try:
            conn.send(("result", res))
        except Exception as e:  # noqa: BLE001 - an unpicklable object in the result
            crash = {"status": "crash", "phase": "send", "compile_ms": res.get("compile_ms"),
                     "error": {"class": type(e).__name__, "keyword": None, "pointer": None,
                               "message": short_traceback(e)}, "restart": True}
            crash.update(crash_fields(res) if crash_fields else {})
            conn.send(("result", crash))
        if res.get("restart"):
            return


class WorkerSetupError(RuntimeError):
    """A worker that failed, died or timed out during its setup."""


def vm_hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except Exception:  # noqa: BLE001
        return None
    return None


def describe_exit(code: int | None) -> str:
    if code is None:
        return "worker died"
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"worker killed by {name}"
    return f"worker exited with code {code}"


def start_worker(mpctx, target, args: tuple, name: str, setup_timeout: float, label: str):
    """Start ``target(child_conn, *args)`` in a daemon process and wait for its
    ``("ready", info)`` message; returns ``(process, parent_conn, info)``.

    The process sends ``("ready", info)`` once set up or ``("error", text)``; a setup that
    fails, dies or outlasts ``setup_timeout`` raises :class:`WorkerSetupError` prefixed
    with ``label``."""
    parent, child = mpctx.Pipe(duplex=True)
    proc = mpctx.Process(target=target, name=name, args=(child,) + tuple(args), daemon=True)
    proc.start()
    child.close()

    def kill():
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()

    deadline = time.monotonic() + setup_timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            kill()
            raise WorkerSetupError(f"{label}worker setup took more than {setup_timeout:.0f} s")
        if parent.poll(min(left, 0.5)):
            try:
                msg = parent.recv()
            except EOFError:
                proc.join(1)
                raise WorkerSetupError(f"{label}{describe_exit(proc.exitcode)} during setup") from None
            if msg[0] == "ready":
                return proc, parent, msg[1]
            kill()
            raise WorkerSetupError(f"{label}setup failed: {msg[1]}")
        if not proc.is_alive():
            proc.join(1)
            raise WorkerSetupError(f"{label}{describe_exit(proc.exitcode)} during setup")


class WorkerProcess:
    """A started worker (``proc``, ``conn``, ``info`` from :func:`start_worker`): alive, kill
    and a polite stop; subclasses add their job protocol (``run``)."""

    proc: object
    conn: object
    info: dict

    def alive(self) -> bool:
        return self.proc.is_alive()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass

    def stop(self) -> None:
        try:
            if self.proc.is_alive():
                self.conn.send(None)
                self.proc.join(5)
        except Exception:  # noqa: BLE001
            pass
        self.kill()
