"""The ``structgen`` CLI: user errors are one line and exit status 2, never a traceback; the
generation flags reach ``decode.generate``; an unfinished output says so and exits 1.

The model is patched to a tiny random Llama over the SmolLM2 tokenizer (real compiles, no
download); one test runs the console entry point in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests import paths

import decode.cli as cli
import decode.models as hf

ROOT = paths.ROOT


def assert_one_line_error(rc, err, pattern):
    import re

    lines = [ln for ln in err.splitlines() if ln.startswith("structgen: error:")]
    assert rc == 2, (rc, err)
    assert len(lines) == 1 and re.search(pattern, lines[0]), err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------ user errors


def test_schema_file_errors(run, tmp_path):
    rc, _, err = run("generate", "--schema", str(tmp_path / "missing.json"), "x")
    assert_one_line_error(rc, err, r"cannot read schema file '.*missing\.json': No such file or directory")
    rc, _, err = run("generate", "--schema", str(tmp_path), "x")
    assert_one_line_error(rc, err, r"cannot read schema file .*: Is a directory")
    bad = tmp_path / "bad.json"
    for data, pattern in [(b'{"type": ', r"bad\.json: schema is not valid JSON"),
                          (b'"hello"', r"bad\.json: a JSON Schema must be an object or a boolean, got a string"),
                          (b'{"type": "\xff"}', r"bad\.json: schema bytes are not valid UTF-8"),
                          (b'{"type": "strin"}', r"strin"),
                          (b'{"allOf": [{"type": "string"}, {"type": "integer"}]}', r"language is empty")]:
        bad.write_bytes(data)
        rc, _, err = run("generate", "--schema", str(bad), "x")
        assert_one_line_error(rc, err, pattern)


def test_pydantic_spec_errors(run, tmp_path, monkeypatch):
    (tmp_path / "clitest_models.py").write_text(textwrap.dedent("""
        from pydantic import BaseModel
        class Person(BaseModel):
            name: str
        NOT_A_MODEL = 3
    """))
    (tmp_path / "clitest_broken.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.chdir(tmp_path)
    for spec, pattern in [("clitest_models", r"--pydantic expects MODULE:CLASS"),
                          ("clitest_nosuch:Person", r"cannot import module 'clitest_nosuch': ModuleNotFoundError"),
                          ("clitest_broken:X", r"cannot import module 'clitest_broken': RuntimeError: boom at import"),
                          ("clitest_models:Missing", r"module 'clitest_models' has no attribute 'Missing'"),
                          ("clitest_models:NOT_A_MODEL", r"'NOT_A_MODEL' is not a Pydantic model class")]:
        rc, _, err = run("generate", "--pydantic", spec, "x")
        assert_one_line_error(rc, err, pattern)
    rc, out, err = run("generate", "--pydantic", "clitest_models:Person", "--max-new-tokens", "30", "x")
    assert rc == 0 and '"name"' in out and "Traceback" not in err, (rc, out, err)


def test_grammar_regex_and_argument_errors(run, tmp_path):
    rc, _, err = run("generate", "--grammar", str(tmp_path / "nope.lark"), "x")
    assert_one_line_error(rc, err, r"cannot read grammar file")
    g = tmp_path / "g.lark"
    g.write_bytes(b'start: "\xff"\n')
    rc, _, err = run("generate", "--grammar", str(g), "x")
    assert_one_line_error(rc, err, r"not UTF-8 text \(byte 0xff at offset 8\)")
    rc, _, err = run("generate", "--regex", "(?!)", "x")
    assert_one_line_error(rc, err, r"matches nothing")
    rc, _, err = run("generate", "--regex", "a(", "x")
    assert_one_line_error(rc, err, r"position")
    rc, _, err = run("generate", "--regex", "a+", "--temperature", "-1", "x")
    assert_one_line_error(rc, err, r"temperature: must be a finite number >= 0")
    rc, _, err = run("generate", "--regex", "a+", "--top-p", "0", "x")
    assert_one_line_error(rc, err, r"top_p: must be in \(0, 1\]")
    rc, _, err = run("generate", "--regex", "a+", "--max-new-tokens", "0", "x")
    assert_one_line_error(rc, err, r"max_new_tokens: must be an integer >= 1")
    rc, _, err = run("generate", "--regex", "a+", "--no-chat", "ab " * 300)  # the tiny model: 512
    assert_one_line_error(rc, err, r"more than the model's context of 512 positions")


def test_unknown_model_is_one_line(monkeypatch, capsys):
    def missing(name, progress=None, **kw):
        raise OSError(f"{name} is not a local folder and is not a valid model identifier")

    monkeypatch.setattr(hf, "load_model", missing)
    rc = cli.main(["generate", "--model", "no/such-model", "--regex", "a", "x"])
    assert_one_line_error(rc, capsys.readouterr().err, r"cannot load model 'no/such-model': .*not a valid model")


def test_console_script_prints_no_traceback(tmp_path):
    """The real entry point in a fresh process: argparse and our errors both exit 2, one line."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "decode.cli", "generate", "--schema", str(tmp_path / "none.json"), "x"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("structgen: error: cannot read schema file")
    p = subprocess.run([sys.executable, "-m", "decode.cli", "generate", "--max-new-tokens", "many", "x"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "error: argument --max-new-tokens" in p.stderr


# ------------------------------------------------------------------------- generation flags


def test_generation_flags_reach_generate(run, generate_calls):
    seen, schema = generate_calls
    assert run("generate", "--schema", str(schema), "x")[0] == 0
    assert seen[-1]["frequency_penalty"] == cli.JSON_FREQUENCY_PENALTY == 0.5
    assert seen[-1]["presence_penalty"] == 0.0 and seen[-1]["finish_within_budget"] is True
    assert run("generate", "--regex", "a+", "x")[0] == 0
    assert seen[-1]["frequency_penalty"] == 0.0 and seen[-1]["finish_within_budget"] is True
    assert run("generate", "--schema", str(schema), "--frequency-penalty", "0", "--presence-penalty", "0.3",
               "--no-finish-within-budget", "x")[0] == 0
    assert seen[-1]["frequency_penalty"] == 0.0 and seen[-1]["presence_penalty"] == 0.3
    assert seen[-1]["finish_within_budget"] is False


def test_unfinished_output_exits_1_and_the_default_closes_it(run):
    """``[a-z]{40}`` cannot fit 3 tokens: without the budget option the output is cut (exit 1);
    by default the grammar writes its shortest completion and the output is valid (exit 0)."""
    import re

    rc, out, err = run("generate", "--regex", "[a-z]{40}", "--max-new-tokens", "3", "--no-finish-within-budget",
                       "--no-chat", "x")
    assert rc == 1 and "output incomplete" in err and "Traceback" not in err
    assert not re.fullmatch("[a-z]{40}", out.strip())
    rc, out, err = run("generate", "--regex", "[a-z]{40}", "--max-new-tokens", "3", "--no-chat", "x")
    assert rc == 0 and re.fullmatch("[a-z]{40}", out.strip()), (out, err)
