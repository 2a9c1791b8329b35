"""Tools as the user gives them (OpenAI tool dicts, Python callables, Pydantic models) and the
one form the rest of :mod:`decode.tools` reads: :class:`Tool`.

Why: the constraint needs each tool's name and JSON Schema for its arguments, the agent needs
the function and a validator that also *converts* the arguments (a ``"2024-01-01"`` string to a
``date``, a dict to a nested model, a string to an ``Enum`` member) before the function runs.
For a callable both come from one Pydantic model built from its signature, so the schema the
model is constrained by and the validator the arguments go through cannot disagree; the
docstring gives the description and, per parameter, the ``description`` of its property
(Google ``Args:``, Sphinx ``:param x:`` and NumPy ``Parameters`` sections are read).
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from ..constraints import is_pydantic_class
from ..result import GenerationArgumentError, ToolArgumentsError

__all__ = ["Tool", "as_tool", "as_tools", "parse_docstring", "tool_from_callable"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True)
class Tool:
    """One function the model may call: its name, description, parameters schema (a JSON
    Schema object), and, when it came from Python, the function and its arguments model."""

    name: str
    description: str
    parameters: dict
    function: Callable | None = None
    arguments_model: Any = None  # a Pydantic model class validating and converting the arguments
    _call: Callable | None = field(default=None, repr=False, compare=False)

    def openai(self) -> dict:
        """The OpenAI tool dict (``{"type": "function", "function": {...}}``)."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}

    def validate(self, arguments: Any) -> Any:
        """The arguments validated (and converted, for Pydantic-backed tools); raises
        :class:`ToolArgumentsError`. Returns a Pydantic instance or the dict itself."""
        if not isinstance(arguments, dict):
            raise ToolArgumentsError(self.name, f"they must be a JSON object, got {type(arguments).__name__}")
        if self.arguments_model is not None:
            from pydantic import ValidationError

            try:
                return self.arguments_model.model_validate(arguments)
            except ValidationError as e:
                problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'arguments'}: {err['msg']}"
                                     for err in e.errors())
                raise ToolArgumentsError(self.name, problems) from None
        import jsonschema

        try:
            jsonschema.validate(arguments, self.parameters)
        except jsonschema.ValidationError as e:
            raise ToolArgumentsError(self.name, f"{e.message} (at {'/'.join(map(str, e.absolute_path)) or 'the root'})") from None
        return arguments

    def __call__(self, arguments: dict) -> Any:
        """Validate ``arguments`` and run the function with them (converted)."""
        if self.function is None:
            raise GenerationArgumentError("tools", f"tool {self.name!r} has no Python function to run")
        checked = self.validate(arguments)
        if self._call is not None:
            return self._call(checked)
        if isinstance(checked, dict):
            return self.function(**checked)
        return self.function(checked)


_PARAM_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
_OTHER_SECTIONS = {"returns", "return", "raises", "yields", "examples", "example", "notes", "note", "see also",
                   "attributes", "references", "warnings"}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(description, {parameter: description}) from a Google (``Args:``), Sphinx (``:param x:``)
    or NumPy (``Parameters`` over a dashed line) docstring; the description is the text before
    the first section."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    desc: list[str] = []
    params: dict[str, str] = {}
    section, current, entry_indent = "desc", None, None
    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        indent = len(line) - len(line.lstrip())
        underlined = i + 1 < len(lines) and lines[i + 1].strip() != "" and set(lines[i + 1].strip()) == {"-"}
        title = s.rstrip(":").strip().lower()
        if (s.endswith(":") or underlined) and title in _PARAM_SECTIONS | _OTHER_SECTIONS:
            section = "params" if title in _PARAM_SECTIONS else "other"
            current, entry_indent = None, None
            i += 2 if underlined else 1
            continue
        sphinx = re.match(r":param\s+(?:\S+\s+)?(\w+)\s*:\s*(.*)$", s)
        if sphinx:
            section, current = "sphinx", sphinx.group(1)
            params[current] = sphinx.group(2).strip()
        elif s.startswith(":") and re.match(r":\w+", s):  # :returns:, :raises X:, :type x: ...
            section, current = "other", None
        elif section == "desc":
            desc.append(s)
        elif section == "params" and s:
            entry = re.match(r"\*{0,2}(\w+)(\s*)(\([^)]*\))?\s*:\s*(.*)$", s)
            if entry and (entry_indent is None or indent <= entry_indent):
                current, entry_indent = entry.group(1), indent
                numpy_type = entry.group(3) is None and entry.group(2) != ""  # "x : int", text below
                params[current] = "" if numpy_type else entry.group(4).strip()
            elif current is not None:
                params[current] = (params[current] + " " + s).strip()
        elif section == "sphinx" and s and current is not None and indent > 0:
            params[current] = (params[current] + " " + s).strip()
        i += 1
    return " ".join(" ".join(desc).split()), params


def tool_from_callable(fn: Callable, *, name: str | None = None, description: str | None = None) -> Tool:
    """A :class:`Tool` from a function's signature, type hints and docstring (through Pydantic).

    Every parameter becomes a property (required unless it has a default); ``Optional``,
    ``Enum``, ``Literal``, lists, dicts and nested Pydantic models map as Pydantic maps them.
    Undeclared arguments are refused (``additionalProperties: false``).
    """
    from pydantic import ConfigDict, Field, create_model

    if not callable(fn):
        raise GenerationArgumentError("tools", f"{fn!r} is not callable")
    name = name or getattr(fn, "__name__", None)
    if not name or not _NAME_RE.match(name):
        raise GenerationArgumentError("tools", f"tool name {name!r} must match {_NAME_RE.pattern} (pass a named function)")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as e:
        raise GenerationArgumentError("tools", f"cannot read the signature of {name}: {e}") from None
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as e:  # an annotation naming something undefined
        raise GenerationArgumentError("tools", f"cannot resolve the type hints of {name}: {e}") from None
    doc, param_docs = parse_docstring(inspect.getdoc(fn))
    fields: dict[str, Any] = {}
    kinds: dict[str, Any] = {}
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise GenerationArgumentError("tools", f"{name}: *{p.name} / **{p.name} parameters cannot be described "
                                          "by a JSON schema; give every argument a name")
        if p.name.startswith("_"):
            raise GenerationArgumentError("tools", f"{name}: parameter {p.name!r} starts with '_' (Pydantic cannot "
                                          "make it a field); rename it")
        ann = hints.get(p.name, Any)
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (ann, Field(default, description=param_docs.get(p.name) or None))
        kinds[p.name] = p.kind
    try:
        model = create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
        schema = model.model_json_schema()
    except Exception as e:  # a type Pydantic cannot describe
        raise GenerationArgumentError("tools", f"{name}: cannot build a JSON schema for its parameters ({e})") from None
    schema.pop("title", None)

    def call(checked):
        args, kwargs = [], {}
        for k, kind in kinds.items():
            v = getattr(checked, k)
            if kind is inspect.Parameter.POSITIONAL_ONLY:
                args.append(v)
            else:
                kwargs[k] = v
        return fn(*args, **kwargs)

    return Tool(name=name, description=description if description is not None else doc, parameters=schema,
                function=fn, arguments_model=model, _call=call)


def _tool_from_model(cls) -> Tool:
    schema = cls.model_json_schema()
    schema.pop("title", None)
    doc = inspect.getdoc(cls) or ""
    if doc == inspect.getdoc(cls.__mro__[1]):  # BaseModel's own docstring is no description
        doc = ""
    return Tool(name=cls.__name__, description=" ".join(doc.split()), parameters=schema, arguments_model=cls)


def _tool_from_dict(d: dict) -> Tool:
    fn = d.get("function") if d.get("type") == "function" else d
    if not isinstance(fn, dict) or "name" not in fn:
        raise GenerationArgumentError("tools", f"a tool dict needs {{'type': 'function', 'function': {{'name': ..., "
                                      f"'parameters': {{...}}}}}}, got {json.dumps(d)[:120]}")
    name = fn["name"]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise GenerationArgumentError("tools", f"tool name {name!r} must match {_NAME_RE.pattern}")
    params = fn.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(params, dict) or params.get("type", "object") != "object":
        raise GenerationArgumentError("tools", f"tool {name!r}: parameters must be a JSON Schema object "
                                      f"(type 'object'), got {json.dumps(params)[:120]}")
    return Tool(name=name, description=fn.get("description", "") or "", parameters=params)


def as_tool(obj) -> Tool:
    """A :class:`Tool` from an OpenAI tool dict, a Pydantic model class or a Python callable."""
    if isinstance(obj, Tool):
        return obj
    if isinstance(obj, dict):
        return _tool_from_dict(obj)
    if is_pydantic_class(obj):
        return _tool_from_model(obj)
    if callable(obj):
        return tool_from_callable(obj)
    raise GenerationArgumentError("tools", f"unsupported tool {obj!r}: expected an OpenAI tool dict, a Python "
                                  "function or a Pydantic model class")


def as_tools(tools) -> list[Tool]:
    """Every tool of ``tools`` (None: none); names must be unique."""
    if tools is None:
        return []
    if isinstance(tools, (dict, Tool)) or callable(tools) and not isinstance(tools, (list, tuple)):
        raise GenerationArgumentError("tools", "must be a list of tools")
    out = [as_tool(t) for t in tools]
    seen: set[str] = set()
    for t in out:
        if t.name in seen:
            raise GenerationArgumentError("tools", f"two tools are named {t.name!r}")
        seen.add(t.name)
    return out
