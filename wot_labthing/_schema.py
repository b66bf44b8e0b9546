"""Python type hints and constraints -> JSON Schema, validation and value conversion.

A Thing's affordances are typed with ordinary annotations. This module turns them
into the JSON Schema (TD DataSchema) the Thing Description publishes, compiles a
validator once per schema, and converts validated JSON values into the Python
values the user's code expects (dataclasses, enums, tuples) and back.

Supported: ``bool``, ``int``, ``float``, ``str``, ``None``, ``Literal``, ``Enum``,
``list[T]``, ``tuple[T, ...]``, ``tuple[A, B]``, ``dict[str, T]``, ``TypedDict``,
dataclasses, ``Optional``/unions and ``Annotated[T, Constraints(...)]`` (or a plain
``dict`` of schema keywords). Anything else is a :class:`DefinitionError`.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin, is_typeddict

import jsonschema
import jsonschema_rs
from jsonschema import Draft7Validator

from ._errors import DefinitionError, InputError

__all__ = [
    "SCHEMA_KEYWORDS",
    "Constraints",
    "SchemaValidator",
    "from_json",
    "schema_for",
    "to_json",
]

#: Keyword arguments accepted as constraints and metadata on affordances and in Constraints.
SCHEMA_KEYWORDS = (
    "title",
    "description",
    "unit",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "contentEncoding",
    "contentMediaType",
    "readOnly",
    "writeOnly",
)

_PYTHON_NAMES = {
    "exclusive_minimum": "exclusiveMinimum",
    "exclusive_maximum": "exclusiveMaximum",
    "multiple_of": "multipleOf",
    "min_length": "minLength",
    "max_length": "maxLength",
    "min_items": "minItems",
    "max_items": "maxItems",
    "read_only": "readOnly",
    "write_only": "writeOnly",
}


def normalise_keywords(owner: str, keywords: Mapping[str, Any]) -> dict[str, Any]:
    """Map snake_case keyword names to JSON Schema names and reject unknown ones."""
    schema: dict[str, Any] = {}
    for key, value in keywords.items():
        name = _PYTHON_NAMES.get(key, key)
        if name not in SCHEMA_KEYWORDS:
            raise DefinitionError(f"{owner}: unknown schema keyword {key!r}")
        if value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise DefinitionError(f"{owner}: {key} must be finite, not {value!r}")
        schema[name] = list(value) if name == "enum" else value
    return schema


@dataclass(frozen=True)
class Constraints:
    """Schema keywords for ``Annotated[T, Constraints(minimum=0, unit="mm")]``."""

    keywords: Mapping[str, Any]

    def __init__(self, **keywords: Any) -> None:
        object.__setattr__(self, "keywords", normalise_keywords("Constraints", keywords))

    def __hash__(self) -> int:
        # hashable, so an Annotated[T, Constraints(...)] can be a union option
        return hash(json.dumps(self.keywords, sort_keys=True, default=repr))


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint)


def schema_for(hint: Any, *, where: str = "annotation") -> dict[str, Any]:
    """Return the JSON Schema (TD DataSchema) for a Python type hint.

    Raises:
        DefinitionError: the hint is missing or not supported.
    """
    if hint is inspect_empty or hint is typing.Any:
        raise DefinitionError(f"{where}: a type annotation is required (got {_type_name(hint)})")
    origin = get_origin(hint)
    if origin is typing.Annotated:
        base, *extras = get_args(hint)
        schema = schema_for(base, where=where)
        for extra in extras:
            if isinstance(extra, Constraints):
                schema.update(extra.keywords)
            elif isinstance(extra, Mapping):
                schema.update(normalise_keywords(where, extra))
            elif isinstance(extra, str):
                schema.setdefault("description", extra)
        return schema
    if hint is None or hint is type(None):
        return {"type": "null"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if origin is Literal:
        values = list(get_args(hint))
        return _enum_schema(values, where)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_schema([member.value for member in hint], where)
    if origin in (Union, types.UnionType):
        return _union_schema([schema_for(option, where=where) for option in get_args(hint)])
    if origin in (list, collections.abc.Sequence) or hint is list:
        args = get_args(hint)
        if not args:
            raise DefinitionError(f"{where}: give the item type, e.g. list[int]")
        return {"type": "array", "items": schema_for(args[0], where=where)}
    if origin is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": schema_for(args[0], where=where)}
        if not args:
            raise DefinitionError(f"{where}: give the item types, e.g. tuple[int, int]")
        return {
            "type": "array",
            "items": [schema_for(arg, where=where) for arg in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if origin is dict:
        key_type, value_type = get_args(hint) or (None, None)
        if key_type is not str:
            raise DefinitionError(f"{where}: only dict[str, T] maps to JSON, not {hint!r}")
        return {"type": "object", "additionalProperties": schema_for(value_type, where=where)}
    if is_typeddict(hint):
        hints = typing.get_type_hints(hint, include_extras=True)
        required = sorted(getattr(hint, "__required_keys__", hints))
        return _object_schema(hint, hints, required, where)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint, include_extras=True)
        required = [
            field.name
            for field in dataclasses.fields(hint)
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        ]
        return _object_schema(hint, hints, required, where)
    raise DefinitionError(
        f"{where}: type {_type_name(hint)} has no JSON Schema mapping; use bool, int, float, "
        "str, Literal, Enum, list, tuple, dict[str, T], TypedDict, a dataclass or Optional"
    )


def _object_schema(
    hint: Any, hints: dict[str, Any], required: list[str], where: str
) -> dict[str, Any]:
    properties = {
        name: schema_for(field_hint, where=f"{where}.{name}") for name, field_hint in hints.items()
    }
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    doc = (hint.__doc__ or "").strip()
    if doc and not doc.startswith(f"{hint.__name__}("):
        schema["description"] = doc.splitlines()[0]
    return schema


#: JSON Schema type -> the JSON types its values can have ("integer" values are numbers too).
_JSON_KINDS = {
    "null": {"null"},
    "boolean": {"boolean"},
    "integer": {"integer"},
    "number": {"integer", "number"},
    "string": {"string"},
    "array": {"array"},
    "object": {"object"},
}
_ANY_KIND = frozenset().union(*_JSON_KINDS.values())


def _kinds(schema: Mapping[str, Any]) -> frozenset[str]:
    """The JSON value kinds a schema may accept (an over-estimate, never an under-estimate)."""
    if "enum" in schema:
        return frozenset(_json_type(value, "enum") for value in schema["enum"])
    if "type" in schema:
        return frozenset(_JSON_KINDS[schema["type"]])
    for keyword in ("oneOf", "anyOf"):
        if keyword in schema:
            return frozenset().union(*(_kinds(option) for option in schema[keyword]))
    return _ANY_KIND


def _union_schema(options: list[dict[str, Any]]) -> dict[str, Any]:
    """``oneOf`` when no value can match two options (TD's own term), else ``anyOf``.

    ``oneOf`` demands that *exactly one* option matches, so ``int | float`` as
    ``oneOf`` would refuse ``3`` (both match). Options are provably disjoint when
    the JSON kinds they accept do not overlap (``integer`` counts as a number);
    anything else, e.g. two object or two array options, becomes ``anyOf``.
    """
    seen: set[str] = set()
    disjoint = True
    for option in options:
        kinds = _kinds(option)
        if seen & kinds:
            disjoint = False
        seen |= kinds
    return {"oneOf" if disjoint else "anyOf": options}


def _enum_schema(values: list[Any], where: str) -> dict[str, Any]:
    kinds = {_json_type(value, where) for value in values}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1:
        schema["type"] = kinds.pop()
    return schema


def _json_type(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    raise DefinitionError(f"{where}: enum value {value!r} is not a JSON scalar")


class _Empty:
    """Stands for a missing annotation."""


inspect_empty: Any = _Empty

_FORMAT_CHECKER = Draft7Validator.FORMAT_CHECKER


#: Keywords the two engines may judge differently (regex dialects, format checkers,
#: float ``multipleOf``, ``uniqueItems`` of 1 and true, references): a schema naming
#: one anywhere is validated by ``jsonschema`` alone.
_NOT_FAST = frozenset(
    {"format", "pattern", "patternProperties", "multipleOf", "uniqueItems", "$ref", "$id"}
)


def _fast_validator(schema: Mapping[str, Any]) -> Any:
    """``jsonschema_rs``'s compiled validator for ``schema``, or None where it may differ."""

    def plain(node: Any) -> bool:
        if isinstance(node, Mapping):
            return not (_NOT_FAST & node.keys()) and all(plain(item) for item in node.values())
        if isinstance(node, list):
            return all(plain(item) for item in node)
        return True

    if not plain(schema):
        return None
    try:
        return jsonschema_rs.Draft7Validator(dict(schema))
    except (ValueError, jsonschema_rs.ValidationError):  # a schema it cannot take
        return None


class SchemaValidator:
    """A JSON Schema compiled once, raising :class:`InputError` with a JSON pointer.

    Every property write and action input goes through :meth:`validate`, often
    hundreds of times a second from a driver's thread. ``jsonschema`` walks the
    schema in Python (tens of microseconds for a two-number array, several times
    that on a cold cache); ``jsonschema_rs`` answers yes or no in under one. So a
    value is first checked by ``jsonschema_rs``, and only one it refuses (or one a
    schema with :data:`_NOT_FAST` keywords takes) goes to ``jsonschema``, which has
    the last word and the error messages: a verdict never depends on the fast path
    (``tests/test_schema_fast.py`` compares the two).
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.schema = dict(schema)
        Draft7Validator.check_schema(self.schema)
        self._validator = Draft7Validator(self.schema, format_checker=_FORMAT_CHECKER)
        self._fast = _fast_validator(self.schema)

    def _fast_accepts(self, value: Any) -> bool:
        fast = self._fast
        if fast is None:
            return False
        try:
            return bool(fast.is_valid(value))
        except (ValueError, TypeError, OverflowError):  # a Python value it cannot map
            return False

    def validate(
        self, value: Any, *, thing: str | None = None, affordance: str | None = None
    ) -> None:
        """Raise :class:`InputError` naming the affordance and the first offending field.

        NaN and Infinity are refused first: JSON cannot carry them, and JSON Schema
        bounds do not catch NaN (every comparison with it is false).
        """
        named = f" for {affordance!r}" if affordance else ""
        pointer = _non_finite(value)
        if pointer is not None:
            where = f" at {pointer}" if pointer else ""
            raise InputError(
                f"invalid value{named}{where}: NaN and Infinity are not numbers JSON can carry",
                pointer=pointer,
                thing=thing,
                affordance=affordance,
            )
        if self._fast_accepts(value):
            return
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        if error is None:
            return
        pointer = "".join(f"/{_pointer_token(part)}" for part in error.absolute_path)
        where = f" at {pointer}" if pointer else ""
        raise InputError(
            f"invalid value{named}{where}: {error.message}",
            pointer=pointer,
            thing=thing,
            affordance=affordance,
        )

    def is_valid(self, value: Any) -> bool:
        """Whether ``value`` is finite JSON data that fits the schema."""
        return _non_finite(value) is None and (
            self._fast_accepts(value) or self._validator.is_valid(value)
        )


def _non_finite(value: Any) -> str | None:
    """The JSON pointer of the first NaN or Infinity inside ``value``, or None.

    The pointer is built on the way out, only when something was found: a large
    array of good numbers costs one ``isfinite`` per element, not a string each.
    """
    if isinstance(value, float):
        return None if math.isfinite(value) else ""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, _CONTAINERS_AND_FLOATS):
                found = _non_finite(item)
                if found is not None:
                    return f"/{_pointer_token(key)}{found}"
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if isinstance(item, _CONTAINERS_AND_FLOATS):
                found = _non_finite(item)
                if found is not None:
                    return f"/{index}{found}"
    return None


def _pointer_token(part: object) -> str:
    """One reference token of an RFC 6901 JSON pointer (``~`` and ``/`` escaped)."""
    return str(part).replace("~", "~0").replace("/", "~1")


_CONTAINERS_AND_FLOATS = (float, Mapping, list, tuple)
#: Types ``to_json`` returns as they are (exact types: a subclass may be an Enum).
_PLAIN_JSON = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    """Convert a Python value returned by user code into plain JSON-able data."""
    kind = type(value)
    if kind in _PLAIN_JSON:
        return value
    if kind is list:
        return [item if type(item) in _PLAIN_JSON else to_json(item) for item in value]
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_json(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(item) for item in value]
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays
        return to_json(value.tolist())
    return value


def _option_validator(option: Any) -> tuple[dict[str, Any], Draft7Validator]:
    """The schema of a union option and its compiled validator, cached per option."""
    cached = _OPTION_VALIDATORS.get(id(option))
    if cached is None or cached[0] is not option:
        schema = schema_for(option)
        cached = (option, schema, Draft7Validator(schema, format_checker=_FORMAT_CHECKER))
        _OPTION_VALIDATORS[id(option)] = cached
    return cached[1], cached[2]


#: id(hint) -> (hint, schema, validator) for union options; keeping the hint keeps its id valid.
_OPTION_VALIDATORS: dict[int, tuple[Any, dict[str, Any], Draft7Validator]] = {}


def _matching_option(hint: Any, value: Any) -> Any:
    """The union option ``value`` actually matches, preferring an exact JSON kind.

    ``3`` for ``int | float`` is the int (both match; "integer" is the exact kind);
    ``"ab"`` for ``tuple[int, int] | str`` is the string, not a tuple of characters.
    """
    kind = _json_type(value, "value") if _is_scalar(value) else None
    matching = [option for option in get_args(hint) if _option_validator(option)[1].is_valid(value)]
    if not matching:
        raise InputError(f"{value!r} matches no option of {hint!r}")
    for option in matching:
        schema = _option_validator(option)[0]
        if kind is not None and schema.get("type") == kind:
            return option
    return matching[0]


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def from_json(hint: Any, value: Any) -> Any:
    """Convert a validated JSON value into the Python type the annotation names."""
    origin = get_origin(hint)
    if origin is typing.Annotated:
        return from_json(get_args(hint)[0], value)
    if origin in (Union, types.UnionType):
        return from_json(_matching_option(hint, value), value)
    if value is None:
        return None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, float):
        return int(value)  # JSON Schema's "integer" accepts 3.0; the method gets the int 3
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if origin is tuple:
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_json(args[0], item) for item in value)
        return tuple(from_json(arg, item) for arg, item in zip(args, value, strict=False))
    if origin is list:
        (item_hint,) = get_args(hint)
        return [from_json(item_hint, item) for item in value]
    if origin is dict:
        _, value_hint = get_args(hint)
        return {key: from_json(value_hint, item) for key, item in value.items()}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint, include_extras=True)
        return hint(**{key: from_json(hints[key], item) for key, item in value.items()})
    if is_typeddict(hint):
        hints = typing.get_type_hints(hint, include_extras=True)
        return {key: from_json(hints.get(key, Any), item) for key, item in value.items()}
    return value
