"""Simulated gateway sessions: login, the two expiry clocks, logout, limits."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from sio_backend.simulator import Simulator
from sio_backend.simulator.errors import SimulatorError
from sio_backend.simulator.sessions import SessionStore

UNAUTHORIZED = {"message": "Unauthorized", "httpStatusCode": 401, "errorCode": 0}


@pytest.fixture
def store(fake_clock: Any) -> SessionStore:
    return SessionStore(
        "admin", "secret", idle_timeout=600, absolute_timeout=3600, max_sessions=3, clock=fake_clock
    )


def test_token_is_opaque_base64_of_user_time_and_digest(store: SessionStore) -> None:
    token = store.login("admin", "secret")
    assert "=" not in token
    user, stamp, digest = base64.b64decode(token + "=" * (-len(token) % 4)).decode().split(":")
    assert (user, stamp.isdigit(), len(digest)) == ("admin", True, 32)
    assert store.login("admin", "secret") != token


@pytest.mark.parametrize(("user", "password"), [("admin", "wrong"), ("root", "secret"), ("", "")])
def test_wrong_credentials_are_refused(store: SessionStore, user: str, password: str) -> None:
    with pytest.raises(SimulatorError) as caught:
        store.login(user, password)
    assert caught.value.body() == UNAUTHORIZED


def test_idle_expiry_is_reset_by_use(store: SessionStore, fake_clock: Any) -> None:
    token = store.login("admin", "secret")
    fake_clock.advance(599)
    store.authenticate(token)
    fake_clock.advance(599)
    store.authenticate(token)
    fake_clock.advance(600)
    with pytest.raises(SimulatorError, match="401"):
        store.authenticate(token)


def test_absolute_expiry_despite_activity(store: SessionStore, fake_clock: Any) -> None:
    token = store.login("admin", "secret")
    for _ in range(7):
        fake_clock.advance(500)
        store.authenticate(token)
    fake_clock.advance(100)
    with pytest.raises(SimulatorError, match="401"):
        store.authenticate(token)


def test_session_limit_counts_only_live_sessions(store: SessionStore, fake_clock: Any) -> None:
    for _ in range(3):
        store.login("admin", "secret")
    with pytest.raises(SimulatorError) as caught:
        store.login("admin", "secret")
    assert (caught.value.status, caught.value.error_code) == (500, 252)
    fake_clock.advance(600)
    store.login("admin", "secret")
    assert store.active_count() == 1


def test_logout_and_expire_all(store: SessionStore) -> None:
    first, second = store.login("admin", "secret"), store.login("admin", "secret")
    store.logout(first)
    with pytest.raises(SimulatorError):
        store.authenticate(first)
    store.authenticate(second)
    store.expire_all()
    with pytest.raises(SimulatorError):
        store.authenticate(second)


def test_issued_tokens_outlive_their_sessions(store: SessionStore) -> None:
    first, second = store.login("admin", "secret"), store.login("admin", "secret")
    store.logout(first)
    store.expire_all()
    assert store.issued_tokens() == (first, second)


# ------------------------------------------------------------------ over HTTP
def test_login_answers_a_quoted_json_token(sim: Simulator) -> None:
    response = requests.get(sim.url + "/api/login", auth=(sim.username, sim.password), timeout=10)
    assert response.status_code == 200
    assert response.text == f'"{response.json()}"'


def test_bad_login_and_missing_token_get_the_real_401_body(sim: Simulator) -> None:
    for auth in [(sim.username, "wrong"), None]:
        response = requests.get(sim.url + "/api/login", auth=auth, timeout=10)
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    response = requests.get(sim.url + "/api/types/System/instances", timeout=10)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_any_user_name_with_the_token_as_password(gw: Any) -> None:
    for user in ["", "admin", "someone-else"]:
        response = gw.get("/api/version", auth=(user, gw.token))
        assert (response.status_code, response.json()) == (200, "3.5")


def test_bearer_token_only_on_4x(tmp_path: Any, open_gateway: Any) -> None:
    for version, expected in [("3.5", 401), ("4.5", 200)]:
        with Simulator(tmp_path / version, api_version=version) as simulator:
            gw = open_gateway(simulator)
            response = gw.get("/api/version", headers={"Authorization": f"Bearer {gw.token}"})
            assert response.status_code == expected
            if expected == 200:
                assert response.json() == "4.5"


def test_logout_kills_the_token_for_every_holder(gw: Any, open_gateway: Any) -> None:
    other = open_gateway(gw.sim, login=False)
    other.token = gw.token
    assert gw.get("/api/logout").status_code == 200
    assert other.get("/api/version").status_code == 401
    assert gw.get("/api/version").status_code == 401


def test_tokens_expire_over_http_with_the_injected_clock(
    tmp_path: Any, fake_clock: Any, open_gateway: Any
) -> None:
    with Simulator(
        tmp_path / "s", idle_timeout=60, absolute_timeout=300, clock=fake_clock
    ) as simulator:
        gw = open_gateway(simulator)
        fake_clock.advance(59)
        assert gw.get("/api/version").status_code == 200
        fake_clock.advance(60)
        assert gw.get("/api/version").status_code == 401
        gw.login()
        for _ in range(5):
            fake_clock.advance(59)
            assert gw.get("/api/version").status_code == 200
        fake_clock.advance(10)
        assert gw.get("/api/version").json() == UNAUTHORIZED


# ------------------------------------------------------------------ OAuth
@pytest.fixture
def oauth(fake_clock: Any) -> SessionStore:
    return SessionStore(
        "admin",
        "secret",
        access_token_lifetime=300,
        refresh_token_lifetime=1800,
        html_refusals=True,
        clock=fake_clock,
    )


def test_access_token_lives_expires_in_seconds_whatever_the_use(
    oauth: SessionStore, fake_clock: Any
) -> None:
    grant = oauth.oauth_login("admin", "secret")
    assert (grant["expires_in"], grant["refresh_expires_in"]) == (300, 1800)
    for _ in range(2):
        fake_clock.advance(149)
        oauth.authenticate(grant["access_token"], oauth=True)  # use does not extend it
    fake_clock.advance(2)
    with pytest.raises(SimulatorError, match="401"):
        oauth.authenticate(grant["access_token"], oauth=True)


def test_access_tokens_are_accepted_only_where_oauth_is(oauth: SessionStore) -> None:
    access = oauth.oauth_login("admin", "secret")["access_token"]
    with pytest.raises(SimulatorError) as caught:
        oauth.authenticate(access)
    assert caught.value.content_type == "text/html"
    assert caught.value.payload().startswith(b"<html>")


def test_update_token_and_logout_end_to_end(oauth: SessionStore, fake_clock: Any) -> None:
    first = oauth.oauth_login("admin", "secret")
    fake_clock.advance(1000)
    second = oauth.update_token(first["refresh_token"])
    oauth.authenticate(second["access_token"], oauth=True)
    oauth.oauth_logout(second["access_token"])
    for token in (first["access_token"], second["access_token"]):
        with pytest.raises(SimulatorError, match="401"):
            oauth.authenticate(token, oauth=True)
    with pytest.raises(SimulatorError, match="401"):
        oauth.update_token(second["refresh_token"])
    with pytest.raises(SimulatorError, match="401"):
        oauth.oauth_logout(second["access_token"])


def test_oauth_refusals_are_power_api_errors(oauth: SessionStore) -> None:
    with pytest.raises(SimulatorError) as caught:
        oauth.oauth_login("admin", "wrong")
    assert caught.value.body()["http_status_code"] == 401
    assert caught.value.body()["messages"][0]["severity"] == "ERROR"
    oauth.oauth_login("admin", "secret")
    oauth.expire_all()
    assert len(oauth.issued_tokens()) == 3  # access, refresh and id token: secrets all
