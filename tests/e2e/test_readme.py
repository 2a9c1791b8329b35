"""README.md's code blocks, run as written.

Why: the README is what a new user runs first; a snippet that drifted from the API, a file it
names that does not exist or a command that needs a path only the authors have is the first
thing they meet.  So every fenced ``python`` and ``bash`` block is extracted and run:

- ``python``: grouped by section (the heading above them); a section's blocks run in order in
  one fresh namespace, as a reader pasting them into one interpreter would, from the
  repository root.  A section that loads a model (``decode.load_default_model`` /
  ``decode.load_model``) is in the slow run (``slow`` + ``model``); the others are in the
  default run.
- ``bash``: every command line runs with bash from the repository root, with the virtualenv's
  ``bin`` first on ``PATH`` (what ``. .venv/bin/activate`` does), ``HF_HUB_OFFLINE=1`` and
  ``DATA`` set to ``../shared/data`` (commands that read ``$DATA`` skip when it is absent).
  Each command is classified by :data:`COMMANDS`; a README command no rule knows fails
  :func:`test_every_readme_block_is_run`.  Rewrites, so the runs stay short and leave the
  checkout clean: ``--sample N`` becomes ``--sample 1`` and ``--plots DIR`` a temporary
  folder.  ``make test`` and ``make test-slow`` are not
  run: they are the runs that contain this file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import paths

ROOT = paths.ROOT
README = ROOT / "README.md"
DATA = paths.SHARED_DATA
VENV_BIN = Path(sys.executable).parent

MODEL_MARKS = [pytest.mark.slow, pytest.mark.model]
SAMPLE = 1  # what `--sample N` becomes


@dataclass(frozen=True)
class Block:
    section: str  # the nearest heading above the block
    lang: str
    code: str
    line: int  # README line of the block's first code line


def readme_blocks(text: str | None = None) -> list[Block]:
    """Every fenced code block of README.md with its language and section."""
    text = README.read_text(encoding="utf-8") if text is None else text
    blocks, section, fence, buf, start = [], "(top)", None, [], 0
    for i, line in enumerate(text.splitlines(), 1):
        if fence is None:
            m = re.match(r"^```(\w*)\s*$", line)
            if m:
                fence, buf, start = m.group(1), [], i + 1
            elif line.startswith("#"):
                section = line.lstrip("#").strip().replace("`", "")
        elif line.startswith("```"):
            blocks.append(Block(section, fence, "\n".join(buf) + "\n", start))
            fence = None
        else:
            buf.append(line)
    assert fence is None, "README.md has an unclosed code fence"
    return blocks


@dataclass(frozen=True)
class Command:
    text: str
    line: int
    section: str


def readme_commands(blocks: list[Block] | None = None) -> list[Command]:
    """The command lines of the bash blocks (continuation lines joined, blank lines dropped)."""
    out = []
    for b in readme_blocks() if blocks is None else blocks:
        if b.lang != "bash":
            continue
        pending, first = "", 0
        for k, line in enumerate(b.code.splitlines()):
            if not pending:
                first = b.line + k
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            cmd = (pending + line).strip()
            pending = ""
            if cmd and not cmd.startswith("#"):
                out.append(Command(cmd, first, b.section))
    return out


# ---------------------------------------------------------------------------- classification

#: (pattern on the command, kind).  Kinds: ``activate`` (default run), ``free`` (needs neither
#: a model nor $DATA, default run), ``data`` (reads $DATA, default run), ``data-slow`` (reads $DATA, slow run), ``model`` (loads SmolLM2,
#: slow run; ``model-data`` also reads $DATA), ``not-run`` (the test runs themselves), ``serve`` (a
#: server started in the background for its section's client blocks, :func:`test_serve_section`).
COMMANDS = [
    (r"^\. \.venv/bin/activate\b", "activate"),
    (r"^make (test|test-slow)\b", "not-run"),
    (r"^make demo\b", "model"),
    (r"^structgen generate\b", "model"),
    (r"^structgen sample\b(?!.*--no-model)", "model"),
    (r"^structgen sample\b.*--no-model", "free"),
    (r"^structgen chat\b", "model"),
    (r"^structgen serve\b", "serve"),
    (r"^structgen repair\b", "model"),
    (r"^(python -m decode\.bench|structgen bench throughput)\b", "model"),
    (r"^structgen bench generate\b", "model-data"),
    (r"^structgen bench (maskbench|coverage)\b", "data"),
    (r"^structgen bench test-suite\b", "data-slow"),
    (r"^python examples/sampling\.py --no-model$", "free"),
    (r"^python examples/sampling\.py$", "model"),
]


def kind_of(cmd: str) -> str | None:
    kinds = [k for pat, k in COMMANDS if re.search(pat, cmd)]
    return kinds[0] if len(kinds) == 1 else None


def _needs_model(code: str) -> bool:
    return bool(re.search(r"\bload_default_model\b|\bload_model\b", code))


def _needs_vllm(code: str) -> bool:
    return bool(re.search(r"^\s*(from|import)\s+vllm\b", code, re.M))


def _vllm_on_gpu() -> bool:
    """vLLM installed and a CUDA device: what a section that imports vLLM needs."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def python_sections() -> dict[str, list[Block]]:
    sections: dict[str, list[Block]] = {}
    for b in readme_blocks():
        if b.lang == "python":
            sections.setdefault(b.section, []).append(b)
    return sections


#: what a python block that talks to a README ``structgen serve`` holds (its address)
SERVER_URL = "http://127.0.0.1:8000"


def _needs_server(blocks: list[Block]) -> bool:
    return any(SERVER_URL in b.code for b in blocks)


def _python_params():
    out = []
    for name, blocks in python_sections().items():
        if _needs_server(blocks):  # run by test_serve_section, against the server it starts
            continue
        marks = MODEL_MARKS if any(_needs_model(b.code) for b in blocks) else []
        if any(_needs_vllm(b.code) for b in blocks):  # vLLM runs on CUDA only
            marks = [*MODEL_MARKS, pytest.mark.skipif(not _vllm_on_gpu(), reason="needs vLLM and a CUDA GPU")]
        out.append(pytest.param(name, marks=marks, id=name))
    return out


def _command_params(kinds: tuple[str, ...], marks=()):
    return [pytest.param(c, marks=list(marks), id=f"L{c.line}:{' '.join(c.text.split()[:3])}")
            for c in readme_commands() if kind_of(c.text) in kinds]


# ---------------------------------------------------------------------------- extraction itself


def test_extraction_finds_sections_blocks_and_commands():
    text = "# T\n```bash\nmake x \\\n  --y   # c\n\n# only a comment\n```\n## S `a`\n```python\nx = 1\n```\n"
    bs = readme_blocks(text)
    assert [(b.section, b.lang, b.line) for b in bs] == [("T", "bash", 3), ("S a", "python", 10)]
    assert [(c.text, c.line) for c in readme_commands(bs)] == [("make x    --y   # c", 3)]


def test_every_readme_block_is_run():
    """Every block and command is covered by one of the tests below, and the README has the
    blocks this file was written for (so a broken extractor cannot pass by finding nothing)."""
    blocks = readme_blocks()
    langs = {b.lang for b in blocks}
    assert langs <= {"python", "bash"}, f"blocks in another language are not run: {langs}"
    unknown = [c.text for c in readme_commands() if kind_of(c.text) is None]
    assert not unknown, f"README commands no rule in COMMANDS classifies: {unknown}"
    sections = python_sections()
    free = [s for s, bs in sections.items() if not any(_needs_model(b.code) for b in bs)]
    assert {"The constraint engine on its own", "Lark grammars"} <= set(free)
    assert sum(len(bs) for bs in sections.values()) >= 4
    kinds = [kind_of(c.text) for c in readme_commands()]
    assert kinds.count("model") >= 5 and kinds.count("data") >= 2 and "model-data" in kinds


# ---------------------------------------------------------------------------- python blocks


@pytest.mark.parametrize("section", _python_params())
def test_python_section(section, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.chdir(ROOT)
    blocks = python_sections()[section]
    namespace: dict = {"__name__": "__readme__"}
    ran = 0
    for b in blocks:
        # padded so that a traceback names the README line
        exec(compile("\n" * (b.line - 1) + b.code, str(README), "exec"), namespace)
        ran += 1
    assert ran == len(blocks) > 0


# ---------------------------------------------------------------------------- bash commands


def _run(cmd: str, tmp_path: Path, *, timeout: float, venv_on_path: bool = True
         ) -> subprocess.CompletedProcess:
    """Run one README command as written, but for the rewrites of the module docstring."""
    text = re.sub(r"--sample \d+", f"--sample {SAMPLE}", cmd)
    text = re.sub(r"--plots \S+", f"--plots {tmp_path / 'plots'}", text)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", DATA=str(DATA))
    if venv_on_path:
        env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(VENV_BIN.parent))
    return subprocess.run(["bash", "-c", text], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _needs_data(cmd: Command) -> None:
    if "$DATA" in cmd.text and not DATA.is_dir():
        pytest.skip(f"{DATA} is absent")


def _check(cmd: Command, r: subprocess.CompletedProcess) -> None:
    where = f"README.md:{cmd.line}: {cmd.text}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
    if "--plots" in cmd.text:
        try:
            import matplotlib  # noqa: F401
        except ImportError:  # the documented behaviour without the bench extra
            assert r.returncode == 2, where
            assert "pip install 'structgen[bench]'" in r.stderr and len(r.stderr.strip().splitlines()) == 1, where
            return
    assert r.returncode == 0, where
    assert "Traceback" not in r.stderr, where


@pytest.mark.parametrize("cmd", _command_params(("activate",)))
def test_activate(cmd, tmp_path):
    r = _run(f"{cmd.text}\ncommand -v structgen", tmp_path, timeout=60, venv_on_path=False)
    _check(cmd, r)
    assert Path(r.stdout.strip()).resolve().parent == (ROOT / ".venv" / "bin").resolve()


@pytest.mark.parametrize("cmd", _command_params(("free",)))
def test_free_command(cmd, tmp_path):
    _check(cmd, _run(cmd.text, tmp_path, timeout=300))


@pytest.mark.parametrize("cmd", _command_params(("data",)))
def test_data_command(cmd, tmp_path):
    _needs_data(cmd)
    _check(cmd, _run(cmd.text, tmp_path, timeout=300))


@pytest.mark.parametrize("cmd", _command_params(("data-slow",), [pytest.mark.slow]))
def test_data_command_slow(cmd, tmp_path):
    _needs_data(cmd)
    _check(cmd, _run(cmd.text, tmp_path, timeout=1800))


@pytest.mark.parametrize("cmd", _command_params(("model", "model-data"), MODEL_MARKS))
def test_model_command(cmd, tmp_path):
    _needs_data(cmd)
    r = _run(cmd.text, tmp_path, timeout=1800)
    _check(cmd, r)
    args = shlex.split(cmd.text, comments=True)
    if args[:2] != ["structgen", "generate"]:
        return
    out = r.stdout.rstrip("\n")
    if "--schema" in args:
        import jsonschema

        schema = json.loads((ROOT / args[args.index("--schema") + 1]).read_text(encoding="utf-8"))
        jsonschema.validate(json.loads(out), schema)
    elif "--pydantic" in args:
        import importlib

        mod, cls = args[args.index("--pydantic") + 1].split(":")
        sys.path.insert(0, str(ROOT))
        try:
            getattr(importlib.import_module(mod), cls).model_validate_json(out)
        finally:
            sys.path.remove(str(ROOT))
    elif "--regex" in args:
        assert re.fullmatch(args[args.index("--regex") + 1], out), out


@pytest.mark.parametrize("cmd", _command_params(("serve",), MODEL_MARKS))
def test_serve_section(cmd, tmp_path, monkeypatch):
    """A README ``structgen serve`` command, started as written (on a free port instead of 8000),
    then its section's python blocks (the ``openai`` client example) run against it."""
    pytest.importorskip("openai")
    pytest.importorskip("fastapi")
    from decode.serve import ServerProcess, free_port

    port = free_port()
    text = re.sub(r"--port \d+", f"--port {port}", cmd.text)
    assert f"--port {port}" in text, "the README's serve command should name its port"
    # PYTHONPATH: this checkout's packages, also when the venv's `structgen` is another checkout's install
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    with ServerProcess(["bash", "-c", f"exec {text}"], port, cwd=ROOT, env=env, capture=True) as server:
        try:
            server.wait_healthy(300)
        except RuntimeError as e:
            pytest.fail(f"README.md:{cmd.line}: {e}")
        blocks = [b for b in python_sections().get(cmd.section, []) if _needs_server([b])]
        assert blocks, f"README.md:{cmd.line}: no client example in section {cmd.section!r}"
        monkeypatch.chdir(ROOT)
        namespace: dict = {"__name__": "__readme__"}
        for b in blocks:
            code = b.code.replace(SERVER_URL, f"http://127.0.0.1:{port}")
            exec(compile("\n" * (b.line - 1) + code, str(README), "exec"), namespace)

