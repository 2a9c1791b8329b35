"""What an output is worth: the JSON value in a text (whole, fenced, or the first value), and
whether it validates against the schema with the draft's own validator and format checker."""

from __future__ import annotations

import json
import re
import warnings
from typing import Any


_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n?(.*?)```", re.S)
_DECODER = json.JSONDecoder()


def extract_json(text: str) -> tuple[Any, str] | None:
    """``(value, how)`` of the JSON in a free-form output, or None if there is none.

    In order: the whole text (stripped) is JSON (``how="whole"``); else the first fenced
    block (```` ```json ... ``` ```` or a bare ```` ``` ````) that parses (``"fence"``); else the
    first complete JSON value that starts at a ``{`` or ``[`` (``"first_value"``; what follows
    it is ignored, e.g. an explanation or a second value).  Also used on unfinished outputs: a
    complete first value counts even if the model went on talking until the budget ran out.
    """
    s = text.strip()
    if not s:
        return None
    try:
        return json.loads(s), "whole"
    except (ValueError, RecursionError):
        pass
    for m in _FENCE_RE.finditer(text):
        body = m.group(2).strip()
        try:
            return json.loads(body), "fence"
        except (ValueError, RecursionError):
            continue
    # an unterminated fence: take what follows its opening line
    i = text.find("```")
    if i >= 0:
        rest = text[i + 3:]
        rest = rest.split("\n", 1)[1] if "\n" in rest else ""
        found = _first_value(rest)
        if found is not None:
            return found, "fence"
    found = _first_value(text)
    if found is not None:
        return found, "first_value"
    return None


def _first_value(text: str):
    for i, c in enumerate(text):
        if c in "{[":
            try:
                value, _ = _DECODER.raw_decode(text, i)
            except (ValueError, RecursionError):
                continue
            return value
    return None


def validate_instance(schema: Any, value: Any) -> tuple[bool | None, str | None]:
    """``(valid, message)``: ``jsonschema`` with the validator class of the schema's
    ``$schema`` (default Draft 2020-12) and that draft's format checker (``cls.FORMAT_CHECKER``:
    a bare ``FormatChecker()`` mixes the drafts' checkers, so ``time`` would be draft 3's
    ``HH:MM:SS`` without an offset); ``valid`` is None with a
    message ``"could not validate: ..."`` when the validator itself fails (an unresolvable
    ``$ref``, a pattern Python's ``re`` rejects...)."""
    import jsonschema
    from jsonschema import validators

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls = validators.validator_for(schema, default=validators.Draft202012Validator)
            v = cls(schema, format_checker=cls.FORMAT_CHECKER)
            err = jsonschema.exceptions.best_match(v.iter_errors(value))
    except RecursionError:
        return None, "could not validate: RecursionError"
    except Exception as e:  # noqa: BLE001
        msg = f"{type(e).__name__}: {e}"
        return None, "could not validate: " + msg[:300]
    if err is None:
        return True, None
    path = "/" + "/".join(str(p) for p in err.absolute_path)
    msg = f"{err.message} (at {path}, keyword {err.validator})"
    return False, msg[:500]


def check_output(schema: Any, text: str, mode: str, finished: bool) -> dict:
    """Parse (or, unconstrained, extract) and validate one output; see the module docstring."""
    out: dict[str, Any] = {"parses": False, "extracted": None, "valid": None, "validation_error": None,
                           "success": False}
    if mode == "constrained":
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as e:
            out["validation_error"] = f"not JSON: {e}"[:300]
            return out
        how = "whole"
    else:
        found = extract_json(text)
        if found is None:
            out["validation_error"] = "no JSON value found"
            return out
        value, how = found
    out["parses"], out["extracted"] = True, how
    valid, msg = validate_instance(schema, value)
    out["valid"], out["validation_error"] = valid, msg
    out["success"] = bool(valid) and (finished or mode != "constrained")
    return out
