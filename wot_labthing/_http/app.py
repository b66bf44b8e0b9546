"""The quart application factory of the HTTP binding."""

from __future__ import annotations

from quart import Quart

from .._servient import Servient
from . import actions, health, observe, panel, properties, things
from .problems import install_error_handlers

__all__ = ["create_app"]


def create_app(servient: Servient) -> Quart:
    """A quart app that serves ``servient``'s Things over HTTP.

    The servient's lifecycle is not tied to the app; the servient starts and
    stops its :class:`HttpServer` binding. Tests may use ``app.test_client()``
    after ``servient.start()``.
    """
    app = Quart("wot_labthing")
    app.config["SERVIENT"] = servient
    app.config["MAX_CONTENT_LENGTH"] = servient.settings.max_body_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    app.config["RESPONSE_TIMEOUT"] = None  # streams set their own; no global cut-off
    install_error_handlers(app)
    for module in (things, properties, actions, observe, health, panel):
        app.register_blueprint(module.blueprint)
    return app
