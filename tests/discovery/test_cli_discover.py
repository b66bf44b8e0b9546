"""The discover command's output, with discovery itself replaced."""

from __future__ import annotations

import io
import json

import pytest

from wot_labthing._cli import discover as _cli_discover
from wot_labthing._discovery import DiscoveredThing

FOUND = [
    DiscoveredThing(
        "Simulated meter",
        "http://10.0.0.5:8080/things/meter",
        "A  multimeter\non a serial port.",
        td={"id": "urn:uuid:m", "title": "Simulated meter"},
    ),
    DiscoveredThing(
        "Stage",
        "http://10.0.0.6:8080/things/stage",
        None,
        td={"title": "Stage"},
        problems=["'@context' is a required property"],
        via="http://10.0.0.6:8080/.well-known/wot",
    ),
]


@pytest.fixture
def found(monkeypatch: pytest.MonkeyPatch) -> list[DiscoveredThing]:
    things: list[DiscoveredThing] = []
    monkeypatch.setattr(_cli_discover, "discover_sync", lambda timeout: things)
    return things


def test_table_of_title_td_url_and_description(found: list[DiscoveredThing]) -> None:
    found.extend(FOUND)
    out = io.StringIO()
    assert _cli_discover.discover_command(1.0, False, out) == 0
    assert out.getvalue().splitlines() == [
        "TITLE            TD URL                             DESCRIPTION",
        "Simulated meter  http://10.0.0.5:8080/things/meter  A multimeter on a serial port.",
        "Stage            http://10.0.0.6:8080/things/stage  (invalid TD: 1 problem)",
    ]


def test_json_carries_the_td_and_where_it_came_from(found: list[DiscoveredThing]) -> None:
    found.extend(FOUND)
    out = io.StringIO()
    assert _cli_discover.discover_command(1.0, True, out) == 0
    meter, stage = json.loads(out.getvalue())
    assert meter == {
        "title": "Simulated meter",
        "td_url": "http://10.0.0.5:8080/things/meter",
        "description": "A  multimeter\non a serial port.",
        "id": "urn:uuid:m",
        "via": None,
        "valid": True,
        "td": {"id": "urn:uuid:m", "title": "Simulated meter"},
    }
    assert stage["valid"] is False and stage["via"].endswith("/.well-known/wot")


def test_nothing_found_exits_1_with_a_hint(
    found: list[DiscoveredThing], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli_discover.discover_command(0.5, False) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no WoT Things found in 0.5 s" in captured.err and "5353" in captured.err
    assert _cli_discover.discover_command(0.5, True) == 1
    assert json.loads(capsys.readouterr().out) == []
