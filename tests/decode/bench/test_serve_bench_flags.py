"""``python -m decode.bench serve --speculative --speculative-disable-batch N`` hands the flag to the
server it starts (and only with --speculative)."""

from __future__ import annotations

import argparse

from decode.bench import serve as sb


def _argv(monkeypatch, *flags) -> list:
    p = argparse.ArgumentParser()
    sb.add_arguments(p)
    args = p.parse_args(list(flags))
    seen = {}
    monkeypatch.setattr("decode.serve.ServerProcess", lambda cmd, port, env=None: seen.setdefault("cmd", cmd))
    sb._server(args, 1234)
    return seen["cmd"]


def test_disable_batch_reaches_the_server(monkeypatch):
    cmd = _argv(monkeypatch, "--speculative", "--speculative-disable-batch", "3")
    assert cmd[cmd.index("--speculative-disable-batch") + 1] == "3" and "--speculative" in cmd
    assert "--speculative-disable-batch" not in _argv(monkeypatch, "--speculative")
    assert "--speculative-disable-batch" not in _argv(monkeypatch, "--speculative-disable-batch", "3")
