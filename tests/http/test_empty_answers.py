"""Empty answers carry no Content-Type (WoT Profile: "Content-Type header not set")."""

from __future__ import annotations

import wot_labthing as wl

from ..conftest import Serve


class Knob(wl.Thing):
    """A writable, observable property and actions that return nothing."""

    level: int = wl.property(default=0, observable=True, description="A level.")

    @wl.action(synchronous=True)
    def reset(self) -> None:
        """Return nothing, synchronously."""

    @wl.action
    def nothing(self) -> None:
        """Return nothing, asynchronously."""


async def test_every_empty_answer_has_no_content_type(serve: Serve) -> None:
    async with serve([Knob(name="k")]) as (_, client):
        written = await client.put("things/k/properties/level", json=3)
        assert written.status_code == 204, written.text
        probe = await client.head("things/k/properties/level/observable")
        assert probe.status_code == 202
        reset = await client.post("things/k/actions/reset")
        assert reset.status_code == 204
        run = await client.post("things/k/actions/nothing")
        output = await client.get(run.json()["href"] + "/output")
        assert output.status_code == 204
        removed = await client.delete(run.json()["href"])
        assert removed.status_code == 204
        for response in (written, probe, reset, output, removed):
            assert "content-type" not in response.headers, response.request.url
            assert response.content == b""
        # answers with a body keep theirs
        read = await client.get("things/k/properties/level")
        assert read.json() == 3 and read.headers["content-type"].startswith("application/json")
