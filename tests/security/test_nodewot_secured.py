"""Eclipse node-wot 0.9.2 consumes secured servients with basic and with bearer credentials."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from wot_labthing._security import parse_security

from .conftest import PASSWORDS, TOKENS, security_table, served_lamp, serving_secured


def _lines(result: Any) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0 and not [x for x in lines if "error" in x], (
        lines,
        result.stderr[-2000:],
    )
    return lines


async def test_nodewot_with_basic_and_bearer(run_node: Callable[..., Any]) -> None:
    table = security_table(public_descriptions=True)  # node-wot fetches TDs anonymously
    cases = [
        ("basic", {"users": table["users"], "public_descriptions": True},
         {"username": "otto", "password": PASSWORDS["otto"]},
         {"username": "olga", "password": PASSWORDS["olga"]}),
        ("bearer", {"tokens": table["tokens"], "public_descriptions": True},
         {"token": TOKENS["driver"]}, {"token": TOKENS["watcher"]}),
    ]  # fmt: skip
    for scheme, section, operator, observer in cases:
        async with serving_secured(security=parse_security(section)) as (server, _):
            url = f"{server.url}things/lamp"
            result = await asyncio.to_thread(
                run_node, "nodewot_secured.js", url, json.dumps(operator)
            )
            by_op = {line["op"]: line for line in _lines(result)}
            assert by_op["td"]["security"] == f"{scheme}_sc"
            assert by_op["read"]["value"] == 1
            assert by_op["write"] == {"op": "write", "back": 4}, by_op
            assert by_op["invoke"]["output"] is True
            served_lamp(server).brightness = 1
            result = await asyncio.to_thread(
                run_node, "nodewot_secured.js", url, json.dumps(observer)
            )
            by_op = {line["op"]: line for line in _lines(result)}
            assert by_op["read"]["value"] == 1
            assert "refused" in by_op["write"], by_op  # 403 for an observer
            assert served_lamp(server).brightness == 1
            result = await asyncio.to_thread(
                run_node,
                "nodewot_secured.js",
                url,
                json.dumps({"username": "x", "password": "y", "token": "z"}),
            )
            assert result.returncode != 0 or "refused" in result.stdout
