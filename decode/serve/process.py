"""``structgen serve`` in a child process, for benchmarks and tests that talk to a real server.

Starting a server, waiting until ``/health`` answers and stopping it (terminate, then kill after a
grace period) is the same wherever a real process is wanted; a server that exits early is
reported with the tail of its output instead of a bare timeout.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request

__all__ = ["ServerProcess", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server started from ``argv`` that listens on ``port``; a context manager that stops it.

    ``capture=True`` keeps the server's output (stdout and stderr together) to quote it when the
    server exits before it is healthy; ``False`` lets it go to this process's streams.
    """

    def __init__(self, argv, port: int, *, env: dict | None = None, cwd=None, capture: bool = False):
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        out = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) if capture else {}
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, **out)

    def _output_tail(self, n: int = 3000) -> str:
        if self.proc.stdout is None:
            return ""
        return "\n" + self.proc.stdout.read()[-n:]

    def wait_healthy(self, timeout: float = 300.0, what: str = "the server") -> None:
        """Block until ``/health`` answers 200; RuntimeError if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited with status {self.proc.returncode}{self._output_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/health", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:  # not listening yet
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{what} did not become healthy within {timeout:.0f} s")

    def stop(self, grace: float = 30.0) -> None:
        """Terminate, and kill if it has not exited after ``grace`` seconds."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
