"""Routes of the browser control panel: ``/`` and its static assets under ``/panel/``.

The panel is plain HTML, CSS and JavaScript modules shipped in the wheel
(``wot_labthing/_panel``); it builds every page in the browser from Thing
Descriptions, so the server only hands out files. The files are read once when
this module is imported (a few hundred kB), so no request reads the disk on the
event loop.
"""

from __future__ import annotations

import hashlib
import mimetypes
from importlib import resources
from importlib.resources.abc import Traversable

from quart import Blueprint, Response, abort, request

from . import routes

__all__ = ["blueprint"]

blueprint = Blueprint("panel", __name__)

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

# The panel fetches TDs from any servient the user names ("open any TD"), so
# connect-src is open; everything it runs or styles comes from this servient.
_CSP = (
    "default-src 'self'; connect-src *; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def _load(root: Traversable, prefix: str = "") -> dict[str, tuple[bytes, str, str]]:
    """Every file under ``root`` as ``{relative path: (body, content type, etag)}``."""
    files: dict[str, tuple[bytes, str, str]] = {}
    for entry in root.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            files.update(_load(entry, name + "/"))
            continue
        suffix = "." + entry.name.rpartition(".")[2]
        kind = _TYPES.get(suffix) or mimetypes.guess_type(entry.name)[0]
        if kind is None:
            continue  # licence texts and the like are shipped but not served
        body = entry.read_bytes()
        files[name] = (body, kind, '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
    return files


_ASSETS = _load(resources.files("wot_labthing") / "_panel")


def _serve(name: str) -> Response:
    asset = _ASSETS.get(name)
    if asset is None:
        abort(404)
    body, kind, etag = asset
    if request.headers.get("If-None-Match") == etag:
        response = Response(b"", status=304)
    else:
        response = Response(body, status=200, content_type=kind)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"  # revalidate: a new version shows at once
    response.headers["X-Content-Type-Options"] = "nosniff"
    if kind.startswith("text/html"):
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


@blueprint.route(routes.PANEL, methods=["GET"])
async def index() -> Response:
    """The panel: the list of Things, or one Thing's page with ``?td=<TD URL>``."""
    return _serve("index.html")


@blueprint.route(routes.PANEL_ASSET, methods=["GET"])
async def asset(name: str) -> Response:
    """A static file of the panel (modules, styles, the vendored uPlot)."""
    return _serve(name)
