"""The ``decode`` package: lazy public names, and no submodule that shadows one of them.

``import decode`` must stay cheap (the CLI's ``--help`` and the mask-only benchmarks import it):
torch and transformers load with the first name that needs them.  And since a submodule, once
imported, becomes an attribute of its package, no submodule may be named like a public name
(``decode.generate`` is the function; the loop is :mod:`decode.loop`).
"""

from __future__ import annotations

from tests import paths
import json
import os
import pkgutil
import subprocess
import sys

ROOT = paths.ROOT


def _run(code: str) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_import_decode_loads_no_torch_or_transformers():
    out = _run("import sys, json, decode; dir(decode); decode.__all__; decode.__version__\n"
               "print(json.dumps([m for m in ('torch', 'transformers') if m in sys.modules]))")
    assert json.loads(out) == []


def test_public_names_after_importing_every_submodule():
    code = """
import importlib, inspect, json, pkgutil, sys
import decode
import importlib.util
has_vllm = importlib.util.find_spec("vllm") is not None  # decode.vllm's adapters import vLLM
names = [m.name for m in pkgutil.walk_packages(decode.__path__, "decode.")
         if m.name != "decode.bench.__main__" and not m.name.endswith("triton_impl")
         and (has_vllm or not m.name.startswith("decode.vllm.processor"))]
for name in names:
    importlib.import_module(name)
print(json.dumps({
    "generate_is_function": inspect.isfunction(decode.generate),
    "generate_module": decode.generate.__module__,
    "missing": [n for n in decode.__all__ if not hasattr(decode, n)],
    "dir_has_all": set(decode.__all__) <= set(dir(decode)),
    "version": decode.__version__,
    "imported": len(names),
}))
"""
    got = json.loads(_run(code))
    assert got["generate_is_function"] and got["generate_module"] == "decode.loop"
    assert got["missing"] == [] and got["dir_has_all"]
    assert got["version"] and got["imported"] > 20


def test_no_submodule_is_named_like_a_public_name():
    import decode

    subs = {m.name for m in pkgutil.iter_modules(decode.__path__)}
    assert not subs & set(decode.__all__)
    assert decode.__all__ == sorted(decode.__all__)
