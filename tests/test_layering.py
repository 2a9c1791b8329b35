"""The import rules of the package layout (docs/architecture.md, "Import rules").

- ``constrain`` never imports torch, transformers or ``decode``: the compiler is numpy-only,
  usable without a model stack, and every arrow between the packages points
  ``decode -> constrain``. The one allowed exception is ``constrain/tokenizers.py``, which
  builds Hugging Face tokenizer *objects* for the named tokenizers and imports transformers
  inside those functions only (never at module level).
- No import cycles among the modules of either package, read statically from every import
  statement (lazy ones inside functions included: deferring an import hides a cycle, it
  does not remove it; ``if TYPE_CHECKING:`` blocks at module level are annotations only).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("constrain", "decode")
HEAVY = ("torch", "transformers", "triton")
# (module, imported top-level package) pairs allowed inside functions only, with the reason
LAZY_ALLOWED = {("constrain.tokenizers", "transformers")}  # builds HF tokenizer objects


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[_module_name(path)] = path
    return out


MODULES = _modules()


def _resolve(module: str, path: Path, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` inside ``module``."""
    if level == 0:
        return target or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{target}" if target else package


def _imports(module: str, path: Path, *, module_level_only: bool) -> list[tuple[str, int]]:
    """(imported module, line) pairs; ``from P import n`` names ``P.n`` when that is a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    # ``if TYPE_CHECKING:`` blocks hold annotation-only imports that never run
    body = [stmt for stmt in tree.body
            if not (isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test))]
    nodes = [n for stmt in body for n in ast.walk(stmt)]
    if module_level_only:
        inner = {id(n) for stmt in body for f in ast.walk(stmt)
                 if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in ast.walk(f)}
        nodes = [n for n in nodes if id(n) not in inner]
    out = []
    for n in nodes:
        if isinstance(n, ast.Import):
            out.extend((a.name, n.lineno) for a in n.names)
        elif isinstance(n, ast.ImportFrom):
            base = _resolve(module, path, n.level, n.module)
            for a in n.names:
                sub = f"{base}.{a.name}"
                out.append((sub if sub in MODULES else base, n.lineno))
    return out


def test_the_walk_sees_both_packages():
    assert "constrain" in MODULES and "decode" in MODULES
    assert len([m for m in MODULES if m.startswith("constrain.")]) > 20
    edges = _imports("constrain.compiler", MODULES["constrain.compiler"], module_level_only=True)
    assert any(m.startswith("constrain.") for m, _ in edges)  # relative imports resolved


def test_constrain_never_imports_decode_or_the_model_stack():
    bad = []
    for module, path in MODULES.items():
        if not module.startswith("constrain"):
            continue
        module_level = {m for m, _ in _imports(module, path, module_level_only=True)}
        for imported, line in _imports(module, path, module_level_only=False):
            top = imported.split(".")[0]
            if top == "decode":
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
            elif top in HEAVY:
                if (module, top) in LAZY_ALLOWED and imported not in module_level:
                    continue
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not bad, "constrain must not import decode, torch, transformers or triton:\n" + "\n".join(bad)


def test_importing_every_constrain_module_loads_no_model_stack():
    code = (
        "import importlib, sys\n"
        f"mods = {sorted(m for m in MODULES if m.split('.')[0] == 'constrain')!r}\n"
        "for m in mods:\n"
        "    importlib.import_module(m)\n"
        f"print(sorted(k for k in sys.modules if k.split('.')[0] in {('decode',) + HEAVY!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package):
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        if module.split(".")[0] != package:
            continue
        deps = set()
        # every import, lazy ones inside functions included: a lazy import is the usual way to
        # hide a cycle, not to remove it
        for imported, _ in _imports(module, path, module_level_only=False):
            # importing a.b.c runs a and a.b first; a package's own __init__ importing its
            # submodules is how packages re-export, so edges go to the named module only
            if imported in MODULES and imported != module:
                deps.add(imported)
        graph[module] = deps
    cycles = _cycles(graph)
    assert not cycles, f"import cycles in {package}: {cycles}"
