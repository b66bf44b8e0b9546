from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Any, Literal, Optional, TypedDict

import pytest

import wot_labthing as wl
from wot_labthing._schema import SchemaValidator, from_json, schema_for


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Point(TypedDict):
    x: int
    y: float


@dataclasses.dataclass
class Move:
    """A relative move."""

    dx: int
    dy: int = 0


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        (bool, {"type": "boolean"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (str, {"type": "string"}),
        (Literal["a", "b"], {"enum": ["a", "b"], "type": "string"}),
        (Colour, {"enum": ["red", "green"], "type": "string"}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (
            tuple[int, str],
            {
                "type": "array",
                "items": [{"type": "integer"}, {"type": "string"}],
                "minItems": 2,
                "maxItems": 2,
            },
        ),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (Optional[int], {"oneOf": [{"type": "integer"}, {"type": "null"}]}),  # noqa: UP045
        (int | None, {"oneOf": [{"type": "integer"}, {"type": "null"}]}),
        (
            Annotated[float, wl.Constraints(minimum=0, unit="mm")],
            {"type": "number", "minimum": 0, "unit": "mm"},
        ),
        (Annotated[int, {"maximum": 5}], {"type": "integer", "maximum": 5}),
    ],
)
def test_annotations_map_to_json_schema(hint: Any, schema: dict[str, Any]) -> None:
    assert schema_for(hint) == schema


def test_typeddict_and_dataclass_become_objects() -> None:
    assert schema_for(Point) == {
        "type": "object",
        "properties": {"x": {"type": "integer"}, "y": {"type": "number"}},
        "additionalProperties": False,
        "required": ["x", "y"],
    }
    move = schema_for(Move)
    assert move["required"] == ["dx"]
    assert move["description"] == "A relative move."


@pytest.mark.parametrize("hint", [bytes, set[int], dict[int, int], list, object])
def test_unsupported_types_fail_clearly(hint: Any) -> None:
    with pytest.raises(wl.DefinitionError, match="where"):
        schema_for(hint, where="where")


def test_missing_annotations_fail_at_class_definition() -> None:
    with pytest.raises(wl.DefinitionError, match=r"Bad\.speed"):

        class Bad(wl.Thing):
            speed = wl.property(default=1.0)

    with pytest.raises(wl.DefinitionError, match=r"Bad2\.move.*'x'"):

        class Bad2(wl.Thing):
            @wl.action
            def move(self, x) -> None:  # type: ignore[no-untyped-def]
                """Move."""

    with pytest.raises(wl.DefinitionError, match=r"Bad3\.data"):

        class Bad3(wl.Thing):
            data: bytes = wl.property(default=b"")

    with pytest.raises(wl.DefinitionError, match="finite"):
        wl.property(default=1.0, maximum=float("inf"))


def test_a_default_outside_its_own_limits_names_the_property() -> None:
    with pytest.raises(wl.DefinitionError, match=r"^Heater\.setpoint: the default 500\.0 breaks"):

        class Heater(wl.Thing):
            setpoint: float = wl.property(default=500.0, maximum=120)


def test_validator_reports_json_pointer_of_nested_field() -> None:
    validator = SchemaValidator(schema_for(list[Point]))
    validator.validate([{"x": 1, "y": 2.5}])
    with pytest.raises(wl.InputError) as info:
        validator.validate([{"x": 1, "y": 2}, {"x": "no", "y": 1}])
    assert info.value.pointer == "/1/x"


def test_bool_is_not_an_integer() -> None:
    with pytest.raises(wl.InputError):
        SchemaValidator(schema_for(int)).validate(True)
    assert schema_for(Literal[True, False]) == {"enum": [True, False], "type": "boolean"}


def test_from_json_builds_python_values() -> None:
    assert from_json(Move, {"dx": 3}) == Move(3)
    assert from_json(Colour, "red") is Colour.RED
    assert from_json(tuple[int, str], [1, "a"]) == (1, "a")
    assert from_json(list[Move], [{"dx": 1, "dy": 2}]) == [Move(1, 2)]
    assert from_json(float, 3) == 3.0 and isinstance(from_json(float, 3), float)
    assert from_json(Optional[Colour], None) is None  # noqa: UP045
