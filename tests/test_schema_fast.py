"""The compiled fast path of SchemaValidator never changes a verdict of jsonschema's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from wot_labthing._errors import InputError
from wot_labthing._schema import _FORMAT_CHECKER, SchemaValidator

PLAIN_SCHEMAS: list[dict[str, Any]] = [
    {"type": "array", "items": {"type": "number"}},
    {"type": "integer", "minimum": 0, "maximum": 10},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "string", "minLength": 2, "maxLength": 4},
    {"type": "boolean"},
    {"type": "null"},
    {"enum": [1, "a", None, True]},
    {"const": 1},
    {"type": "array", "items": [{"type": "integer"}, {"type": "string"}], "minItems": 2},
    {
        "type": "object",
        "properties": {"x": {"type": "number"}, "y": {"type": "integer"}},
        "required": ["x"],
        "additionalProperties": False,
    },
    {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 2},
    {"oneOf": [{"type": "integer"}, {"type": "string"}]},
    {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 1}]},
    {"not": {"type": "string"}},
    {"type": "number", "unit": "mm", "description": "TD terms are annotations"},
]

#: Schemas the fast path must leave to jsonschema (its verdicts may differ there).
DIFFERING_SCHEMAS: list[dict[str, Any]] = [
    {"type": "number", "multipleOf": 0.1},
    {"type": "string", "pattern": "^\\d+$"},
    {"type": "string", "format": "date-time"},
    {"type": "array", "uniqueItems": True},
    {"type": "object", "patternProperties": {"^a": {"type": "integer"}}},
    {"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}}},
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["x", "y", "z", "a1"]), children, max_size=3)
    ),
    max_leaves=8,
)

EDGE_VALUES: list[Any] = [
    0, 1, 1.0, 3.0, 0.3, -1, 2**70, True, False, None, "", "ab", "abcde", "12",
    "2026-11-30T01:00:00Z", "noon", [], [1], [1, 2.5], [1, "a"], [True, True], [1, 1],
    {"x": 1}, {"x": 1, "q": 2}, {"y": 1}, {"a1": 1}, {"a1": "s"}, {"when": "noon"},
]  # fmt: skip


def _same_verdict(schema: dict[str, Any], value: Any) -> None:
    reference = Draft7Validator(schema, format_checker=_FORMAT_CHECKER).is_valid(value)
    ours = SchemaValidator(schema)
    assert ours.is_valid(value) == reference, (schema, value)
    if reference:
        ours.validate(value)
    else:
        with pytest.raises(InputError):
            ours.validate(value)


@pytest.mark.parametrize("schema", PLAIN_SCHEMAS + DIFFERING_SCHEMAS)
def test_edge_values_get_jsonschemas_verdict(schema: dict[str, Any]) -> None:
    for value in EDGE_VALUES:
        _same_verdict(schema, value)


@settings(max_examples=300, deadline=None)
@given(schema=st.sampled_from(PLAIN_SCHEMAS), value=json_values)
def test_any_json_value_gets_jsonschemas_verdict(schema: dict[str, Any], value: Any) -> None:
    _same_verdict(schema, value)


@pytest.mark.parametrize("schema", PLAIN_SCHEMAS)
def test_plain_schemas_take_the_fast_path(schema: dict[str, Any]) -> None:
    assert SchemaValidator(schema)._fast is not None


@pytest.mark.parametrize("schema", DIFFERING_SCHEMAS)
def test_keywords_judged_differently_stay_with_jsonschema(schema: dict[str, Any]) -> None:
    assert SchemaValidator(schema)._fast is None


def test_multipleof_keeps_jsonschemas_float_verdict() -> None:
    """0.3 is no multiple of 0.1 in floats (jsonschema); an exact engine says it is."""
    validator = SchemaValidator({"type": "number", "multipleOf": 0.1})
    with pytest.raises(InputError, match="multiple"):
        validator.validate(0.3)


def test_a_refused_value_names_the_field_as_before() -> None:
    validator = SchemaValidator(PLAIN_SCHEMAS[9])
    with pytest.raises(InputError) as caught:
        validator.validate({"x": "one"}, affordance="point")
    assert caught.value.pointer == "/x"
    assert "'point'" in str(caught.value)
