"""Authentication: hashes, config, 401 answers, TDs' security, roles per Thing, throttling."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._errors import ConfigError
from wot_labthing._security import (
    Authenticator,
    FailureThrottle,
    Role,
    hash_secret,
    parse_security,
    verify_secret,
)

from .conftest import (
    OBSERVER_BASIC,
    OPERATOR_BASIC,
    PASSWORDS,
    TOKENS,
    assert_problem,
    secured,
    security_table,
    serving_secured,
)


def test_hash_and_verify() -> None:
    stored = hash_secret("s3cret")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert verify_secret("s3cret", stored)
    assert not verify_secret("s3cret ", stored)
    assert hash_secret("s3cret") != stored  # salted


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"users": [{"name": "a", "role": "observer", "password_hash": "plain"}]}, "hash-password"),
        ({"users": [{"name": "a", "role": "boss", "password_hash": "x"}]}, "unknown role"),
        ({"tokens": [{"name": "t", "role": "observer"}]}, "exactly one of"),
        ({"tokens": [{"name": "t", "role": "observer", "token_env": "NO_SUCH_VAR_X"}]}, "not set"),
        ({"cors_origins": ["*", "https://a.example"]}, "cannot be combined"),
        ({"certfile": "c.pem"}, "both certfile and keyfile"),
        ({"bogus": 1}, "unknown keys"),
        ({"public_url": "https://lab.example/wot/"}, "no path"),
        ({"public_url": "ftp://lab.example/"}, "http"),
    ],
)
def test_bad_security_tables_name_the_problem(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_security(table)


def test_tokens_from_environment_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAB_TOKEN", "from-env-token")
    (tmp_path / "token.txt").write_text("from-file-token\n")
    config = parse_security(
        {
            "tokens": [
                {"name": "env", "role": "observer", "token_env": "LAB_TOKEN"},
                {"name": "file", "role": "operator", "token_file": "token.txt"},
            ]
        },
        directory=tmp_path,
    )
    assert all(entry.stored.startswith("scrypt$") for entry in config.tokens)  # never in clear
    auth = Authenticator(config)
    env_principal = auth.verify_bearer("from-env-token")
    file_principal = auth.verify_bearer("from-file-token")
    assert env_principal is not None and env_principal.role is Role.OBSERVER
    assert file_principal is not None and file_principal.role is Role.OPERATOR
    assert auth.verify_bearer("from-file-token-x") is None


def test_config_file_security_section(tmp_path: Path) -> None:
    stored = hash_secret("pw")
    path = tmp_path / "lab.toml"
    path.write_text(
        f"""
[security]
public_descriptions = true
allowed_hosts = ["lab-pc.example.org"]
[[security.users]]
name = "ann"
role = "operator"
password_hash = "{stored}"
"""
    )
    config = wl.load_config(path) if hasattr(wl, "load_config") else None
    if config is None:
        from wot_labthing._config import load_config

        config = load_config(path)
    assert config.security.schemes == ["basic"]
    assert config.security.descriptions_public
    assert "lab-pc.example.org" in config.security.allowed_hosts


def test_verified_credentials_are_cached_bounded_and_expire() -> None:
    config = secured(cache_seconds=60)
    auth = Authenticator(config, cache_size=2)
    principal = auth.verify_basic(*OPERATOR_BASIC)
    assert principal is not None
    for index in range(5):
        auth.remember("basic", f"credential-{index}", principal)
    assert len(auth._cache) == 2  # bounded: least recently used forgotten
    assert auth.cached("basic", "credential-4") is principal
    assert auth.cached("basic", "credential-0") is None
    expired = Authenticator(secured(cache_seconds=0))
    expired.remember("basic", "c", principal)
    assert expired.cached("basic", "c") is None


def test_failure_throttle_slows_down_and_stays_bounded() -> None:
    throttle = FailureThrottle(free=2, base_delay=0.5, max_delay=4, max_clients=100)
    delays = [throttle.failed("10.0.0.1") for _ in range(8)]
    assert delays[:2] == [0, 0]
    assert delays[2:] == [0.5, 1, 2, 4, 4, 4]
    throttle.succeeded("10.0.0.1")
    assert throttle.failed("10.0.0.1") == 0
    for index in range(10_000):
        throttle.failed(f"client-{index}")
    assert len(throttle) == 100


async def test_401_problem_with_challenges_and_any_case_bearer() -> None:
    async with serving_secured() as (_, client):
        response = await client.get("things/lamp/properties/brightness")
        body = assert_problem(response, 401)
        assert body["type"].endswith(":unauthorized")
        challenges = response.headers.get_list("www-authenticate")
        assert 'Basic realm="wot-labthing", charset="UTF-8"' in challenges
        assert 'Bearer realm="wot-labthing"' in challenges
        for scheme in ("Bearer", "bearer", "BEARER"):
            headers = {"Authorization": f"{scheme} {TOKENS['watcher']}"}
            response = await client.get("things/lamp/properties/brightness", headers=headers)
            assert response.status_code == 200, (scheme, response.text)
        response = await client.get(
            "things/lamp/properties/brightness", headers={"Authorization": "Bearer wrong"}
        )
        assert_problem(response, 401)
        assert 'Bearer realm="wot-labthing", error="invalid_token"' in response.headers.get_list(
            "www-authenticate"
        )
        for header in ("Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Digest x"):
            response = await client.get(
                "things/lamp/properties/brightness", headers={"Authorization": header}
            )
            assert_problem(response, 401)


async def test_failures_are_throttled_per_client_and_reset_by_success() -> None:
    async with serving_secured() as (server, client):
        guard = server.app.config["GUARD"]
        for _ in range(2):
            response = await client.get("things/lamp", auth=("otto", "wrong"))
            assert_problem(response, 401)
        assert guard.throttle._failures["127.0.0.1"][0] == 2
        assert (await client.get("things/lamp", auth=OPERATOR_BASIC)).status_code == 200
        assert "127.0.0.1" not in guard.throttle._failures


async def test_td_declares_the_schemes_and_validates(assert_valid_td: Any) -> None:
    cases = {
        "combo": (security_table(), "combo_sc"),
        "basic": ({"users": security_table()["users"]}, "basic_sc"),
        "bearer": ({"tokens": security_table()["tokens"]}, "bearer_sc"),
    }
    for label, (table, name) in cases.items():
        async with serving_secured(security=parse_security(table)) as (_, client):
            headers = {"Authorization": f"Bearer {TOKENS['watcher']}"} if label == "bearer" else {}
            auth = OBSERVER_BASIC if label != "bearer" else None
            td = (await client.get("things/lamp", auth=auth, headers=headers)).json()
            assert td["security"] == name, label
            definitions = td["securityDefinitions"]
            if label == "combo":
                assert definitions["combo_sc"] == {
                    "scheme": "combo",
                    "oneOf": ["basic_sc", "bearer_sc"],
                }
            else:
                assert definitions[name]["scheme"] == label
            assert "nosec_sc" not in definitions
            assert_valid_td(td)
            directory = (await client.get(".well-known/wot", auth=auth, headers=headers)).json()
            assert directory["security"] == name


async def test_nosec_default_and_public_descriptions_setting() -> None:
    async with serving_secured(security=parse_security(None)) as (_, client):
        td = (await client.get("things/lamp")).json()
        assert td["security"] == "nosec_sc"
        assert (await client.put("things/lamp/properties/brightness", json=2)).status_code == 204
    async with serving_secured(security=secured(public_descriptions=True)) as (_, client):
        for path in ("things", "things/lamp", ".well-known/wot"):
            assert (await client.get(path)).status_code == 200, path
        assert_problem(await client.get("things/lamp/properties/brightness"), 401)
        assert_problem(await client.get("actions"), 401)


async def test_roles_per_thing() -> None:
    stagehand = ("stagehand", PASSWORDS["stagehand"])
    async with serving_secured() as (_, client):
        body = assert_problem(
            await client.put("things/lamp/properties/brightness", json=2, auth=stagehand), 403
        )
        assert body["type"].endswith(":forbidden") and "lamp" in body["detail"]
        response = await client.put("things/lamp2/properties/brightness", json=2, auth=stagehand)
        assert response.status_code == 204
        assert (await client.get("things/lamp/properties/brightness", auth=stagehand)).is_success
        run = await client.post("things/lamp2/actions/warm_up", json={}, auth=stagehand)
        assert run.status_code == 201, run.text
        other = await client.post("things/lamp/actions/warm_up", json={}, auth=OPERATOR_BASIC)
        assert_problem(await client.delete(f"actions/{other.json()['id']}", auth=stagehand), 403)
        assert (await client.delete(f"actions/{run.json()['id']}", auth=stagehand)).is_success


async def test_our_client_uses_credentials() -> None:
    async with serving_secured() as (server, _):
        url = f"{server.url}things/lamp"
        with pytest.raises(wl.WotLabthingError):
            await wl.consume(url)
        operator = wl.Credentials(username="otto", password=PASSWORDS["otto"])
        async with await wl.consume(url, credentials=operator) as lamp:
            await lamp.write_property("brightness", 7)
            assert await lamp.read_property("brightness") == 7
        observer = wl.Credentials(token=TOKENS["watcher"])
        async with await wl.consume(url, credentials=observer) as watcher:
            assert await watcher.read_property("brightness") == 7
            with pytest.raises(wl.WotLabthingError):
                await watcher.write_property("brightness", 1)


def test_hash_password_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wot_labthing", "hash-password", "--stdin"],
        input="correct horse\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    stored = result.stdout.strip()
    assert verify_secret("correct horse", stored)
    parse_security({"users": [{"name": "x", "role": "observer", "password_hash": stored}]})


async def test_warning_when_serving_a_lan_address_without_security(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="wot_labthing._http.server")
    async with serving_secured(security=parse_security(None), host="0.0.0.0"):
        pass
    assert any("without authentication" in record.message for record in caplog.records)
    caplog.clear()
    async with serving_secured(host="0.0.0.0"):
        pass
    async with serving_secured(security=parse_security(None)):
        pass
    assert not any("without authentication" in record.message for record in caplog.records)


async def test_concurrent_requests_with_one_credential_hash_it_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    calls = []
    original = Authenticator.verify_basic

    def counting(self: Authenticator, username: str, password: str) -> Any:
        calls.append(username)
        return original(self, username, password)

    monkeypatch.setattr(Authenticator, "verify_basic", counting)
    async with serving_secured() as (_, client):
        answers = await asyncio.gather(
            *(
                client.get("things/lamp/properties/brightness", auth=OBSERVER_BASIC)
                for _ in range(16)
            )
        )
        assert [answer.status_code for answer in answers] == [200] * 16
        assert calls == ["olga"]


async def test_descriptions_by_id_and_models_follow_the_rules() -> None:
    stagehand = ("stagehand", PASSWORDS["stagehand"])
    async with serving_secured(security=secured(public_descriptions=True)) as (server, client):
        td = (await client.get("things/lamp2")).json()
        by_id = await client.get(f"things/{td['id']}")
        assert by_id.status_code == 200 and by_id.json()["id"] == td["id"]
        assert (await client.get("things/")).status_code == 200
        model = next(link["href"] for link in td.get("links", []) if "/models/" in link["href"])
        assert (await client.get(model)).status_code == 200
    async with serving_secured() as (server, client):
        td = (await client.get("things/lamp2", auth=stagehand)).json()
        assert_problem(await client.get(f"things/{td['id']}"), 401)
        # stagehand operates lamp2 only; its TD id leads to the same role
        assert (await client.get(f"things/{td['id']}", auth=stagehand)).status_code == 200
