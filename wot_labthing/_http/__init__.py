"""The HTTP binding: the only package that imports quart or hypercorn."""

from .app import create_app
from .server import HttpServer

__all__ = ["HttpServer", "create_app"]
