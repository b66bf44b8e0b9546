from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..conftest import demo_servient


@pytest.fixture(scope="module")
def demo_td_urls() -> Iterator[list[str]]:
    """The real demo servient (examples/demo.toml) on a free port; yields its TD URLs."""
    with demo_servient() as (_, urls):
        assert urls, "the demo servient printed no TD URLs"
        yield urls
