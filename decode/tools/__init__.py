"""Function calling and agents on local models: OpenAI-style ``tools`` whose every call parses
and validates against its tool's schema, because it is generated under that grammar.

- ``chat``: one assistant turn in the OpenAI format (``tools``, ``tool_choice``,
  ``parallel_tool_calls``, ``response_format``); module :mod:`.turn` (not ``chat.py``: a submodule named like the function would shadow it).
- ``Agent`` / ``AgentResult`` / ``ToolCallRecord``: the loop that runs the calls and feeds the
  results back; :mod:`.agent`.
- ``Triggered``: free text, then a constrained region from the first occurrence of a trigger
  string (the ``tool_choice="auto"`` constraint); :mod:`.triggered`.
- ``Tool`` / ``as_tool`` / ``tool_from_callable``: tools from OpenAI dicts, Python functions
  (signature, type hints, docstring, through Pydantic) or Pydantic models; :mod:`.schemas`.
- ``Envelope`` / ``ENVELOPES`` / ``detect_envelope``: how each model family writes calls
  (Hermes/Qwen, Llama 3, Mistral); :mod:`.envelopes`. The turn's constraint: :mod:`.constraint`.
"""

from ..result import ToolArgumentsError
from .agent import Agent, AgentResult, ToolCallRecord
from .turn import chat
from .envelopes import DEFAULT_SYSTEM_PROMPT, ENVELOPES, Envelope, detect_envelope
from .schemas import Tool, as_tool, tool_from_callable
from .triggered import Triggered

__all__ = ["Agent", "AgentResult", "DEFAULT_SYSTEM_PROMPT", "ENVELOPES", "Envelope", "Tool", "ToolArgumentsError",
           "ToolCallRecord", "Triggered", "as_tool", "chat", "detect_envelope", "tool_from_callable"]
