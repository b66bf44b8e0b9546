"""Item 2: unions and conversions, proven over generated annotations (hypothesis).

For every generated annotation: its schema is valid JSON Schema and a valid TD
DataSchema; every value of the type survives to-JSON -> validate -> from-JSON
unchanged (same Python types); a JSON value is accepted exactly when an
independent oracle says it belongs to the type; and every value the schema
allows (generated from the schema by hypothesis-jsonschema) converts to a
Python value that converts back to the same JSON.
"""

from __future__ import annotations

import json
import math
import os
import typing
from functools import cache
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft7Validator

import wot_labthing as wl
from wot_labthing._schema import SchemaValidator, from_json, schema_for, to_json
from wot_labthing._td import official_td_schema

PROFILE = settings(
    max_examples=int(os.environ.get("WOT_HYPOTHESIS_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Annotations ------------------------------------------------------------------

_SCALARS = st.one_of(
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False).filter(lambda f: not f.is_integer()),
    st.text(max_size=5),
)


def _literal(values: list[Any]) -> Any:
    return Literal.__getitem__(tuple(values))


def _bounds(kind: type) -> st.SearchStrategy[Any]:
    numbers = st.integers(-100, 100) if kind is int else st.floats(-100, 100)

    def build(pair: tuple[Any, Any]) -> Any:
        low, high = sorted(bound + 0 for bound in pair)  # -0.0 + 0 is 0.0
        return Annotated[kind, wl.Constraints(minimum=low, maximum=high)]

    return st.tuples(numbers, numbers).map(build)


LEAVES = st.one_of(
    st.sampled_from([bool, int, float, str, type(None)]),
    st.lists(_SCALARS, min_size=1, max_size=4, unique_by=lambda v: (type(v), v)).map(_literal),
    _bounds(int),
    _bounds(float),
    st.tuples(st.integers(0, 3), st.integers(0, 3)).map(
        lambda p: Annotated[str, wl.Constraints(min_length=min(p), max_length=max(p))]
    ),
)


def _category(hint: Any) -> str:
    """What kind of Python value a hint makes: union options keep to distinct kinds.

    JSON cannot tell a list from a tuple, so ``list[int] | tuple[int, ...]`` has no
    faithful round trip; ``int`` and ``float`` (the overlapping case) are kept apart.
    """
    origin = get_origin(hint)
    if origin is Annotated:
        return _category(get_args(hint)[0])
    if origin is Literal:
        return "literal"
    if origin in (list, tuple):
        return "array"
    if origin is dict:
        return "object"
    if origin is Union:
        return "union"
    return getattr(hint, "__name__", repr(hint))


def _union(options: list[Any]) -> Any:
    kept: dict[str, Any] = {}
    for option in options:
        kept.setdefault(_category(option), option)
    if "literal" in kept and len(kept) > 1:
        del kept["literal"]  # a literal overlaps the scalar options it shares a JSON kind with
    kept.pop("union", None)
    return Union.__getitem__(tuple(kept.values())) if kept else int


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        children.map(lambda t: list[t]),  # type: ignore[valid-type]
        children.map(lambda t: tuple[t, ...]),  # type: ignore[valid-type]
        st.tuples(children, children).map(lambda p: tuple[p[0], p[1]]),  # type: ignore[valid-type]
        children.map(lambda t: dict[str, t]),  # type: ignore[valid-type]
        children.map(lambda t: Optional[t]),  # noqa: UP045
        st.lists(children, min_size=2, max_size=3).map(_union),
    )


ANNOTATIONS = st.recursive(LEAVES, _extend, max_leaves=6)

# Values of a type, and an independent membership oracle for JSON --------------------


def values(hint: Any) -> st.SearchStrategy[Any]:
    origin = get_origin(hint)
    if origin is Annotated:
        base, constraints = get_args(hint)
        keywords = constraints.keywords
        if base is str:
            return st.text(min_size=keywords["minLength"], max_size=keywords["maxLength"])
        if base is int:
            return st.integers(keywords["minimum"], keywords["maximum"])
        return st.floats(keywords["minimum"], keywords["maximum"])
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(-(10**20), 10**20)
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if hint is str:
        return st.text(max_size=8)
    if hint is type(None):
        return st.none()
    if origin is Literal:
        return st.sampled_from(get_args(hint))
    if origin is list:
        return st.lists(values(get_args(hint)[0]), max_size=3)
    if origin is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(values(args[0]), max_size=3).map(tuple)
        return st.tuples(*(values(arg) for arg in args))
    if origin is dict:
        return st.dictionaries(st.text(max_size=4), values(get_args(hint)[1]), max_size=3)
    if origin is Union:
        return st.one_of(*(values(option) for option in get_args(hint)))
    raise AssertionError(hint)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same Python types, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def fits(hint: Any, value: Any) -> bool:
    """Does the JSON ``value`` belong to ``hint``? Written from the types, not the schemas."""
    origin = get_origin(hint)
    if origin is Annotated:
        base, constraints = get_args(hint)
        keywords = constraints.keywords
        if not fits(base, value):
            return False
        if base is str:
            return bool(keywords["minLength"] <= len(value) <= keywords["maxLength"])
        return bool(keywords["minimum"] <= value <= keywords["maximum"])
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return is_number and (isinstance(value, int) or float(value).is_integer())
    if hint is float:
        return is_number
    if hint is str:
        return isinstance(value, str)
    if hint is type(None):
        return value is None
    if origin is Literal:
        return any(type(v) is type(value) and v == value for v in get_args(hint)) or any(
            isinstance(v, float) and is_number and v == value for v in get_args(hint)
        )
    if origin in (list, tuple):
        if not isinstance(value, list):
            return False
        args = get_args(hint)
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            return all(fits(args[0], item) for item in value)
        return len(value) == len(args) and all(
            fits(arg, item) for arg, item in zip(args, value, strict=True)
        )
    if origin is dict:
        return isinstance(value, dict) and all(fits(get_args(hint)[1], v) for v in value.values())
    if origin is Union:
        return any(fits(option, value) for option in get_args(hint))
    raise AssertionError(hint)


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=5),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)


@cache
def _td_data_schema_validator() -> Draft7Validator:
    td = official_td_schema()
    return Draft7Validator({"$ref": "#/definitions/dataSchema", "definitions": td["definitions"]})


def assert_td_data_schema(schema: dict[str, Any]) -> None:
    """A valid TD DataSchema, including the options of an ``anyOf`` (not a TD term)."""
    errors = [error.message for error in _td_data_schema_validator().iter_errors(schema)]
    assert errors == [], (schema, errors)
    for keyword in ("anyOf", "oneOf"):
        for option in schema.get(keyword, []):
            assert_td_data_schema(option)
    items = schema.get("items")
    for item in items if isinstance(items, list) else [items] if items else []:
        assert_td_data_schema(item)
    for value in (schema.get("properties") or {}).values():
        assert_td_data_schema(value)
    if isinstance(schema.get("additionalProperties"), dict):
        assert_td_data_schema(schema["additionalProperties"])


# Properties ---------------------------------------------------------------------------


@PROFILE
@given(ANNOTATIONS)
def test_every_schema_is_valid_json_schema_and_td_data_schema(hint: Any) -> None:
    schema = schema_for(hint)
    Draft7Validator.check_schema(schema)
    assert_td_data_schema(schema)
    json.dumps(schema, allow_nan=False)


@PROFILE
@given(st.data(), ANNOTATIONS)
def test_every_value_survives_to_json_validate_from_json(data: st.DataObject, hint: Any) -> None:
    value = data.draw(values(hint))
    encoded = to_json(value)
    SchemaValidator(schema_for(hint)).validate(encoded)
    decoded = from_json(hint, json.loads(json.dumps(encoded)))
    assert same(decoded, value), (hint, value, decoded)


@PROFILE
@given(JSON_VALUES, ANNOTATIONS)
def test_a_json_value_is_accepted_exactly_when_it_belongs_to_the_type(
    value: Any, hint: Any
) -> None:
    validator = SchemaValidator(schema_for(hint))
    assert validator.is_valid(value) == fits(hint, value), (hint, value)


@PROFILE
@given(st.data(), ANNOTATIONS)
def test_every_value_the_schema_allows_converts_back_to_the_same_json(
    data: st.DataObject, hint: Any
) -> None:
    schema = schema_for(hint)
    value = data.draw(from_schema(schema, allow_x00=False))
    if isinstance(value, float) and not math.isfinite(value):
        return
    converted = from_json(hint, value)
    assert to_json(converted) == value
    assert fits(hint, to_json(converted))


# The examples of the issue ------------------------------------------------------------


def test_the_unions_of_the_issue() -> None:
    assert schema_for(int | float) == {"anyOf": [{"type": "integer"}, {"type": "number"}]}
    SchemaValidator(schema_for(int | float)).validate(3)
    assert same(from_json(int | float, 3), 3)
    assert same(from_json(int | float, 3.5), 3.5)
    assert same(from_json(tuple[int, int] | str, "ab"), "ab")
    assert same(from_json(tuple[int, int] | str, [1, 2]), (1, 2))
    assert same(from_json(list[int] | dict[str, int], {"a": 1}), {"a": 1})
    assert same(from_json(list[int] | dict[str, int], [1]), [1])
    assert schema_for(int | None) == {"oneOf": [{"type": "integer"}, {"type": "null"}]}


def test_union_action_takes_an_int() -> None:
    class Calc(wl.Thing):
        """Calculator."""

        @wl.action
        def double(self, x: int | float) -> int | float:
            """Double x."""
            return x * 2

    assert Calc().double(3) == 6
    assert Calc.actions["double"].parse_input({"x": 3}) == {"x": 3}
    assert typing.get_type_hints(Calc.actions["double"].function)["x"] == int | float
