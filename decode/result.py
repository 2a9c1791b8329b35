"""What ``generate`` returns and raises.

Why a module of its own: the loop, the argument checks, the HF processor and the CLI all speak
these three types, and none of them should have to import the loop to do so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from constrain.errors import ConstraintError

__all__ = ["GenerationArgumentError", "GenerationError", "GenerationResult", "ToolArgumentsError"]


class GenerationError(ConstraintError, RuntimeError):
    """Generation could not produce a complete, valid output.

    ``partial_text`` holds what was generated (e.g. when max_new_tokens ran out), ``result``
    the whole :class:`GenerationResult`.
    """

    def __init__(self, message: str, partial_text: str = "", result: "GenerationResult | None" = None):
        super().__init__(message)
        self.partial_text = partial_text
        self.result = result


class GenerationArgumentError(ConstraintError, ValueError, TypeError):
    """An argument of ``generate`` is wrong: a sampling parameter out of range, a prompt longer
    than the model's context, a constraint of an unsupported type, mismatched batch lists.

    Raised before any forward pass. ``argument`` names the parameter. Also a ``ValueError``
    and a ``TypeError``, so code written against the builtin exceptions keeps working.
    """

    def __init__(self, argument: str, message: str):
        self.argument = argument
        super().__init__(f"{argument}: {message}")


class ToolArgumentsError(ConstraintError, ValueError):
    """A tool call's arguments do not validate against the tool (``decode.tools``): the message
    names the tool and, per failing field, what is wrong. ``decode.Agent`` sends it back to the
    model as the tool message instead of running the function. Also a ``ValueError``."""

    def __init__(self, tool: str, message: str):
        self.tool = tool
        super().__init__(f"invalid arguments for {tool}: {message}")


@dataclass
class GenerationResult:
    """One generated output.

    ``token_ids`` excludes EOS; ``value`` is ``json.loads(text)`` for JSON constraints (None
    otherwise or if the text is incomplete); ``finished`` is False when max_new_tokens ran out.
    ``stop_reason`` is one of "eos" (EOS sampled), "grammar_complete" (nothing but EOS
    allowed), "budget" (``finish_within_budget`` appended the shortest completion), "stop" (a
    stop string; the text is cut before it) or "max_new_tokens" (then ``finished`` is False).
    """

    text: str
    token_ids: list[int]
    value: Any = None
    timings: dict = field(default_factory=dict)
    finished: bool = False
    stop_reason: str = ""
    stats: dict = field(default_factory=dict)
    #: ``generate(..., heal_prompt=True)``: a :class:`decode.Healing` (what was removed from the
    #: prompt and which output tokens regenerated it); None without healing
    healed: Any = None
