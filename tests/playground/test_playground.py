"""The W3C TD Playground's validator and assertion tester on every TD and TM we serve.

Both example servients run at once on this host (as a lab would run two), and
every TD they serve (each Thing's and each directory's) goes to the assertion
tester in one run, so the ids must be unique across servients; every Thing
Model they serve (linked by ``rel: "type"`` and ``tm:extends``) goes in another.
The Playground fetches the linked models itself to check that each TD conforms
to its model. JSON-LD contexts come from local copies (no network).
"""

from __future__ import annotations

import json
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import IN_CI, require_node
from .support import HERE, ensure_playground, serve_config

CONFIGS = ["examples/demo.toml", "examples/simulated.toml"]


def _served_documents(urls: list[str]) -> tuple[list[str], list[str]]:
    """The text of every TD the servients at ``urls`` serve, and of every TM those link."""
    tds: list[str] = []
    tms: dict[str, str] = {}
    with httpx.Client(timeout=30) as client:
        for root in urls:
            tds.append(client.get(f"{root}.well-known/wot").raise_for_status().text)
            for td in client.get(f"{root}things").raise_for_status().json():
                text = client.get(f"{root}things/{td['id']}").raise_for_status().text
                tds.append(text)
                pending = [
                    link["href"] for link in json.loads(text)["links"] if link["rel"] == "type"
                ]
                while pending:
                    href = pending.pop()
                    if href in tms:
                        continue
                    response = client.get(href).raise_for_status()
                    assert response.headers["content-type"] == "application/tm+json"
                    tms[href] = response.text
                    pending += [
                        link["href"]
                        for link in json.loads(response.text).get("links", [])
                        if link["rel"] == "tm:extends"
                    ]
    return tds, list(tms.values())


def _run_playground(tds: list[str], tms: list[str], work: Path) -> dict[str, Any]:
    node = require_node()
    ensure_playground()
    source = work / "documents.json"
    source.write_text(json.dumps({"tds": tds, "tms": tms}), "utf-8")
    done = subprocess.run(
        [node, str(HERE / "run_playground.js"), str(source)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "same Ids" not in done.stderr, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_every_served_td_and_tm_passes_the_playground(tmp_path: Path) -> None:
    if not IN_CI and not (HERE / "node_modules").exists():
        pytest.skip("run scripts/bootstrap to install the Playground (npm)")
    with ExitStack() as stack:
        running = [
            stack.enter_context(serve_config(config, tmp_path / "state")) for config in CONFIGS
        ]
        tds, tms = _served_documents([servient.url for servient in running])
        ids = [json.loads(td)["id"] for td in tds]
        assert len(set(ids)) == len(ids), "two served TDs share an id"
        assert len(tms) >= 5  # Sangaboard, Keysight34401A, ScpiInstrument, SimulatedStage/Meter
        result = _run_playground(tds, tms, tmp_path)

    for entry in result["validator"]:
        report = entry["report"]
        where = f"{entry['kind']} {entry['title']}: {entry}"
        assert report["json"] == report["schema"] == report["jsonld"] == "passed", where
        assert "failed" not in report.values(), where
        assert "failed" not in entry["details"].values(), where
        if entry["kind"] == "td" and entry["title"] != "wot-labthing servient":
            # the Playground fetched the TD's model (and the models it extends) and found
            # the TD conforming to it: every required affordance, every value the same
            # ("not-impl": the model has no tm:optional affordance to check)
            assert entry["details"]["linkedAffordances"] in ("passed", "not-impl"), where
            assert entry["details"]["linkedStructure"] == "passed", where
    assert result["assertions"]["td"]["assessed"] == len(tds)
    assert result["assertions"]["tm"]["assessed"] == len(tms)
    for kind in ("td", "tm"):
        failed = [r for r in result["assertions"][kind]["results"] if r["Status"] == "fail"]
        assert failed == [], failed
    passed = {r["ID"] for r in result["assertions"]["td"]["results"] if r["Status"] == "pass"}
    assert {
        "thing-model-td-generation-processor-type",
        "thing-model-td-generation-processor-imports",
        "td-vocab-profile--Thing",
    } <= passed
