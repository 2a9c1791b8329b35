"""Tools from Python callables, Pydantic models and OpenAI dicts (decode/tools/schemas.py)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Literal, Optional

import jsonschema
import pytest
from pydantic import BaseModel

from decode.result import GenerationArgumentError
from decode.tools import Tool, ToolArgumentsError, as_tool, tool_from_callable
from decode.tools.schemas import as_tools, parse_docstring


class Unit(enum.Enum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Place(BaseModel):
    city: str
    country: str = "FR"


def forecast(place: Place, day: dt.date, unit: Unit = Unit.celsius, hours: list[int] = [],  # noqa: B006
             detail: Literal["short", "long"] = "short", note: Optional[str] = None) -> dict:
    """Forecast for a place.

    Args:
        place: Where.
        day (date): Which day,
            in ISO format.
        unit: Temperature unit.
    """
    return {"place": place, "day": day, "unit": unit, "hours": hours, "detail": detail, "note": note}


def test_schema_from_a_callable_covers_the_types():
    t = tool_from_callable(forecast)
    s = t.parameters
    assert t.name == "forecast" and t.description == "Forecast for a place."
    assert s["type"] == "object" and s["additionalProperties"] is False
    assert s["required"] == ["place", "day"]  # parameters with defaults are optional
    props = s["properties"]
    assert props["day"] == {"format": "date", "type": "string", "title": "Day",
                            "description": "Which day, in ISO format."}
    assert props["unit"]["default"] == "celsius" and props["unit"]["description"] == "Temperature unit."
    assert s["$defs"]["Unit"]["enum"] == ["celsius", "fahrenheit"]
    assert props["hours"]["type"] == "array" and props["hours"]["items"] == {"type": "integer"}
    assert props["detail"]["enum"] == ["short", "long"] and props["detail"]["default"] == "short"
    assert {"type": "null"} in props["note"]["anyOf"] and props["note"]["default"] is None
    assert s["$defs"]["Place"]["required"] == ["city"]
    jsonschema.Draft202012Validator.check_schema(s)
    # the schema and the validator agree: a valid instance validates under both
    good = {"place": {"city": "Paris"}, "day": "2024-05-01", "unit": "fahrenheit", "hours": [1, 2]}
    jsonschema.validate(good, s)
    out = t(good)
    assert out["place"] == Place(city="Paris") and out["day"] == dt.date(2024, 5, 1)
    assert out["unit"] is Unit.fahrenheit and out["hours"] == [1, 2] and out["detail"] == "short"


@pytest.mark.parametrize("bad,word", [
    ({"place": {"city": "Paris"}}, "day"),                               # missing
    ({"place": {"city": "Paris"}, "day": "2024-05-01", "zzz": 1}, "zzz"),  # unknown argument
    ({"place": {"city": "Paris"}, "day": "2024-05-01", "unit": "kelvin"}, "unit"),
    ({"place": {"city": "Paris"}, "day": "May 1st"}, "day"),
])
def test_bad_arguments_are_refused_naming_the_field(bad, word):
    t = tool_from_callable(forecast)
    with pytest.raises(ToolArgumentsError, match=word):
        t(bad)
    if bad.get("day") != "May 1st":  # jsonschema treats "format" as an annotation; Pydantic checks it
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, t.parameters)


def test_docstring_styles():
    google = parse_docstring("Add.\n\nArgs:\n    a (int): first\n        number\n    b: second\n\nReturns:\n    sum\n")
    sphinx = parse_docstring("Add.\n\n:param int a: first\n    number\n:param b: second\n:returns: sum\n")
    numpy = parse_docstring("Add.\n\nParameters\n----------\na : int\n    first\n    number\nb : int\n    second\n\n"
                            "Returns\n-------\nint\n")
    for desc, params in (google, sphinx, numpy):
        assert desc == "Add." and params == {"a": "first number", "b": "second"}
    assert parse_docstring(None) == ("", {})


def test_pydantic_model_and_openai_dict_tools():
    class get_time(BaseModel):
        """Current time in a timezone."""
        tz: str

    t = as_tool(get_time)
    assert t.name == "get_time" and t.description == "Current time in a timezone."
    assert t.validate({"tz": "UTC"}) == get_time(tz="UTC") and t.function is None
    d = {"type": "function", "function": {"name": "f", "description": "d",
                                          "parameters": {"type": "object", "properties": {"x": {"type": "integer"}},
                                                         "required": ["x"]}}}
    t = as_tool(d)
    assert t.openai() == d
    assert t.validate({"x": 1}) == {"x": 1}
    with pytest.raises(ToolArgumentsError, match="x"):
        t.validate({"x": "one"})
    assert as_tool(t) is t and isinstance(t, Tool)


def test_bad_tools_are_refused():
    def star(*args): ...
    def under(_x: int): ...
    with pytest.raises(GenerationArgumentError, match=r"\*args"):
        tool_from_callable(star)
    with pytest.raises(GenerationArgumentError, match="_x"):
        tool_from_callable(under)
    with pytest.raises(GenerationArgumentError, match="name"):
        tool_from_callable(lambda x: x)
    with pytest.raises(GenerationArgumentError, match="parameters must be"):
        as_tool({"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}})
    with pytest.raises(GenerationArgumentError, match="two tools"):
        as_tools([forecast, forecast])
    with pytest.raises(GenerationArgumentError, match="unsupported tool"):
        as_tool(3)
