"""Our own JSON Schemas in ``td_schemas/``, loaded once with importlib.resources."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from ._schema import SchemaValidator

__all__ = ["load_schema", "schema_validator"]


@cache
def load_schema(filename: str) -> dict[str, Any]:
    """A schema shipped in the ``td_schemas`` package, e.g. ``problem.schema.json``."""
    text = resources.files("td_schemas").joinpath(filename).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def schema_validator(filename: str) -> SchemaValidator:
    """A compiled validator for a shipped schema (format checking on)."""
    return SchemaValidator(load_schema(filename))
