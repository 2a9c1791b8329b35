"""Exceptions shared by every stage of the compiler.

Everything the library raises on bad or unsupported input derives from
:class:`ConstraintError`, so callers can catch one type; the subclasses say which stage
failed and carry the location (schema pointer, regex position) that the message names.
"""

from __future__ import annotations

__all__ = [
    "ConstraintError",
    "SchemaError",
    "UnsupportedSchemaError",
    "CompileBudgetError",
    "GrammarError",
    "RegexError",
    "EmptyLanguageError",
    "VocabularyError",
    "OptionError",
]


class ConstraintError(Exception):
    """Base class: a constraint could not be compiled or used."""


class SchemaError(ConstraintError):
    """The JSON Schema itself is invalid (wrong types, dangling ``$ref``...).

    ``keyword`` and ``pointer`` (the JSON pointer of the bad value) are set where the check
    knows them, so a server can answer with the location as data, not only as text.
    """

    keyword: str | None = None
    pointer: str | None = None

    def __init__(self, message: str = "", *, keyword: str | None = None, pointer: str | None = None):
        super().__init__(message)
        if keyword is not None:
            self.keyword = keyword
        if pointer is not None:
            self.pointer = pointer


class UnsupportedSchemaError(ConstraintError):
    """A valid schema uses a keyword (or keyword form) we cannot compile exactly.

    ``keyword`` is the keyword's name, ``pointer`` the JSON pointer of the schema object that
    holds it; the message names both so a log line alone says what to fix.
    """

    def __init__(self, keyword: str, pointer: str, detail: str | None = None):
        self.keyword = keyword
        self.pointer = pointer
        self.detail = detail
        msg = f"unsupported keyword {keyword!r} at {pointer or '#'!r}"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


class CompileBudgetError(ConstraintError):
    """Compilation would exceed one of its budgets (raised instead of hanging or swapping).

    ``budget`` names the budget that ran out: ``"time"``, ``"memory"``, ``"states"`` (a
    construction's state count), ``"work"`` (a subset construction's members) or
    ``"recursion"``; ``keyword`` and ``pointer`` say where in a JSON Schema (``None``
    elsewhere). They are filled in by the innermost schema location that sees the error
    (:func:`constrain.budget.schema_location`), and the message names them.
    """

    def __init__(self, message: str, *, budget: str | None = None, keyword: str | None = None,
                 pointer: str | None = None):
        self.detail = message
        self.budget = budget
        self.keyword = keyword
        self.pointer = pointer
        super().__init__(self._text())

    def _text(self) -> str:
        if self.pointer is None:
            return self.detail
        where = f"{self.keyword} at {self.pointer or '#'!r}" if self.keyword else f"at {self.pointer or '#'!r}"
        return f"{where}: {self.detail}"

    def locate(self, keyword: str | None, pointer: str | None) -> "CompileBudgetError":
        """Attach a schema location unless an inner one already did (an outer one may still
        name the keyword at the same pointer); returns ``self``."""
        if pointer is not None and (self.pointer is None or (self.pointer == pointer and not self.keyword)):
            self.pointer = pointer
            self.keyword = self.keyword or keyword
            self.args = (self._text(),)
        return self


class GrammarError(ConstraintError):
    """A grammar is malformed (undefined rule, empty lexeme, bad syntax...)."""


class RegexError(ConstraintError):
    """A regex is malformed or uses a feature that is not regular / not supported.

    ``pattern`` is the regex and ``position`` the 0-based index in it of the offending
    construct (``None`` when not tied to one place); the message names the position.
    """

    def __init__(self, message: str, pattern: str | None = None, position: int | None = None):
        self.pattern = pattern
        self.position = position
        self.msg = message
        text = message
        if position is not None:
            text += f" at position {position}"
        if pattern is not None:
            text += f" in pattern {pattern!r}"
        super().__init__(text)


class EmptyLanguageError(SchemaError, GrammarError):
    """The constraint allows no output at all (caught at compile time, not by a stuck matcher).

    ``{"const": "\\ud800"}`` (no UTF-8 spelling), ``allOf`` of contradictory types, a regex
    such as ``(?!)``: generating under them could only end in garbage or never end. A
    :class:`SchemaError` for JSON Schema callers and a :class:`GrammarError` for grammar ones.
    ``pointer`` is where the empty part sits (JSON pointer, rule or lexeme name) when known.
    """

    def __init__(self, message: str, pointer: str | None = None):
        self.pointer = pointer
        super().__init__(message)


class VocabularyError(ConstraintError, ValueError):
    """A vocabulary is unusable: not a :class:`~constrain.Vocabulary` (a tokenizer passed in its
    place), a tokenizer whose family cannot be read, one without an EOS id where an output must
    end, or one that does not match the tokenizer / model it is used with (a ``Compiled`` built
    for another model). Also a ``ValueError``, as these were before."""


class OptionError(ConstraintError, ValueError, TypeError):
    """An option of a compile entry or a matcher call has a bad value or type
    (``whitespace="tabs"``, an unknown ``json_options`` key, a negative budget, a regex
    ``dialect`` we do not know, rolling back more tokens than were consumed).

    Also a ``ValueError`` and a ``TypeError``, which is what these raised before, so existing
    ``except ValueError`` code keeps working.
    """
