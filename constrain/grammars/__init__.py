"""Lark grammars shipped with structgen.

``names()`` lists them, ``load(name)`` returns a grammar's text (compile it with
:func:`constrain.compile_lark`), ``path(name)`` its file. The folder is also on the
``%import`` path of :func:`~constrain.compile_lark`, so a grammar can
``%import json.value`` or ``%import json (object, WS)``.

=============  =====================================================================
``json``       JSON text (RFC 8259), whitespace between tokens
``arithmetic`` arithmetic expressions (left-recursive rules, ``^`` right-associative)
``sql``        ``SELECT ... FROM ... [WHERE] [GROUP BY] [ORDER BY] [LIMIT]``;
               :func:`sql_grammar` restricts it to given tables and columns
``tool_call``  free text, or one or more ``<tool_call>{json}</tool_call>`` blocks
``sexpr``      S-expressions (a Lisp subset)
=============  =====================================================================
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources

__all__ = ["names", "load", "path", "directory", "sql_grammar"]


def directory() -> str:
    """The folder holding the ``.lark`` files."""
    return os.path.dirname(os.path.abspath(__file__))


def names() -> list[str]:
    """Names of the shipped grammars (file names without ``.lark``), sorted."""
    return sorted(r.name[:-5] for r in resources.files(__name__).iterdir() if r.name.endswith(".lark"))


def _check(name: str) -> str:
    if not isinstance(name, str) or name not in names():
        raise KeyError(f"no shipped grammar named {name!r}; available: {', '.join(names())}")
    return name


def load(name: str) -> str:
    """The text of shipped grammar ``name`` (e.g. ``"json"``)."""
    return resources.files(__name__).joinpath(_check(name) + ".lark").read_text(encoding="utf-8")


def path(name: str) -> str:
    """The file of shipped grammar ``name``."""
    return os.path.join(directory(), _check(name) + ".lark")


def _lark_string(text: str) -> str:
    """A Lark string literal matching exactly ``text``."""
    if not text:
        raise ValueError("names must not be empty")
    if "\n" in text or "\r" in text:
        raise ValueError(f"names must not contain line breaks: {text!r}")
    return json.dumps(text, ensure_ascii=False)


def sql_grammar(tables: dict[str, list[str]]) -> str:
    """``sql.lark`` restricted to ``tables`` (table name -> its column names).

    Only those tables can follow ``FROM``, and every column position (select list,
    ``WHERE``, ``GROUP BY``, ``ORDER BY``, aggregates) only accepts the columns of the table
    the query selects from. Names are matched literally and case-sensitively (quote them in
    the dict, e.g. ``'"Order"'``, if your SQL needs quoted identifiers).
    """
    if not isinstance(tables, dict) or not tables:
        raise ValueError("tables must be a non-empty dict: table name -> list of column names")
    lines = [load("sql"), "", "// --- restricted to the given tables (sql_grammar) ---"]
    queries = []
    for k, (table, columns) in enumerate(tables.items()):
        if isinstance(columns, str) or not columns:
            raise ValueError(f"table {table!r} needs a non-empty list of column names")
        cols = list(dict.fromkeys(columns))
        lines.append(f"sg_table_{k}: {_lark_string(table)}")
        lines.append(f"sg_columns_{k}: " + " | ".join(_lark_string(c) for c in cols))
        queries.append(f"query{{sg_columns_{k}, sg_table_{k}}}")
    lines.append('%override start: _WS? (' + " | ".join(queries) + ') _WS? (";" _WS?)?')
    text = "\n".join(lines) + "\n"
    if re.search(r"%override start", load("sql")):  # pragma: no cover - guard for edits of sql.lark
        raise RuntimeError("sql.lark must not override start itself")
    return text
