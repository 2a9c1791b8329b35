"""Tools for ``structgen chat --tools examples/tools.py "..."`` (and the README's agent example).

Every public function here becomes a tool: its signature and type hints give the JSON schema of
its arguments, its docstring the descriptions the model reads.
"""

from __future__ import annotations


def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: The first factor.
        b: The second factor.
    """
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first term.
        b: The second term.
    """
    return a + b


def get_weather(city: str, unit: str = "celsius") -> dict:
    """Current weather in a city (a fixed, made-up report).

    Args:
        city: The city name, e.g. "Paris".
        unit: "celsius" or "fahrenheit".
    """
    temp = {"paris": 18, "london": 14, "tokyo": 22}.get(city.lower(), 20)
    if unit == "fahrenheit":
        temp = round(temp * 9 / 5 + 32)
    return {"city": city, "temperature": temp, "unit": unit, "sky": "clear"}
