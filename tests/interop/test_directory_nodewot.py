"""node-wot 0.9.2 explores the servient's TD Directory and fetches TDs by id through it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from .test_nodewot import node_lines


def test_nodewot_explores_the_directory_and_retrieves_each_td_by_id(
    demo_td_urls: list[str], run_node: Callable[..., Any]
) -> None:
    root = demo_td_urls[0].rsplit("/things/", 1)[0]
    lines = node_lines(run_node("explore_directory.js", f"{root}/.well-known/wot"))
    served = {td["id"]: td["title"] for td in (httpx.get(url).json() for url in demo_td_urls)}
    explored = {line["id"]: line["explored"] for line in lines if "explored" in line}
    retrieved = {line["id"]: line["retrieved"] for line in lines if "retrieved" in line}
    assert explored == served
    assert retrieved == served
