"""Benchmarks of structgen: the constraint engines alone, and generation on a model.

``python -m decode.bench <benchmark> ...`` or ``structgen bench <benchmark> ...`` (see
:mod:`.__main__`); bare ``python -m decode.bench`` is the throughput table.  They live under
``decode`` because some drive a model; ``constrain`` never imports them.  The modules that
only time masks (everything but :mod:`.throughput` and ``generate``'s model backend) import
neither torch nor transformers.

- :mod:`.maskbench` -- MaskBench: compile + per-token mask time and correctness on real
  schemas with valid/invalid instances, one long-lived worker process per engine.
- :mod:`.test_suite`, :mod:`.peer_suite`, :mod:`.coverage` -- the JSON Schema Test Suite,
  other engines' test cases, and per-dataset coverage (figures in :mod:`.coverage_stats`),
  through the same masks.
- :mod:`.grammars` -- compile and mask time of the shipped Lark grammars.
- :mod:`.generate` -- end-to-end generation (JSONSchemaBench protocol) with and without the
  constraint; :mod:`.throughput` -- decoding tokens/s, constrained vs not.
- :mod:`.engines` -- adapters (structgen, llguidance, xgrammar, outlines-core, a scripted
  fake) behind one interface, and the benchmark tokenizers; peers are optional extras.
- :mod:`.workers` -- worker processes (limits, deadlines, crashes); :mod:`.output` -- result
  files; :mod:`.report` -- percentiles and text tables; :mod:`.plots` -- PNG plots.
"""

from .report import format_table, percentile, percentiles

__all__ = ["format_table", "percentile", "percentiles"]
