"""The logins of each generation: legacy, OAuth (4.x and 5.x), and the automatic choice.

Answers are shaped as Dell's 4.5.5 and 5.0 auth API files describe them
(``LoginResponse``: access_token, expires_in, refresh_expires_in,
refresh_token, ...; errors as ``{"http_status_code", "messages": [...]}``),
and a refused token's 401 may come with an HTML body, as goscaleio notes
for 4.0 and later.
"""

from __future__ import annotations

import json
import logging

import pytest
import requests

from sio_backend import exceptions
from sio_backend.gateway import auth

SDCS_PATH = "/api/types/Sdc/instances"
ACCESS = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLTE"
ACCESS_2 = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLTI"
REFRESH = "eyJhbGciOiJIUzI1NiJ9.cmVmcmVzaC0x.cmVmcmVzaA"
REFRESH_2 = "eyJhbGciOiJIUzI1NiJ9.cmVmcmVzaC0y.cmVmcmVzaA"
HTML_401 = "<html><head><title>401 Authorization Required</title></head></html>"


def login_response(access: str = ACCESS, refresh: str = REFRESH, expires_in=300) -> dict:
    return {
        "access_token": access,
        "expires_in": expires_in,
        "refresh_expires_in": 1800,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "id_token": "eyJpZCI6MX0.e30.aWQ",
        "session_state": "8e5f3c1a-0c2b-4a57-9e0e-3f1d2c4b5a69",
        "scope": "openid profile email",
    }


@pytest.fixture
def pfmp(gateway):
    """A 4.5 gateway behind PowerFlex Manager: OAuth served, SDC list empty."""
    gateway.get(gateway.url("/api/version"), text='"4.5"')
    gateway.post(gateway.url("/rest/auth/login"), json=login_response())
    gateway.post(gateway.url("/rest/auth/update-token"), json=login_response(ACCESS_2, REFRESH_2))
    gateway.post(gateway.url("/rest/auth/logout"), status_code=204)
    gateway.get(gateway.url(SDCS_PATH), json=[])
    return gateway


def bearer(request) -> str | None:
    value = request.headers.get("Authorization", "")
    return value.removeprefix("Bearer ") if value.startswith("Bearer ") else None


def api_tokens(gateway) -> list[str | None]:
    return [bearer(r) for r in gateway.request_history if r.path.startswith("/api/")]


def test_oauth_logs_in_with_json_and_sends_bearer_tokens(pfmp, make_client):
    client = make_client(auth_method="oauth")

    client.list_sdcs()

    login, listing = pfmp.request_history
    assert (login.method, login.path) == ("POST", "/rest/auth/login")
    assert login.json() == {"username": pfmp.USERNAME, "password": pfmp.PASSWORD}
    assert "Authorization" not in login.headers
    assert listing.headers["Authorization"] == f"Bearer {ACCESS}"


@pytest.mark.parametrize("expires_in", [300, "300"])
def test_oauth_token_is_refreshed_before_expires_in(pfmp, make_client, clock, expires_in):
    pfmp.post(pfmp.url("/rest/auth/login"), json=login_response(expires_in=expires_in))
    client = make_client(auth_method="oauth")
    client.list_sdcs()

    clock.advance(300 - auth.RENEW_BEFORE_EXPIRY_S - 1)
    client.list_sdcs()
    assert "POST /rest/auth/update-token" not in pfmp.calls()

    clock.advance(1)
    client.list_sdcs()

    assert pfmp.calls().count("POST /rest/auth/login") == 1
    (update,) = [r for r in pfmp.request_history if r.path == "/rest/auth/update-token"]
    assert update.json() == {"refresh_token": REFRESH}
    assert api_tokens(pfmp) == [ACCESS, ACCESS, ACCESS_2]


def test_refused_refresh_falls_back_to_a_full_login(pfmp, make_client, clock):
    pfmp.post(pfmp.url("/rest/auth/update-token"), status_code=400, json={"messages": []})
    pfmp.post(
        pfmp.url("/rest/auth/login"),
        [{"json": login_response()}, {"json": login_response(ACCESS_2, REFRESH_2)}],
    )
    client = make_client(auth_method="oauth")
    client.list_sdcs()

    clock.advance(300)
    client.list_sdcs()

    assert pfmp.calls().count("POST /rest/auth/update-token") == 1
    assert pfmp.calls().count("POST /rest/auth/login") == 2
    assert api_tokens(pfmp) == [ACCESS, ACCESS_2]


def test_expired_refresh_token_is_not_sent(pfmp, make_client, clock):
    pfmp.post(
        pfmp.url("/rest/auth/login"),
        [{"json": login_response()}, {"json": login_response(ACCESS_2, REFRESH_2)}],
    )
    client = make_client(auth_method="oauth")
    client.list_sdcs()

    clock.advance(1800)
    client.list_sdcs()

    assert "POST /rest/auth/update-token" not in pfmp.calls()
    assert api_tokens(pfmp) == [ACCESS, ACCESS_2]


@pytest.mark.parametrize(
    "refusal",
    [
        {"status_code": 401, "text": HTML_401, "headers": {"Content-Type": "text/html"}},
        {"status_code": 403, "json": {"message": "Forbidden", "httpStatusCode": 403}},
        {"status_code": 401, "text": ""},
    ],
    ids=["401 html", "403 json", "401 empty"],
)
def test_a_refused_bearer_token_is_renewed_once_whatever_the_body(pfmp, make_client, refusal):
    pfmp.get(pfmp.url(SDCS_PATH), [refusal, {"json": []}])
    client = make_client(auth_method="oauth")

    assert client.list_sdcs() == []

    assert api_tokens(pfmp) == [ACCESS, ACCESS_2]
    assert pfmp.calls().count("POST /rest/auth/update-token") == 1


def test_close_logs_out_an_oauth_session(pfmp, make_client):
    client = make_client(auth_method="oauth")
    client.list_sdcs()

    client.close()

    logout = pfmp.request_history[-1]
    assert (logout.method, logout.path) == ("POST", "/rest/auth/logout")
    assert logout.headers["Authorization"] == f"Bearer {ACCESS}"
    assert logout.json() == {"refresh_token": REFRESH}


def test_close_before_any_login_sends_nothing(pfmp, make_client):
    make_client(auth_method="oauth").close()

    assert pfmp.calls() == []


@pytest.mark.parametrize(
    "answer",
    [{"status_code": 500, "text": "<html/>"}, {"exc": requests.exceptions.ConnectionError}],
)
def test_a_failed_logout_is_only_logged(pfmp, make_client, caplog, answer):
    pfmp.post(pfmp.url("/rest/auth/logout"), **answer)
    client = make_client(auth_method="oauth")
    client.list_sdcs()

    client.close()

    assert any("log out" in r.getMessage() or "logout" in r.getMessage() for r in caplog.records)


def test_forced_oauth_against_a_3x_gateway_says_what_to_set(gateway, make_client):
    client = make_client(auth_method="oauth")

    with pytest.raises(exceptions.AuthenticationFailed) as info:
        client.list_sdcs()

    assert info.value.status == 404
    assert "rest_auth_method" in str(info.value)
    assert gateway.logins() == 0


def test_oauth_login_errors_read_the_power_api_shape(pfmp, make_client):
    body = {
        "http_status_code": 401,
        "messages": [{"code": "0x1", "severity": "ERROR", "message": "Invalid user credentials"}],
    }
    pfmp.post(pfmp.url("/rest/auth/login"), status_code=401, json=body)

    with pytest.raises(exceptions.AuthenticationFailed) as info:
        make_client(auth_method="oauth").list_sdcs()

    assert "Invalid user credentials" in str(info.value)
    assert "rest_server_password" in str(info.value)


@pytest.mark.parametrize("answer", [{"json": {"token_type": "Bearer"}}, {"text": "<html/>"}])
def test_oauth_answer_without_an_access_token_fails(pfmp, make_client, answer):
    pfmp.post(pfmp.url("/rest/auth/login"), **answer)

    with pytest.raises(exceptions.AuthenticationFailed, match="access_token"):
        make_client(auth_method="oauth").list_sdcs()


# -- auto ---------------------------------------------------------------------


def logged_choice(caplog) -> str:
    (line,) = [r.getMessage() for r in caplog.records if "Logged in" in r.getMessage()]
    return line


def test_auto_uses_oauth_where_it_is_served(pfmp, make_client, caplog):
    caplog.set_level(logging.INFO)
    client = make_client(auth_method="auto")

    client.list_sdcs()

    assert pfmp.logins() == 0
    assert api_tokens(pfmp) == [ACCESS]
    assert client.generation().auth_method == "oauth"
    assert "OAuth, POST /rest/auth/login" in logged_choice(caplog)


@pytest.mark.parametrize("status", [404, 405])
def test_auto_uses_the_legacy_login_where_oauth_is_not_served(gateway, make_client, caplog, status):
    caplog.set_level(logging.INFO)
    gateway.post(gateway.url("/rest/auth/login"), status_code=status, text="")
    gateway.get(gateway.url(SDCS_PATH), json=[])
    client = make_client(auth_method="auto")

    client.list_sdcs()
    client.list_sdcs()

    assert gateway.calls() == [
        "POST /rest/auth/login",
        "GET /api/login",
        f"GET {SDCS_PATH}",
        f"GET {SDCS_PATH}",
    ]
    assert client.generation().auth_method == "legacy"
    assert "legacy login, GET /api/login; chosen by rest_auth_method = auto: POST " in (
        logged_choice(caplog)
    )
    assert f"HTTP {status}" in logged_choice(caplog)


def test_auto_keeps_its_choice_when_it_logs_in_again(gateway, make_client, clock):
    gateway.get(gateway.url(SDCS_PATH), json=[])
    client = make_client(auth_method="auto")
    client.list_sdcs()

    clock.advance(auth.IDLE_RENEWAL_S)
    client.list_sdcs()

    assert gateway.calls().count("POST /rest/auth/login") == 1
    assert gateway.logins() == 2


def test_auto_keeps_the_legacy_login_of_a_3x_gateway_that_refuses_unknown_paths(
    gateway, make_client
):
    gateway.post(gateway.url("/rest/auth/login"), status_code=401, text=HTML_401)
    gateway.get(gateway.url(SDCS_PATH), json=[])
    client = make_client(auth_method="auto")

    client.list_sdcs()

    assert client.generation().auth_method == "legacy"
    assert gateway.calls()[:3] == ["POST /rest/auth/login", "GET /api/login", "GET /api/version"]


def test_auto_does_not_fall_back_silently_on_a_4x_gateway_that_refused_oauth(pfmp, make_client):
    pfmp.post(pfmp.url("/rest/auth/login"), status_code=401, text=HTML_401)

    with pytest.raises(exceptions.AuthenticationFailed) as info:
        make_client(auth_method="auto").list_sdcs()

    assert "rest_auth_method = legacy" in str(info.value)
    assert "API 4.5" in str(info.value)
    assert f"GET {SDCS_PATH}" not in pfmp.calls()


def test_auto_reports_refused_credentials_when_both_logins_refuse(gateway, make_client):
    gateway.post(gateway.url("/rest/auth/login"), status_code=401, text=HTML_401)
    gateway.get(gateway.url("/api/login"), **gateway.error("Unauthorized", 0, 401))

    with pytest.raises(exceptions.AuthenticationFailed) as info:
        make_client(auth_method="auto").list_sdcs()

    assert info.value.path == "/rest/auth/login"
    assert "rest_server_password" in str(info.value)


def test_generation_reports_the_version_and_login(gateway, make_client):
    gateway.get(gateway.url("/api/version"), text='"3.6"')
    client = make_client(auth_method="auto")

    generation = client.generation()

    assert (generation.api_version, generation.auth_method, generation.major) == (
        "3.6",
        "legacy",
        3,
    )


def test_no_password_or_token_reaches_any_log(pfmp, make_client, clock, caplog):
    caplog.set_level(logging.DEBUG)
    pfmp.get(pfmp.url(SDCS_PATH), [{"status_code": 401, "text": HTML_401}, {"json": []}])
    pfmp.post(pfmp.url("/rest/auth/update-token"), status_code=401, text=HTML_401)
    client = make_client(auth_method="auto")

    client.list_sdcs()  # login, refused, refresh refused, login again
    clock.advance(600)
    client.list_sdcs()
    client.close()

    logged = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {json.dumps(r.args, default=repr)}"
        for r in caplog.records
    )
    assert "Logged in" in logged
    for secret in (pfmp.PASSWORD, ACCESS, ACCESS_2, REFRESH, REFRESH_2):
        assert secret not in logged
