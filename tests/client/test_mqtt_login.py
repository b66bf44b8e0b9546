"""Which login our client gives a broker: only the broker's, and only what the TD asks for."""

from __future__ import annotations

from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._consumed.mqtt import broker_login, mqtt_form

HTTP = {"username": "otto", "password": "http-pw"}
BROKER = {"mqtt_username": "reader", "mqtt_password": "reader-pw"}


def td(form_security: Any = None, thing_security: str = "basic_sc", href: str = "") -> Any:
    form: dict[str, Any] = {
        "href": href or "mqtt://broker.lab:1883/lab/lamp/properties/level",
        "op": ["observeproperty"],
    }
    if form_security is not None:
        form["security"] = form_security
    return {
        "securityDefinitions": {
            "basic_sc": {"scheme": "basic", "in": "header"},
            "bearer_sc": {"scheme": "bearer"},
            "mqtt_nosec_sc": {"scheme": "nosec"},
            "mqtt_basic_sc": {"scheme": "basic", "in": "auto"},
            "either": {"scheme": "combo", "oneOf": ["mqtt_basic_sc", "mqtt_nosec_sc"]},
            "both": {"scheme": "combo", "allOf": ["mqtt_nosec_sc", "mqtt_basic_sc"]},
        },
        "security": thing_security,
        "properties": {"level": {"observable": True, "forms": [form]}},
    }


def login(description: Any, **credentials: str) -> tuple[str | None, str | None]:
    form = mqtt_form(description, "properties", "level", "observeproperty")
    assert form is not None
    given = wl.Credentials(**credentials) if credentials else None
    return broker_login(description, form, given)


def test_an_anonymous_broker_gets_no_login_even_when_http_has_one() -> None:
    for security in (["mqtt_nosec_sc"], "mqtt_nosec_sc", ["either"]):
        assert login(td(security), **HTTP) == (None, None), security
    # a broker login given is used even where none is asked for (the broker's ACL may want it)
    assert login(td(["mqtt_nosec_sc"]), **HTTP, **BROKER) == ("reader", "reader-pw")


def test_a_broker_that_wants_a_login_gets_the_brokers_never_the_http_one() -> None:
    for security in (["mqtt_basic_sc"], "mqtt_basic_sc", ["both"]):
        assert login(td(security), **HTTP, **BROKER) == ("reader", "reader-pw"), security
        with pytest.raises(wl.ConsumerError, match=r"broker.lab:1883 wants a login.*never"):
            login(td(security), **HTTP)
    # an older TD without form-level security: the Thing's basic covers the MQTT form,
    # and still the HTTP login is not sent to the broker
    with pytest.raises(wl.ConsumerError, match="wants a login"):
        login(td(None), **HTTP)
    assert login(td(None, "mqtt_nosec_sc")) == (None, None)


def test_schemes_a_broker_cannot_take_are_refused_and_undefined_names_too() -> None:
    with pytest.raises(wl.ConsumerError, match="'bearer' on an MQTT form"):
        login(td(["bearer_sc"]), token="t")
    with pytest.raises(wl.ConsumerError, match="not defined"):
        login(td(["missing_sc"]))


def test_a_login_in_the_forms_href_is_used_when_none_is_given() -> None:
    href = "mqtt://u%40lab:p%3Aw@broker.lab:1883/lab/lamp/properties/level"
    assert login(td(["mqtt_basic_sc"], href=href)) == ("u@lab", "p:w")
    assert login(td(["mqtt_basic_sc"], href=href), **BROKER) == ("reader", "reader-pw")
