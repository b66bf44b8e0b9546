"""TD ids: stable across restarts, unique per installation and per running servient."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._errors import ConfigError
from wot_labthing._ids import ServientIds, installation_namespace

from .playground.support import serve_config


class Lamp(wl.Thing):
    """A lamp."""

    on: bool = wl.property(default=False, description="Lit or not.")


def test_the_installation_namespace_is_created_once_and_kept(tmp_path: Path) -> None:
    first = installation_namespace(tmp_path / "state")
    assert (tmp_path / "state" / "installation-id").read_text().strip() == str(first)
    assert installation_namespace(tmp_path / "state") == first
    assert installation_namespace(tmp_path / "other") != first
    assert first.version == 4  # random, never derived from the host or a device


def test_a_broken_installation_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "installation-id").write_text("not a uuid")
    with pytest.raises(ConfigError, match="should hold one UUID"):
        installation_namespace(tmp_path)


def test_installations_racing_agree_on_one_namespace(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from wot_labthing._ids import "
        "installation_namespace as n; print(n(Path(sys.argv[1])))"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    printed = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert printed == {(tmp_path / "installation-id").read_text().strip()}


def test_a_servient_gets_its_ids_back_after_a_restart(tmp_path: Path) -> None:
    ids = ServientIds(tmp_path, "lab.toml")
    ids.open()
    first = ids.thing_id("stage")
    ids.close()
    again = ServientIds(tmp_path, "lab.toml")
    again.open()
    assert again.thing_id("stage") == first and again.slot == 0
    assert again.thing_id("meter") != first
    assert again.directory_id() not in (first, again.thing_id("meter"))
    again.close()
    # before open: what a lone servient would get
    assert ServientIds(tmp_path, "lab.toml").thing_id("stage") == first


def test_servients_sharing_a_state_dir_never_share_ids(tmp_path: Path) -> None:
    one = ServientIds(tmp_path, "lab.toml")
    same_config = ServientIds(tmp_path, "lab.toml")
    other_config = ServientIds(tmp_path, "other.toml")
    for ids in (one, same_config, other_config):
        ids.open()
    try:
        assert (one.slot, same_config.slot, other_config.slot) == (0, 1, 0)
        stages = {ids.thing_id("stage") for ids in (one, same_config, other_config)}
        assert len(stages) == 3
    finally:
        for ids in (one, same_config, other_config):
            ids.close()


def test_another_installation_gives_other_ids(tmp_path: Path) -> None:
    here = ServientIds(tmp_path / "a", "lab.toml")
    there = ServientIds(tmp_path / "b", "lab.toml")
    assert here.thing_id("stage") != there.thing_id("stage")


def test_an_unusable_state_dir_still_gives_unique_ids(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    ids = ServientIds(blocker / "state", "x")
    ids.open()  # warns, then uses a random namespace for this run
    assert ids.thing_id("a").startswith("urn:uuid:")
    ids.close()


def test_a_fixed_namespace_touches_no_files(tmp_path: Path) -> None:
    namespace = uuid.UUID("12345678-1234-4678-9234-567812345678")
    ids = ServientIds(tmp_path / "never", namespace=namespace)
    ids.open()
    assert ids.thing_id("a") == f"urn:uuid:{uuid.uuid5(namespace, 'thing/a')}"
    assert not (tmp_path / "never").exists()


async def test_running_servients_serve_distinct_ids_and_a_pinned_id_wins(tmp_path: Path) -> None:
    pinned = "urn:uuid:00000000-0000-4000-8000-000000000042"

    def servient(*things: wl.Thing) -> wl.Servient:
        return wl.Servient(things, ids=ServientIds(tmp_path, "same.toml"))

    first = wl.HttpServer(servient(Lamp(name="lamp"), Lamp(name="fixed", id=pinned)), port=0)
    second = wl.HttpServer(servient(Lamp(name="lamp")), port=0)
    async with first, second, httpx.AsyncClient(timeout=10) as client:
        one = (await client.get(f"{first.url}things/lamp")).json()["id"]
        two = (await client.get(f"{second.url}things/lamp")).json()["id"]
        fixed = (await client.get(f"{first.url}things/fixed")).json()["id"]
        directories = {
            (await client.get(f"{server.url}.well-known/wot")).json()["id"]
            for server in (first, second)
        }
    assert one != two and fixed == pinned and len(directories) == 2
    restarted = wl.HttpServer(servient(Lamp(name="lamp")), port=0)
    async with restarted, httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{restarted.url}things/lamp")).json()["id"] == one


def test_two_configs_served_from_one_host_have_disjoint_stable_ids(tmp_path: Path) -> None:
    configs = [tmp_path / "a.toml", tmp_path / "b.toml"]
    for config in configs:
        config.write_text(
            f'[[things]]\nclass = "simulated:SimulatedStage"\nname = "stage"\n'
            f"kwargs = {{}}\n# {config.name}\n"
        )

    def served_ids() -> list[str]:
        found = []
        for config in configs:
            with serve_config(str(config), tmp_path / "state", extra_path="examples") as running:
                found += [httpx.get(url, timeout=10).json()["id"] for url in running.td_urls]
        return found

    first = served_ids()
    assert len(first) == 2 and len(set(first)) == 2
    assert served_ids() == first
