"""The panel's routes: ``/`` and its static assets, as shipped in the package."""

from __future__ import annotations

import re
from typing import Any

import wot_labthing as wl

PROBLEM = "application/problem+json"


class Tiny(wl.Thing):
    """One property is enough to serve the panel."""

    gain: int = wl.property(default=1, description="Gain.")


async def test_root_serves_the_panel_with_its_security_headers(serve: Any) -> None:
    async with serve([Tiny(name="tiny")]) as (_, client):
        page = await client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "connect-src *" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        # every asset the page names is served, with the right type
        for path in re.findall(r'(?:href|src)="(/panel/[^"]+)"', page.text):
            asset = await client.get(path)
            assert asset.status_code == 200, path
        module = await client.get("/panel/app.js")
        assert module.headers["content-type"] == "text/javascript; charset=utf-8"
        imports = re.findall(r'from "\./([^"]+)"', module.text)
        assert "vendor/uPlot.esm.js" not in imports and "plot.js" in imports
        for name in imports:
            assert (await client.get(f"/panel/{name}")).status_code == 200, name
        plot = await client.get("/panel/plot.js")
        assert 'from "./vendor/uPlot.esm.js"' in plot.text
        assert (await client.get("/panel/vendor/uPlot.esm.js")).status_code == 200


async def test_assets_revalidate_by_etag_and_unknown_ones_are_problems(serve: Any) -> None:
    async with serve([Tiny(name="tiny")]) as (_, client):
        first = await client.get("/panel/panel.css")
        etag = first.headers["etag"]
        again = await client.get("/panel/panel.css", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        for path in ("/panel/nothing.js", "/panel/vendor/uPlot.LICENSE", "/panel/../_http/app.py"):
            missing = await client.get(path)
            assert missing.status_code == 404, path
            assert missing.headers["content-type"] == PROBLEM


def test_every_panel_file_ships_in_the_wheel() -> None:
    """Each file under wot_labthing/_panel matches a package-data glob of pyproject.toml."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(wl.__file__).parent
    pyproject = tomllib.loads((root.parent / "pyproject.toml").read_text("utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["wot_labthing"]
    files = [p.relative_to(root).as_posix() for p in (root / "_panel").rglob("*") if p.is_file()]
    assert "_panel/vendor/uPlot.LICENSE" in files
    missing = [
        name
        for name in files
        if "__pycache__" not in name
        and not any(
            fnmatch.fnmatch(name, pattern) and name.count("/") == pattern.count("/")
            for pattern in globs
        )
    ]
    assert missing == []
