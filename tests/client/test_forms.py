"""Form choice from a TD alone: op and method defaults, content types, base, URI templates."""

from __future__ import annotations

from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._consumed.forms import expand_href, find_forms, pick_form

TD: dict[str, Any] = {
    "base": "http://h:1/things/x/",
    "properties": {
        "both": {"forms": [{"href": "p/both"}]},
        "ro": {"readOnly": True, "forms": [{"href": "p/ro"}]},
        "cbor": {
            "forms": [
                {"href": "p/c", "contentType": "application/cbor"},
                {"href": "p/j", "contentType": "application/json"},
            ]
        },
        "obs": {
            "observable": True,
            "forms": [
                {"href": "p/o/poll", "op": "observeproperty"},
                {"href": "p/o/sse", "op": ["observeproperty"], "subprotocol": "sse"},
            ],
        },
    },
    "actions": {"go": {"forms": [{"href": "/root/go", "htv:methodName": "PATCH"}]}},
    "events": {"e": {"forms": [{"href": "coap://h/e"}, {"href": "e"}]}},
}


def test_defaults_for_op_and_method() -> None:
    (read,) = find_forms(TD, TD["base"], "properties", "both", "readproperty")
    (write,) = find_forms(TD, TD["base"], "properties", "both", "writeproperty")
    assert (read.method, write.method) == ("GET", "PUT")
    assert read.href == write.href == "http://h:1/things/x/p/both"
    assert find_forms(TD, TD["base"], "properties", "ro", "writeproperty") == []
    (go,) = find_forms(TD, TD["base"], "actions", "go", "invokeaction")
    assert (go.method, go.href) == ("PATCH", "http://h:1/root/go")
    (event,) = find_forms(TD, TD["base"], "events", "e", "subscribeevent")
    assert event.href == "http://h:1/things/x/e"  # the coap form is skipped


def test_json_forms_only_and_subprotocol_preference() -> None:
    assert pick_form(TD, TD["base"], "properties", "cbor", "readproperty").href.endswith("p/j")
    sse = pick_form(TD, TD["base"], "properties", "obs", "observeproperty", ("sse", "longpoll"))
    assert sse.href.endswith("/sse")
    poll = pick_form(TD, TD["base"], "properties", "obs", "observeproperty", ("longpoll",))
    assert poll.href.endswith("/poll")  # no subprotocol: long polling, as node-wot assumes
    with pytest.raises(wl.ConsumerError, match="no JSON-over-HTTP form"):
        pick_form(TD, TD["base"], "properties", "obs", "observeproperty", ("websub",))
    with pytest.raises(wl.NotFoundError, match="no property 'nope'"):
        find_forms(TD, TD["base"], "properties", "nope", "readproperty")


@pytest.mark.parametrize(
    ("template", "variables", "expected"),
    [
        ("/actions/{actionID}", {"actionID": "a b"}, "/actions/a%20b"),
        ("things{?offset,limit}", {"offset": 2, "limit": 5}, "things?offset=2&limit=5"),
        ("things{?offset,limit}", {"limit": 5}, "things?limit=5"),
        ("things{?offset}", {}, "things"),
        ("x?a=1{&b}", {"b": True}, "x?a=1&b=true"),
        ("p{/seg}", {"seg": "s/t"}, "p/s%2Ft"),
        ("{+path}/x", {"path": "a/b"}, "a/b/x"),
        ("m{?names}", {"names": ["a", "b"]}, "m?names=a,b"),
    ],
)
def test_uri_template_expansion(template: str, variables: dict[str, Any], expected: str) -> None:
    assert expand_href(template, variables) == expected
