from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .tdd import Tdd


@pytest.fixture
def tdd(tmp_path: Path) -> Iterator[Tdd]:
    """A real Domus TDD over oxigraph on free loopback ports, stopped after the test."""
    directory = Tdd(tmp_path)
    directory.start()
    try:
        yield directory
    finally:
        directory.stop()
