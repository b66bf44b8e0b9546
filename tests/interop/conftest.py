from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..conftest import demo_servient


@pytest.fixture(scope="module")
def demo_td_urls() -> Iterator[list[str]]:
    """The pure-Python example servient (examples/simulated.toml) on a free port; its TD URLs."""
    with demo_servient(config="examples/simulated.toml") as (_, urls):
        assert urls, "the demo servient printed no TD URLs"
        yield urls
