"""A compile's time budget, checked inside the long loops of every construction.

``compile_json_schema(..., time_budget_s=...)`` sets a deadline for everything it runs --
schema lowering, regex and product constructions, minimization, the parser's automata --
and each of those loops calls :func:`check_deadline` now and then, so an oversized schema
ends in a ``CompileBudgetError`` naming the budget instead of running on.
"""

from __future__ import annotations

import contextvars
import time
from contextlib import contextmanager

from .errors import CompileBudgetError

__all__ = ["compile_deadline", "check_deadline"]

_DEADLINE: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar("constrain_deadline",
                                                                                        default=None)


@contextmanager
def compile_deadline(seconds: float | None):
    """Run the body under a deadline ``seconds`` from now (the earlier one if nested)."""
    if seconds is None:
        yield
        return
    end = time.monotonic() + seconds
    outer = _DEADLINE.get()
    if outer is not None and outer[0] <= end:
        yield
        return
    token = _DEADLINE.set((end, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check_deadline() -> None:
    """Raise ``CompileBudgetError`` once the current compile's deadline has passed."""
    d = _DEADLINE.get()
    if d is not None and time.monotonic() > d[0]:
        raise CompileBudgetError(f"compile exceeded its time budget of {d[1]:g} s")
