"""Bindings translate; they never reach into the servient's internals.

The servient's protocol-neutral API (read/write/observe properties, invoke,
query, cancel and list actions, subscribe to events and runs) is all a binding
may use. This scan fails when a binding module reads ``.hub`` or
``.invocations`` of anything, or imports the event hub's or the invocation
manager's classes that only the servient should drive.
"""

from __future__ import annotations

import ast
from pathlib import Path

import wot_labthing

PACKAGE = Path(wot_labthing.__file__).parent
#: Every protocol binding's modules (a new binding, e.g. _mqtt, is added here).
BINDINGS = sorted([*(PACKAGE / "_http").rglob("*.py"), *(PACKAGE / "_mqtt").rglob("*.py")])
FORBIDDEN_ATTRIBUTES = {"hub", "invocations"}
FORBIDDEN_NAMES = {"EventHub", "InvocationManager"}


def violations(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.append(f"{path.name}:{node.lineno} uses .{node.attr}")
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in FORBIDDEN_NAMES:
                    found.append(f"{path.name}:{node.lineno} imports {alias.name}")
    return found


def test_the_binding_modules_are_found() -> None:
    names = {path.name for path in BINDINGS}
    assert {"actions.py", "properties.py", "observe.py", "server.py"} <= names


def test_no_binding_touches_the_hub_or_the_invocation_manager() -> None:
    found = [v for path in BINDINGS for v in violations(path)]
    assert found == []


def test_the_scan_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from wot_labthing._events import EventHub\n"
        "def f(servient):\n    return servient.invocations.list(), servient.hub\n"
    )
    assert len(violations(bad)) == 3


def test_every_route_takes_its_path_from_the_one_layout() -> None:
    literal = []
    for path in BINDINGS:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "route"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                literal.append(f"{path.name}:{node.lineno} {node.args[0].value!s}")
    assert literal == [], "declare paths in _http/routes.py"
