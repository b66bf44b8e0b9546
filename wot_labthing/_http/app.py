"""The quart application factory of the HTTP binding."""

from __future__ import annotations

from quart import Quart

from .._security import SecurityConfig
from .._servient import Servient
from . import actions, health, observe, panel, properties, things
from .forms import security_block
from .guard import install_guard
from .problems import install_error_handlers

__all__ = ["create_app"]


def create_app(servient: Servient, security: SecurityConfig | None = None) -> Quart:
    """A quart app that serves ``servient``'s Things over HTTP.

    The servient's lifecycle is not tied to the app; the servient starts and
    stops its :class:`HttpServer` binding. Tests may use ``app.test_client()``
    after ``servient.start()``. Every request passes the guard (``guard.py``):
    Host, CORS, authentication and roles, framing.
    """
    security = security or SecurityConfig()
    app = Quart("wot_labthing")
    app.config["SERVIENT"] = servient
    app.config["MAX_CONTENT_LENGTH"] = servient.settings.max_body_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = True
    app.config["RESPONSE_TIMEOUT"] = None  # streams set their own; no global cut-off
    install_error_handlers(app)
    for module in (things, properties, actions, observe, health, panel):
        app.register_blueprint(module.blueprint)
    app.config["TD_SECURITY"] = security_block(security.schemes)
    app.config["SECURITY"] = security
    app.config["GUARD"] = install_guard(app, servient, security)
    return app
