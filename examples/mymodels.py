"""Pydantic models for the README's ``structgen generate --pydantic examples.mymodels:Recipe``.

``structgen`` imports ``MODULE:CLASS`` with the current directory on ``sys.path``, so from the
repository root ``examples.mymodels`` is this file.  Strings and lists are bounded so that a
small model cannot run past the token budget inside one of them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Line = Annotated[str, StringConstraints(min_length=1, max_length=60)]


class Ingredient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=30)]
    quantity: Annotated[str, StringConstraints(min_length=1, max_length=15)]


class Recipe(BaseModel):
    """A recipe: a title, a serving count and short ingredient and step lists."""

    model_config = ConfigDict(extra="forbid")

    title: Line
    servings: int = Field(ge=1, le=12)
    ingredients: list[Ingredient] = Field(min_length=1, max_length=6)
    steps: list[Line] = Field(min_length=1, max_length=4)
