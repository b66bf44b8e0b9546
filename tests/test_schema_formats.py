"""Format checking stays on: every format our schemas use is checked, and bad values fail.

jsonschema checks a ``format`` only when the package implementing it is installed,
silently passing it otherwise; these tests catch a dependency dropped by mistake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from wot_labthing._errors import InputError
from wot_labthing._schema import SchemaValidator
from wot_labthing._td import validate_td

ROOT = Path(__file__).parent.parent

#: format -> (a valid value, an invalid value). The first three are what td_schemas/ uses;
#: the others are cheap formats a Thing's own DataSchema may name.
EXAMPLES = {
    "date-time": ("2026-11-29T20:00:00Z", "2026-11-29 20:00"),
    "uri": ("https://example.com/a?b=c", "not a uri"),
    "uri-reference": ("../things/x#frag", "has space and \\ backslash"),
    "time": ("20:00:00Z", "25:99"),
    "uri-template": ("/things{/id}{?q*}", "/things{id"),
    "json-pointer": ("/properties/0", "properties/0"),
    "hostname": ("lab-pc.local", "-bad-.example"),
}


def _formats(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        value = node.get("format")
        if isinstance(value, str):
            yield value
        for child in node.values():
            yield from _formats(child)
    elif isinstance(node, list):
        for child in node:
            yield from _formats(child)


def _schema_formats() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "td_schemas").rglob("*.json"):
        found.update(_formats(json.loads(path.read_text("utf-8"))))
    return found


def test_every_format_in_our_schemas_has_a_checker_and_an_example() -> None:
    used = _schema_formats()
    assert {"date-time", "uri", "uri-reference"} <= used
    assert used <= set(Draft7Validator.FORMAT_CHECKER.checkers)
    assert used <= set(EXAMPLES)


@pytest.mark.parametrize("fmt", sorted(EXAMPLES))
def test_a_value_breaking_its_format_is_rejected(fmt: str) -> None:
    good, bad = EXAMPLES[fmt]
    validator = SchemaValidator({"type": "string", "format": fmt})
    validator.validate(good)
    with pytest.raises(InputError):
        validator.validate(bad)


def test_a_td_with_a_bad_date_time_or_uri_is_invalid() -> None:
    td = {
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "title": "x",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "created": "yesterday",
        "id": "not a uri",
    }
    problems = "\n".join(validate_td(td))
    assert "yesterday" in problems
    assert "not a uri" in problems
    td["created"], td["id"] = (
        "2026-11-29T20:00:00Z",
        "urn:uuid:0e0c8f2a-6f1e-4f7e-9d4b-1d2c3e4f5a6b",
    )
    assert validate_td(td) == []
