"""Which advertised directories take registrations, and where their Things API is."""

from __future__ import annotations

import pytest

from wot_labthing._discovery.directories import DirectoryAdvertising, _base_url

DOMUS = {
    "@type": "ThingDirectory",
    "base": "http://localhost:5000",  # its TD_REPO_URL: a name only it may know
    "actions": {"createTD": {}, "updateTD": {}, "deleteTD": {}},
}


def test_a_directory_with_the_things_api_write_actions_takes_registrations() -> None:
    # the address that answered wins over the name in base; base's path is kept
    assert _base_url("http://10.0.0.7:5000/", DOMUS) == "http://10.0.0.7:5000"
    spec = {"base": "https://tdd.lab/wot/", "actions": {"createThing": {}, "updateThing": {}}}
    assert _base_url("https://10.0.0.8:8443/wot/td", spec) == "https://10.0.0.8:8443/wot"
    assert _base_url("http://10.0.0.9/td", {"actions": {"createAnonymousThing": {}}}) == (
        "http://10.0.0.9"
    )


def test_a_servients_own_directory_is_read_only() -> None:
    ours = {"@type": "ThingDirectory", "properties": {"things": {}}}
    assert _base_url("http://10.0.0.5:8080/.well-known/wot", ours) is None
    assert _base_url("http://10.0.0.5:8080/", {"actions": "nonsense"}) is None


def test_only_an_http_directory_can_be_announced() -> None:
    with pytest.raises(ValueError, match="not an http"):
        DirectoryAdvertising("tdd.lab:5000")
    announced = DirectoryAdvertising("http://tdd.lab:5000")
    assert (announced.port, announced.title) == (5000, "TD Directory at tdd.lab:5000")


def test_the_directory_table_shows_where_to_register_or_read_only() -> None:
    from wot_labthing._cli.discover import format_directories
    from wot_labthing._discovery import DiscoveredDirectory

    table = format_directories(
        [
            DiscoveredDirectory("Lab TDD", "http://10.0.0.7:5000/", "http://10.0.0.7:5000"),
            DiscoveredDirectory("wot-labthing on bench1", "http://10.0.0.5:8080/.well-known/wot"),
        ]
    ).splitlines()
    assert table[0].split() == ["TITLE", "TD", "URL", "REGISTER", "AT"]
    assert table[1].split()[-1] == "http://10.0.0.7:5000"
    assert table[2].endswith("read-only")


async def test_a_loopback_directory_is_not_announced_to_the_lan(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import wot_labthing as wl

    announcement = DirectoryAdvertising("http://127.0.0.1:5000")
    await announcement.open(wl.Servient([]), [])
    assert announcement.name is None and announcement._zeroconf is None
    assert "not an address other hosts can reach" in caplog.text
    await announcement.close()  # idempotent, nothing to withdraw
