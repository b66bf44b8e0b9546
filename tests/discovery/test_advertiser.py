"""The advertiser without a network: names, TXT records, addresses, loopback refusal.

A fake responder stands in for AsyncZeroconf, so these tests send no packets;
test_lan.py runs the real thing across network namespaces.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import ifaddr
import pytest
from zeroconf import NonUniqueNameException, ServiceInfo

import wot_labthing as wl
from wot_labthing._cli import compose
from wot_labthing._config import ServientConfig
from wot_labthing._discovery import (
    DIRECTORY_TYPE,
    LEGACY_TYPE,
    WOT_TYPE,
    Advertiser,
    MdnsAdvertising,
    ThingRecord,
    advertised_addresses,
    instance_name,
)
from wot_labthing._discovery import advertiser as _discovery
from wot_labthing._lifecycle import Endpoint

STAGE = ThingRecord("stage", "Simulated stage", "/things/stage", "urn:uuid:1", "A stage.")
METER = ThingRecord("meter", "Simulated meter", "/things/meter", "urn:uuid:2")


def txt(info: ServiceInfo) -> dict[str, str]:
    return {k.decode(): (v or b"").decode() for k, v in (info.properties or {}).items()}


# Instance names ------------------------------------------------------------------------


def test_a_short_title_is_the_instance_name_unchanged() -> None:
    assert instance_name("Simulated stage") == "Simulated stage"
    assert instance_name("Bühne 3 (links)") == "Bühne 3 (links)"


@pytest.mark.parametrize(
    "title",
    [
        "a" * 100,
        "Mikroskop-Bühne " * 10,
        "\U0001f52c" * 30,  # 4-byte characters: 63 is not a multiple of 4
        "ü" * 40,  # 2-byte characters: 63 is odd
        "x" + "\u20ac" * 30,  # 3-byte characters after an offset
    ],
)
def test_long_titles_are_cut_to_63_bytes_on_a_character_boundary(title: str) -> None:
    name = instance_name(title)
    encoded = name.encode("utf-8")
    assert 63 - 4 < len(encoded) <= 63
    assert title.startswith(name)  # a prefix: no replacement characters, nothing broken


def test_a_clash_suffix_still_fits_in_63_bytes() -> None:
    name = instance_name("ü" * 40, " (12)")
    assert name.endswith(" (12)")
    assert len(name.encode("utf-8")) <= 63


def test_dots_and_control_characters_do_not_reach_the_dns_label() -> None:
    assert instance_name("Stage v1.2") == "Stage v1-2"
    assert instance_name("line\none\x00\x7f") == "line one"
    assert instance_name("  ") == "Thing"


# TXT records and service types ------------------------------------------------------


def test_each_thing_is_one_wot_service_with_the_td_path() -> None:
    [info] = Advertiser(port=8080, host="10.0.0.5").service_infos(STAGE)
    assert info.type == WOT_TYPE
    assert info.name == "Simulated stage._wot._tcp.local."
    assert info.port == 8080
    assert txt(info) == {"td": "/things/stage", "type": "Thing", "scheme": "http"}


def test_the_directory_is_a_subtype_service_pointing_at_well_known() -> None:
    advertiser = Advertiser(port=8080, host="10.0.0.5", directory_title="Lab 3 servient")
    [info] = advertiser.service_infos(None)
    assert info.type == DIRECTORY_TYPE == "_directory._sub._wot._tcp.local."
    assert info.name == "Lab 3 servient._wot._tcp.local."
    assert txt(info) == {"td": "/.well-known/wot", "type": "Directory", "scheme": "http"}


def test_legacy_labthing_records_only_when_asked() -> None:
    assert len(Advertiser(port=1, host="10.0.0.5").service_infos(STAGE)) == 1
    infos = Advertiser(port=1, host="10.0.0.5", legacy=True).service_infos(STAGE)
    assert [info.type for info in infos] == [WOT_TYPE, LEGACY_TYPE]
    assert infos[1].name == "Simulated stage._labthing._tcp.local."
    assert txt(infos[1]) == {"path": "/things/stage", "id": "urn:uuid:1"}


# Addresses ----------------------------------------------------------------------------


def adapter(name: str, index: int, *ips: str | tuple[str, int, int]) -> ifaddr.Adapter:
    return ifaddr.Adapter(name, name, [ifaddr.IP(ip, 24, name) for ip in ips], index=index)


LO = adapter("lo", 1, "127.0.0.1", ("::1", 0, 0))
ETH = adapter("eth0", 2, "192.168.1.20", ("fe80::1", 0, 2), ("2001:db8::20", 0, 0))
WLAN = adapter("wlan0", 3, "10.1.2.3")


def test_bound_to_0_0_0_0_advertises_every_ipv4_interface_address() -> None:
    assert advertised_addresses("0.0.0.0", [LO, ETH, WLAN]) == ["192.168.1.20", "10.1.2.3"]


def test_bound_to_dual_stack_advertises_ipv4_then_ipv6_including_link_local() -> None:
    assert advertised_addresses("::", [LO, ETH, WLAN]) == [
        "192.168.1.20",
        "10.1.2.3",
        "fe80::1",
        "2001:db8::20",
    ]


def test_bound_to_one_address_advertises_only_that_address() -> None:
    assert advertised_addresses("10.1.2.3", [LO, ETH, WLAN]) == ["10.1.2.3"]
    assert advertised_addresses("fe80::1%eth0", [LO, ETH]) == ["fe80::1"]


def test_a_host_with_only_loopback_yields_loopback_for_the_refusal_check() -> None:
    assert advertised_addresses("0.0.0.0", [LO]) == ["127.0.0.1"]
    assert set(advertised_addresses("localhost")) <= {"127.0.0.1", "::1"}


# Lifecycle with a fake responder ------------------------------------------------------


class FakeZeroconf:
    """Records registrations; ``taken`` names clash like a peer already owning them."""

    instances: list[FakeZeroconf] = []

    def __init__(self, *, interfaces: Any, ip_version: Any) -> None:
        self.interfaces = interfaces
        self.ip_version = ip_version
        self.registered: dict[str, ServiceInfo] = {}
        self.goodbyes: list[str] = []
        self.taken: set[str] = set()
        self.closed = False
        FakeZeroconf.instances.append(self)

    async def async_register_service(self, info: ServiceInfo) -> asyncio.Future[None]:
        if info.name in self.taken or info.name in self.registered:
            raise NonUniqueNameException
        self.registered[info.name] = info
        return _done()

    async def async_unregister_service(self, info: ServiceInfo) -> asyncio.Future[None]:
        del self.registered[info.name]
        self.goodbyes.append(info.name)
        return _done()

    async def async_close(self) -> None:
        assert not self.closed
        self.closed = True


def _done() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


@pytest.fixture
def fake_zeroconf(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeZeroconf]]:
    FakeZeroconf.instances = []

    async def open_fake(*, interfaces: Any, ip_version: Any) -> FakeZeroconf:
        return FakeZeroconf(interfaces=interfaces, ip_version=ip_version)

    monkeypatch.setattr(_discovery, "open_zeroconf", open_fake)
    monkeypatch.setattr(_discovery, "advertised_addresses", lambda host: [host])
    yield FakeZeroconf


async def test_bound_to_loopback_nothing_is_advertised_and_the_log_says_why(
    fake_zeroconf: type[FakeZeroconf], caplog: pytest.LogCaptureFixture
) -> None:
    advertiser = Advertiser(port=8080, host="127.0.0.1")
    await advertiser.add(STAGE)
    with caplog.at_level(logging.INFO, logger="wot_labthing._discovery"):
        await advertiser.start()
    assert not advertiser.active
    assert fake_zeroconf.instances == []  # no responder, no packets
    assert "not advertising" in caplog.text and "127.0.0.1" in caplog.text
    assert "0.0.0.0" in caplog.text  # and how to become discoverable
    await advertiser.close()


async def test_loopback_is_advertised_when_allowed(fake_zeroconf: type[FakeZeroconf]) -> None:
    async with Advertiser(port=8080, host="127.0.0.1", allow_loopback=True) as advertiser:
        await advertiser.add(STAGE)
        [zc] = fake_zeroconf.instances
        assert zc.interfaces == ["127.0.0.1"]
        assert "Simulated stage._wot._tcp.local." in zc.registered
        assert zc.registered["Simulated stage._wot._tcp.local."].parsed_addresses() == ["127.0.0.1"]


async def test_start_announces_all_add_and_remove_update_live_close_says_goodbye(
    fake_zeroconf: type[FakeZeroconf],
) -> None:
    advertiser = Advertiser(port=8080, host="10.0.0.5", directory_title="Dir")
    await advertiser.add(STAGE)  # before start: kept until start
    assert fake_zeroconf.instances == []
    await advertiser.start()
    await advertiser.start()  # idempotent
    [zc] = fake_zeroconf.instances
    assert set(zc.registered) == {"Simulated stage._wot._tcp.local.", "Dir._wot._tcp.local."}
    assert zc.registered["Dir._wot._tcp.local."].type == DIRECTORY_TYPE

    await advertiser.add(METER)
    assert "Simulated meter._wot._tcp.local." in zc.registered
    await advertiser.remove("stage")
    assert zc.goodbyes == ["Simulated stage._wot._tcp.local."]
    assert "Simulated stage._wot._tcp.local." not in zc.registered
    await advertiser.remove("no-such-thing")
    with pytest.raises(ValueError, match="needs a name"):
        await advertiser.add(ThingRecord("", "Nameless", "/things/x"))

    await advertiser.close()
    await advertiser.close()  # idempotent
    assert zc.registered == {} and zc.closed
    assert sorted(zc.goodbyes[1:]) == ["Dir._wot._tcp.local.", "Simulated meter._wot._tcp.local."]
    assert not advertiser.active


async def test_a_name_clash_renames_within_63_bytes_instead_of_failing(
    fake_zeroconf: type[FakeZeroconf],
) -> None:
    title = "ü" * 40
    long = ThingRecord("long", title, "/things/long")
    advertiser = Advertiser(port=8080, host="10.0.0.5", directory_path=None)
    original = FakeZeroconf.__init__

    def clashing(self: FakeZeroconf, **kwargs: Any) -> None:
        original(self, **kwargs)
        self.taken = {
            f"{instance_name(title)}._wot._tcp.local.",
            "Simulated stage._wot._tcp.local.",
        }

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FakeZeroconf, "__init__", clashing)
        async with advertiser:
            await advertiser.add(long)
            await advertiser.add(STAGE)
            names = advertiser.instance_names
    assert names["stage"] == ["Simulated stage (2)._wot._tcp.local."]
    [renamed] = names["long"]
    instance = renamed.removesuffix("._wot._tcp.local.")
    assert instance.endswith(" (2)") and len(instance.encode("utf-8")) <= 63


async def test_a_thing_that_cannot_be_advertised_does_not_stop_the_others(
    fake_zeroconf: type[FakeZeroconf], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_discovery, "MAX_RENAMES", 2)
    advertiser = Advertiser(port=8080, host="10.0.0.5", directory_path=None)
    await advertiser.add(STAGE)
    await advertiser.add(METER)
    original = FakeZeroconf.async_register_service

    async def refuse_stage(self: FakeZeroconf, info: ServiceInfo) -> asyncio.Future[None]:
        if info.name.startswith("Simulated stage"):
            raise NonUniqueNameException
        return await original(self, info)

    monkeypatch.setattr(FakeZeroconf, "async_register_service", refuse_stage)
    async with advertiser:
        assert list(advertiser.instance_names) == ["meter"]


class Lamp(wl.Thing):
    """A lamp on the bench."""

    on: bool = wl.property(default=False, description="Whether it is lit.")


async def settle() -> None:
    for _ in range(20):  # the registry listener schedules the update as a task
        await asyncio.sleep(0)


def endpoint(host: str, port: int) -> Endpoint:
    return Endpoint("http", host, port, lambda name: f"/things/{name}", "/.well-known/wot")


async def test_the_servient_advertiser_follows_things_added_and_removed_while_serving(
    fake_zeroconf: type[FakeZeroconf],
) -> None:
    servient = wl.Servient([Lamp(name="left", title="Left lamp")])
    mdns = MdnsAdvertising()
    await mdns.open(servient, [endpoint("10.0.0.5", 8080)])
    [zc] = fake_zeroconf.instances
    left = zc.registered["Left lamp._wot._tcp.local."]
    assert txt(left)["td"] == "/things/left"
    servient.add(Lamp(name="right", title="Right lamp"))
    await settle()
    assert "Right lamp._wot._tcp.local." in zc.registered
    servient.remove("left")
    await settle()
    assert zc.goodbyes == ["Left lamp._wot._tcp.local."]
    await mdns.close()
    assert zc.closed and zc.registered == {}
    servient.add(Lamp(name="late", title="Late lamp"))  # no longer followed
    await settle()
    assert "Late lamp._wot._tcp.local." not in zc.registered


async def advertised_then_shut_down(
    servient: wl.Servient, server: wl.HttpServer, zeroconf: type[FakeZeroconf]
) -> list[str]:
    """Run ``servient``; return the port each Thing was advertised with, check the goodbyes."""
    async with servient:
        [zc] = zeroconf.instances
        info = zc.registered["Left lamp._wot._tcp.local."]
        assert txt(info)["td"] == "/things/left" and info.port == server.port
        directory = zc.registered[f"{instance_name('Lab')}._wot._tcp.local."]
        assert txt(directory)["td"] == "/.well-known/wot"
        async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
            assert (await client.get(txt(info)["td"])).status_code == 200
        registered = sorted(zc.registered)
    assert zc.closed and zc.registered == {}
    assert sorted(zc.goodbyes) == registered, "every record said goodbye"
    assert server.endpoint is None, "the HTTP binding stopped with the servient"
    return registered


async def test_an_embedded_servient_is_advertised_and_shut_down_like_the_cli_s(
    fake_zeroconf: type[FakeZeroconf],
) -> None:
    embedded = wl.Servient([Lamp(name="left", title="Left lamp")])
    server = wl.HttpServer(embedded, host="127.0.0.1", port=0)
    embedded.add_advertiser(MdnsAdvertising(allow_loopback=True, directory_title="Lab"))
    by_hand = await advertised_then_shut_down(embedded, server, fake_zeroconf)

    fake_zeroconf.instances = []
    config = ServientConfig(host="127.0.0.1", port=0, mdns=True, mdns_loopback=True)
    cli = wl.Servient([Lamp(name="left", title="Left lamp")])
    cli_server = compose(config, cli)
    for advertiser in cli.advertisers:  # the same title, to compare the record names
        assert isinstance(advertiser, MdnsAdvertising)
        advertiser.directory_title = "Lab"
    assert await advertised_then_shut_down(cli, cli_server, fake_zeroconf) == by_hand
