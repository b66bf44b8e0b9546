"""The package: importing ``wot_labthing`` costs only the core; the rest loads lazily."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import wot_labthing as wl

#: Names served by the package's PEP 562 ``__getattr__``, with the module that defines them.
LAZY = {
    "ActionHandle": "wot_labthing._consumed",
    "ConsumedThing": "wot_labthing._consumed",
    "consume_sync": "wot_labthing._consumed",
    "DiscoveredThing": "wot_labthing._discovery",
    "discover": "wot_labthing._discovery",
    "HttpServer": "wot_labthing._http",
}

HEAVY = ("quart", "hypercorn", "werkzeug", "httpx", "httpx_sse", "zeroconf", "ifaddr")


def _modules_after(code: str) -> list[str]:
    """Top-level modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    loaded: list[str] = json.loads(out)
    return loaded


def test_importing_the_package_loads_no_binding_client_or_discovery() -> None:
    loaded = _modules_after("import wot_labthing as wl\nclass T(wl.Thing): pass")
    heavy = sorted({name.split(".")[0] for name in loaded} & set(HEAVY))
    assert heavy == []
    assert "wot_labthing._http" not in loaded
    assert "wot_labthing._consumed" not in loaded
    assert "wot_labthing._discovery" not in loaded
    # what a slow start came from: jsonschema's optional rfc3987-syntax (a Lark grammar)
    assert "rfc3987_syntax" not in loaded
    assert "lark" not in loaded


def test_the_cli_help_loads_no_server_client_or_discovery() -> None:
    loaded = _modules_after(
        "import contextlib, io\nfrom wot_labthing._cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])"
    )
    heavy = sorted({name.split(".")[0] for name in loaded} & set(HEAVY))
    assert heavy == []
    assert "wot_labthing._cli.client" not in loaded, "client commands load when they run"


@pytest.mark.parametrize("name", sorted(LAZY))
def test_a_lazy_name_resolves_to_its_module_object(name: str) -> None:
    value = getattr(wl, name)
    module = sys.modules[LAZY[name]]
    assert value is getattr(module, name)
    assert name in wl.__all__
    assert name in dir(wl)


def test_every_public_name_is_reachable_and_listed_in_dir() -> None:
    assert wl.__all__ == sorted(wl.__all__)
    for name in wl.__all__:
        assert getattr(wl, name) is not None
    assert set(wl.__all__) <= set(dir(wl))


def test_from_import_of_a_lazy_name_works() -> None:
    loaded = _modules_after("from wot_labthing import HttpServer, consume_sync")
    assert "wot_labthing._http" in loaded
    assert "wot_labthing._consumed" in loaded


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        wl.no_such_name  # type: ignore[attr-defined]  # noqa: B018 (the point of the test)
