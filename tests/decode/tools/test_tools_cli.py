"""``structgen chat --tools FILE``: which functions of the file become tools, and the one-line
errors for a bad file (checked before any model loads)."""

from __future__ import annotations

from decode import cli


def test_tools_file_functions_or_its_tools_list(tmp_path):
    f = tmp_path / "t.py"
    f.write_text("import math\nfrom os.path import join\n\ndef add(a: int, b: int) -> int:\n    return a + b\n\n"
                 "def _helper():\n    pass\n\nsq = lambda x: x\n")
    assert [t.__name__ for t in cli._load_tools(str(f))] == ["add"]  # imported and private names are not tools
    g = tmp_path / "g.py"
    g.write_text("def a(x: int): ...\ndef b(y: str): ...\nTOOLS = [b]\n")
    assert [t.__name__ for t in cli._load_tools(str(g))] == ["b"]


def test_bad_tools_files_are_one_line_errors(tmp_path, capsys):
    assert cli.main(["chat", "--tools", str(tmp_path / "missing.py"), "q"]) == 2
    assert "cannot read tools file" in capsys.readouterr().err
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    assert cli.main(["chat", "--tools", str(empty), "q"]) == 2
    assert "defines no public function" in capsys.readouterr().err
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    assert cli.main(["chat", "--tools", str(broken), "q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("structgen: error:") and "RuntimeError: boom" in err
