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


#: RFC 6570 section 3.2's variables.
RFC_VARIABLES: dict[str, Any] = {
    "count": ["one", "two", "three"],
    "dom": ["example", "com"],
    "dub": "me/too",
    "hello": "Hello World!",
    "half": "50%",
    "var": "value",
    "who": "fred",
    "base": "http://example.com/home/",
    "path": "/foo/bar",
    "list": ["red", "green", "blue"],
    "keys": {"semi": ";", "dot": ".", "comma": ","},
    "v": "6",
    "x": "1024",
    "y": "768",
    "empty": "",
    "empty_keys": {},
    "undef": None,
}

#: RFC 6570 section 3.2's examples (levels 1 to 4), template -> expansion.
RFC_EXAMPLES = {
    # 3.2.1 variable expansion
    "{count}": "one,two,three",
    "{count*}": "one,two,three",
    "{/count}": "/one,two,three",
    "{/count*}": "/one/two/three",
    "{;count}": ";count=one,two,three",
    "{;count*}": ";count=one;count=two;count=three",
    "{?count}": "?count=one,two,three",
    "{?count*}": "?count=one&count=two&count=three",
    "{&count*}": "&count=one&count=two&count=three",
    # 3.2.2 simple string expansion
    "{var}": "value",
    "{hello}": "Hello%20World%21",
    "{half}": "50%25",
    "O{empty}X": "OX",
    "O{undef}X": "OX",
    "{x,y}": "1024,768",
    "{x,hello,y}": "1024,Hello%20World%21,768",
    "?{x,empty}": "?1024,",
    "?{x,undef}": "?1024",
    "?{undef,y}": "?768",
    "{var:3}": "val",
    "{var:30}": "value",
    "{list}": "red,green,blue",
    "{list*}": "red,green,blue",
    "{keys}": "semi,%3B,dot,.,comma,%2C",
    "{keys*}": "semi=%3B,dot=.,comma=%2C",
    # 3.2.3 reserved expansion
    "{+var}": "value",
    "{+hello}": "Hello%20World!",
    "{+half}": "50%25",
    "{base}index": "http%3A%2F%2Fexample.com%2Fhome%2Findex",
    "{+base}index": "http://example.com/home/index",
    "O{+empty}X": "OX",
    "{+path}/here": "/foo/bar/here",
    "here?ref={+path}": "here?ref=/foo/bar",
    "up{+path}{var}/here": "up/foo/barvalue/here",
    "{+x,hello,y}": "1024,Hello%20World!,768",
    "{+path,x}/here": "/foo/bar,1024/here",
    "{+path:6}/here": "/foo/b/here",
    "{+list*}": "red,green,blue",
    "{+keys}": "semi,;,dot,.,comma,,",
    "{+keys*}": "semi=;,dot=.,comma=,",
    # 3.2.4 fragment expansion
    "{#var}": "#value",
    "{#hello}": "#Hello%20World!",
    "foo{#empty}": "foo#",
    "foo{#undef}": "foo",
    "{#path,x}/here": "#/foo/bar,1024/here",
    "{#path:6}/here": "#/foo/b/here",
    "{#list*}": "#red,green,blue",
    "{#keys}": "#semi,;,dot,.,comma,,",
    # 3.2.5 label expansion
    "{.who,who}": ".fred.fred",
    "{.half,who}": ".50%25.fred",
    "www{.dom*}": "www.example.com",
    "X{.empty}": "X.",
    "X{.undef}": "X",
    "X{.var:3}": "X.val",
    "X{.list}": "X.red,green,blue",
    "X{.list*}": "X.red.green.blue",
    "X{.keys*}": "X.semi=%3B.dot=..comma=%2C",
    "X{.empty_keys}": "X",
    "X{.empty_keys*}": "X",
    # 3.2.6 path segment expansion
    "{/who,who}": "/fred/fred",
    "{/half,who}": "/50%25/fred",
    "{/who,dub}": "/fred/me%2Ftoo",
    "{/var,empty}": "/value/",
    "{/var,undef}": "/value",
    "{/var,x}/here": "/value/1024/here",
    "{/var:1,var}": "/v/value",
    "{/list}": "/red,green,blue",
    "{/list*}": "/red/green/blue",
    "{/list*,path:4}": "/red/green/blue/%2Ffoo",
    "{/keys}": "/semi,%3B,dot,.,comma,%2C",
    "{/keys*}": "/semi=%3B/dot=./comma=%2C",
    # 3.2.7 path-style parameter expansion
    "{;who}": ";who=fred",
    "{;half}": ";half=50%25",
    "{;empty}": ";empty",
    "{;v,empty,who}": ";v=6;empty;who=fred",
    "{;v,bar,who}": ";v=6;who=fred",
    "{;x,y,undef}": ";x=1024;y=768",
    "{;hello:5}": ";hello=Hello",
    "{;list*}": ";list=red;list=green;list=blue",
    "{;keys}": ";keys=semi,%3B,dot,.,comma,%2C",
    "{;keys*}": ";semi=%3B;dot=.;comma=%2C",
    # 3.2.8 form-style query expansion
    "{?who}": "?who=fred",
    "{?half}": "?half=50%25",
    "{?x,y}": "?x=1024&y=768",
    "{?x,y,empty}": "?x=1024&y=768&empty=",
    "{?x,y,undef}": "?x=1024&y=768",
    "{?var:3}": "?var=val",
    "{?list}": "?list=red,green,blue",
    "{?list*}": "?list=red&list=green&list=blue",
    "{?keys}": "?keys=semi,%3B,dot,.,comma,%2C",
    "{?keys*}": "?semi=%3B&dot=.&comma=%2C",
    # 3.2.9 form-style query continuation
    "{&who}": "&who=fred",
    "?fixed=yes{&x}": "?fixed=yes&x=1024",
    "{&x,y,empty}": "&x=1024&y=768&empty=",
    "{&var:3}": "&var=val",
    "{&list*}": "&list=red&list=green&list=blue",
    "{&keys*}": "&semi=%3B&dot=.&comma=%2C",
}


@pytest.mark.parametrize(("template", "expected"), RFC_EXAMPLES.items())
def test_rfc6570_examples(template: str, expected: str) -> None:
    assert expand_href(template, RFC_VARIABLES) == expected


def test_json_values_expand_as_json_spells_them() -> None:
    assert expand_href("r{?on,n,x}", {"on": False, "n": 2.5, "x": None}) == "r?on=false&n=2.5"
    assert expand_href("plain/href", {"unused": 1}) == "plain/href"


@pytest.mark.parametrize(
    ("template", "variables", "message"),
    [
        ("things{?offset", {}, "not a valid URI Template"),
        ("things{=x}", {"x": 1}, "not a valid URI Template"),
        ("p{list:2}", {"list": ["a", "b"]}, "cannot expand"),
    ],
)
def test_a_bad_template_or_value_is_a_consumer_error(
    template: str, variables: dict[str, Any], message: str
) -> None:
    with pytest.raises(wl.ConsumerError, match=message):
        expand_href(template, variables)
