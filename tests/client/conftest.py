"""Fixtures of the client tests: the simulated Things served in-process on a free port."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._consumed import ConsumedThing, consume

from ..conftest import serving

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


def load_simulated() -> ModuleType:
    """examples/simulated.py as a module (examples/ is not a package)."""
    if "simulated" in sys.modules:
        return sys.modules["simulated"]
    spec = importlib.util.spec_from_file_location("simulated", EXAMPLES / "simulated.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["simulated"] = module
    spec.loader.exec_module(module)
    return module


class Gadget(wl.Thing):
    """A Thing with the shapes the simulated ones lack."""

    secret: str = wl.property(default="s", write_only=True, description="Write-only.")
    limit: int = wl.property(default=5, minimum=0, maximum=10, description="A bounded integer.")

    @wl.action
    def fail(self) -> int:
        """Always fails."""
        raise RuntimeError("the gadget broke")

    @wl.action(synchronous=True)
    def nothing(self) -> None:
        """A synchronous action without output (204)."""


@pytest.fixture
async def servient() -> AsyncIterator[tuple[wl.HttpServer, dict[str, Any]]]:
    """The simulated stage and meter and a gadget on a real loopback server."""
    simulated = load_simulated()
    stage = simulated.SimulatedStage(name="stage", title="Simulated stage")
    meter = simulated.SimulatedMeter(name="meter", title="Simulated meter")
    gadget = Gadget(name="gadget")
    async with serving([stage, meter, gadget]) as (server, _):
        yield server, {"stage": stage, "meter": meter, "gadget": gadget}


@pytest.fixture
async def stage(servient: tuple[wl.HttpServer, dict[str, Any]]) -> AsyncIterator[ConsumedThing]:
    """The consumed simulated stage."""
    server, _ = servient
    async with await consume(f"{server.url}things/stage") as thing:
        yield thing
