"""Subcommands whose work lives in other modules: simulators, discovery, the TD client."""

from __future__ import annotations

from typing import Any

__all__ = ["add_extra_commands"]


def add_extra_commands(commands: Any) -> None:
    """Add ``simulate``, ``discover`` and the client subcommands to ``commands``."""
