"""Thing Models (TD 1.1 §10): the class-level template every TD of a Thing class is an instance of.

A Thing class *is* what TD 1.1 calls a Thing Model: its affordances and their
data schemas are fixed by the class, while the id, title, base URL and forms
belong to each exposed instance. :func:`thing_model` describes a class as a TM:

- ``@type`` ``tm:ThingModel``, no ``id`` (a TM identifies no Thing) and
  ``version.model``: the class's ``model_version`` attribute if it sets one, else
  the version of the installed distribution that ships the class's package;
- instance-specific values stay out of the model: like the ``id``, the ``title``
  belongs to each instance (every config may set it; the default is the class
  name). A ``{{PLACEHOLDER}}`` would be the TM way to say so, but node-wot's
  ``ThingModelHelpers`` (td-tools 0.8 and 0.9, which the TD Playground also uses
  to check that a TD conforms to its model) cannot resolve ``tm:extends`` to a
  model that contains one ("Missing required fields in map"), and every base
  class's model is extended. Ports and USB ids never appear in a TD (privacy:
  essential metadata only), so no other value is instance-specific;
- ``tm:optional`` lists the affordances named in the class's ``tm_optional``
  attribute: affordances that depend on how the instrument is configured (e.g. a
  stage board without the LED module has no working ``led_brightness``);
- a subclass's TM links its base class's TM with ``rel: "tm:extends"`` and shows
  only the affordances it adds or describes differently (the base chain stops
  at :class:`~wot_labthing.Thing` itself, which has no model).

The TD of every instance links its model with one ``rel: "type"`` link; where a
model lives is the binding's business (the HTTP binding serves each at
``/models/{module:Class}`` with ``Content-Type: application/tm+json``, see
``_http/forms.py``), so :func:`thing_model` asks a ``locate`` callable for the
URL of the model it extends. The protocol-free affordance entries come from
``_td.affordance_entries``, so TM and TD agree.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import metadata
from typing import Any

from jsonschema import Draft7Validator

from ._resources import load_schema
from ._td import TD_CONTEXT, affordance_entries, schema_problems
from ._thing import Thing, describe_class

__all__ = [
    "TM_JSON",
    "class_path",
    "model_base",
    "model_classes",
    "model_version",
    "official_tm_schema",
    "thing_model",
    "validate_tm",
]

#: The media type of a Thing Model (TD 1.1 §10.4).
TM_JSON = "application/tm+json"
_FALLBACK_VERSION = "0.0.0"


def class_path(cls: type[Thing]) -> str:
    """``module:Qualname``, the name a config and ``wot-labthing tm`` use for a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def model_base(cls: type[Thing]) -> type[Thing] | None:
    """The class whose TM the TM of ``cls`` extends: its first Thing base that is a driver.

    The library's own bases (:class:`Thing`, :class:`~wot_labthing.SerialThing`)
    declare no affordances and are no models.
    """
    for base in cls.__bases__:
        if (
            isinstance(base, type)
            and issubclass(base, Thing)
            and base.__module__.partition(".")[0] != "wot_labthing"
        ):
            return base
    return None


def model_classes(classes: list[type[Thing]]) -> dict[str, type[Thing]]:
    """Every class in ``classes`` and the bases their models extend, by :func:`class_path`."""
    found: dict[str, type[Thing]] = {}
    for cls in classes:
        current: type[Thing] | None = cls
        while current is not None and class_path(current) not in found:
            found[class_path(current)] = current
            current = model_base(current)
    return found


def model_version(cls: type[Thing]) -> str:
    """``cls.model_version`` if set, else the version of the distribution shipping it."""
    declared = getattr(cls, "model_version", None)
    if isinstance(declared, str) and declared:
        return declared
    return _distribution_version(cls.__module__.partition(".")[0])


@cache
def _distribution_version(top_level: str) -> str:
    for distribution in metadata.packages_distributions().get(top_level, []):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return _FALLBACK_VERSION


def _optional_pointers(cls: type[Thing], shown: dict[str, dict[str, Any]]) -> list[str]:
    """JSON pointers of the shown affordances that ``cls.tm_optional`` names."""
    names = set(getattr(cls, "tm_optional", ()))
    return [
        f"/{table}/{name}" for table, entries in shown.items() for name in entries if name in names
    ]


def thing_model(cls: type[Thing], locate: Callable[[type[Thing]], str]) -> dict[str, Any]:
    """The TM of ``cls``; ``locate(base_class)`` is the URL of the model it extends."""
    model: dict[str, Any] = {
        "@context": [TD_CONTEXT, {"@language": "en"}],
        "@type": "tm:ThingModel",
    }
    description = describe_class(cls)  # as in a TD: no Args:/Attributes: sections
    if description:
        model["description"] = description
    model["version"] = {"model": model_version(cls)}
    entries = affordance_entries(cls)
    base = model_base(cls)
    if base is not None:
        inherited = affordance_entries(base)
        entries = {
            table: {
                name: entry
                for name, entry in described.items()
                if inherited[table].get(name) != entry
            }
            for table, described in entries.items()
        }
        model["links"] = [{"rel": "tm:extends", "href": locate(base), "type": TM_JSON}]
    optional = _optional_pointers(cls, entries)
    if optional:
        model["tm:optional"] = optional
    for table, described in entries.items():
        if described:
            model[table] = described
    return model


def official_tm_schema() -> dict[str, Any]:
    """The W3C TM 1.1 JSON Schema (errata 2025-03-12), shipped in ``td_schemas/w3c/``."""
    return load_schema("w3c/tm-json-schema-validation.json")


@cache
def _tm_validator() -> Draft7Validator:
    return Draft7Validator(official_tm_schema(), format_checker=Draft7Validator.FORMAT_CHECKER)


def validate_tm(tm: Any) -> list[str]:
    """Problems of a TM against the official TM schema (formats on); empty when valid."""
    problems = schema_problems(_tm_validator(), tm)
    if isinstance(tm, dict) and "id" in tm:
        problems.append("/id: a Thing Model identifies no Thing, so it has no id")
    return problems
