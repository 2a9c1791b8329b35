"""Benchmarks of the constraint engines (``python -m constrain.bench maskbench ...``).

- :mod:`.maskbench` -- MaskBench: compile + per-token mask time and correctness on real
  schemas with valid/invalid instances, one long-lived worker process per engine.
- :mod:`.engines` -- adapters (structgen, llguidance, xgrammar, outlines-core, a scripted
  fake) behind one interface; peers are optional extras.
- :mod:`.report` -- percentiles and text tables.
"""

from .report import format_table, percentile, percentiles

__all__ = ["format_table", "percentile", "percentiles"]
