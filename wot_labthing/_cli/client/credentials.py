"""Credentials and certificate checking for the client commands.

From ``--user``/``--token`` (or their environment variables), else the URL's
host in a netrc-style file; ``--cafile`` for https; the MQTT broker's own login
(``--mqtt-user``, ``observe`` only), never the HTTP one. Apart from the session so
where a secret may come from is read in one place.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import netrc
import os
import ssl
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..._consumed.security import Credentials
from ..._errors import ConsumerError
from ..client_args import (
    CAFILE_ENV,
    MQTT_PASSWORD_ENV,
    MQTT_USER_ENV,
    NETRC_ENV,
    PASSWORD_ENV,
    TOKEN_ENV,
    USER_ENV,
)


def _credentials(args: argparse.Namespace) -> Credentials | None:
    """HTTP credentials (``--user``, ``--token``, netrc) and the broker login (``--mqtt-user``)."""
    http = _http_credentials(args)
    if not hasattr(args, "mqtt_user"):  # only observe may go through a broker
        return http
    mqtt_user = args.mqtt_user or os.environ.get(MQTT_USER_ENV)
    if not mqtt_user:
        return http
    mqtt_username, _, typed = mqtt_user.partition(":")
    mqtt_password = typed or os.environ.get(MQTT_PASSWORD_ENV)
    if mqtt_password is None:
        if not sys.stdin.isatty():
            raise ConsumerError(
                f"--mqtt-user {mqtt_username}: give USER:PASSWORD or set {MQTT_PASSWORD_ENV}"
            )
        mqtt_password = getpass.getpass(f"MQTT broker password for {mqtt_username}: ")
    return dataclasses.replace(
        http or Credentials(), mqtt_username=mqtt_username, mqtt_password=mqtt_password
    )


def _http_credentials(args: argparse.Namespace) -> Credentials | None:
    token = args.token or os.environ.get(TOKEN_ENV)
    username = password = None
    user = args.user or os.environ.get(USER_ENV)
    if user:
        username, _, typed = user.partition(":")
        password = typed or os.environ.get(PASSWORD_ENV)
        if password is None:
            if not sys.stdin.isatty():
                raise ConsumerError(f"--user {username}: give USER:PASSWORD or set {PASSWORD_ENV}")
            password = getpass.getpass(f"password for {username}: ")
    if token is None and username is None:
        return _netrc_credentials(args)
    return Credentials(username=username, password=password, token=token)


def _netrc_credentials(args: argparse.Namespace) -> Credentials | None:
    """Credentials for the URL's host from a netrc-style file (``--netrc`` or ``$NETRC_ENV``).

    ``machine HOST login USER password PASSWORD`` gives basic credentials;
    ``account bearer`` on the entry makes ``password`` a bearer token instead.
    """
    path = args.netrc or os.environ.get(NETRC_ENV)
    if not path:
        default = Path.home() / ".netrc"
        if not default.is_file():
            return None
        path = str(default)
    host = urlsplit(args.url).hostname if args.url and "://" in args.url else None
    if host is None:
        return None
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError) as exc:
        raise ConsumerError(f"cannot read credentials file {path}: {exc}") from None
    if entry is None:
        return None
    login, account, secret = entry
    if account == "bearer":
        return Credentials(token=secret)
    return Credentials(username=login, password=secret)


def _verify(args: argparse.Namespace) -> ssl.SSLContext | bool:
    """Certificate checking for https: the system's CAs, or ``--cafile``'s."""
    cafile = args.cafile or os.environ.get(CAFILE_ENV)
    if not cafile:
        return True
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConsumerError(f"cannot load CA file {cafile}: {exc}") from None
