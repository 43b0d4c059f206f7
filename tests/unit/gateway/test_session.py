"""Session handling: login, token renewal, re-login on 401, transport, TLS, logging."""

from __future__ import annotations

import base64
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from oslo_config import cfg

from sio_backend import conf as sio_conf
from sio_backend import exceptions
from sio_backend.gateway import GatewayClient, auth

SDCS_PATH = "/api/types/Sdc/instances"


@pytest.fixture
def sdcs(gateway) -> str:
    """URL of the SDC list, answered with an empty list unless a test says otherwise."""
    full_url = gateway.url(SDCS_PATH)
    gateway.get(full_url, json=[])
    return full_url


@pytest.mark.parametrize("body", ['"{t}"', "{t}", ' "{t}"\n', "{t}\n", '"{t}'])
def test_login_accepts_quoted_and_bare_tokens(gateway, client, sdcs, body):
    gateway.get(gateway.url("/api/login"), text=body.format(t=gateway.TOKEN))

    client.list_sdcs()

    login, request = gateway.request_history
    assert login.headers["Authorization"] == gateway.basic_auth(gateway.USERNAME, gateway.PASSWORD)
    assert request.headers["Authorization"] == gateway.basic_auth(gateway.USERNAME, gateway.TOKEN)


def test_login_happens_once_for_many_calls(gateway, client, sdcs):
    for _ in range(5):
        client.list_sdcs()

    assert gateway.logins() == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_login_raises_authentication_failed(gateway, client, status):
    gateway.get(gateway.url("/api/login"), **gateway.error("Unauthorized", 0, status))

    with pytest.raises(exceptions.AuthenticationFailed) as info:
        client.list_sdcs()

    assert info.value.status == status
    assert "rest_server_username" in str(info.value)
    assert "rest_server_password" in str(info.value)
    assert "Unauthorized" in str(info.value)


def test_login_error_of_any_kind_is_an_authentication_failure(gateway, client):
    gateway.get(gateway.url("/api/login"), status_code=500, text="<html>oops</html>")

    with pytest.raises(exceptions.AuthenticationFailed, match="HTTP 500"):
        client.list_sdcs()


@pytest.mark.parametrize("body", ["", '""', "<html><body>Sign in</body></html>", '{"a": 1}'])
def test_login_without_a_usable_token_fails(gateway, client, body):
    gateway.get(gateway.url("/api/login"), text=body)

    with pytest.raises(exceptions.AuthenticationFailed, match="usable token"):
        client.list_sdcs()


def test_failed_login_is_retried_on_the_next_call(gateway, client, sdcs):
    gateway.get(gateway.url("/api/login"), [{"status_code": 503, "text": ""}, {"text": '"fresh"'}])

    with pytest.raises(exceptions.AuthenticationFailed):
        client.list_sdcs()
    assert client.list_sdcs() == []
    assert gateway.token_of(gateway.last_request) == "fresh"


def test_token_renewed_before_the_idle_limit(gateway, client, clock, sdcs):
    client.list_sdcs()

    clock.advance(auth.IDLE_RENEWAL_S - 1)
    client.list_sdcs()
    assert gateway.logins() == 1

    clock.advance(auth.IDLE_RENEWAL_S)
    client.list_sdcs()
    assert gateway.logins() == 2
    assert auth.IDLE_RENEWAL_S < 10 * 60


def test_use_keeps_the_token_alive_until_the_absolute_limit(gateway, client, clock, sdcs):
    client.list_sdcs()
    logins_at = []

    elapsed = 0.0
    while elapsed < 8 * 3600:
        clock.advance(300)
        elapsed += 300
        before = gateway.logins()
        client.list_sdcs()
        if gateway.logins() > before:
            logins_at.append(elapsed)

    # Used every 5 minutes, the token only ages out, and before 8 hours.
    assert logins_at == [auth.ABSOLUTE_RENEWAL_S]
    assert auth.ABSOLUTE_RENEWAL_S < 8 * 3600


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_causes_one_login_and_one_retry(gateway, client, status):
    gateway.get(gateway.url("/api/login"), [{"text": '"old"'}, {"text": '"new"'}])
    gateway.get(gateway.url(SDCS_PATH), [{"status_code": status, "text": ""}, {"json": []}])

    assert client.list_sdcs() == []

    assert gateway.calls() == [
        "GET /api/login",
        f"GET {SDCS_PATH}",
        "GET /api/login",
        f"GET {SDCS_PATH}",
    ]
    tokens = [gateway.token_of(r) for r in gateway.request_history if r.path == SDCS_PATH]
    assert tokens == ["old", "new"]


def test_second_refusal_raises_authentication_failed(gateway, client):
    gateway.get(gateway.url(SDCS_PATH), **gateway.error("Unauthorized", 0, 401))

    with pytest.raises(exceptions.AuthenticationFailed) as info:
        client.list_sdcs()

    assert "rest_server_username" in str(info.value)
    assert "rest_server_password" in str(info.value)
    assert gateway.logins() == 2
    assert gateway.calls().count(f"GET {SDCS_PATH}") == 2


def token_of(request) -> str:
    encoded = request.headers["Authorization"].removeprefix("Basic ")
    return base64.b64decode(encoded).decode().split(":", 1)[1]


class ConcurrentGateway(requests.adapters.BaseAdapter):
    """A transport that answers in the calling thread, without requests-mock's
    global lock, so requests really overlap.

    Logins hand out "token-1", "token-2", ...; "token-1" is refused, but only
    once every caller holds it. ``login_failure`` makes logins fail instead,
    after ``login_delay`` seconds.
    """

    def __init__(self, callers: int, login_failure=None, login_delay=0.0) -> None:
        super().__init__()
        self.logins = 0
        self.tokens: list[str] = []
        self._login_failure = login_failure
        self._login_delay = login_delay
        self._lock = threading.Lock()
        self._everyone_refused = threading.Barrier(callers, timeout=10)

    def send(self, request, **kwargs):
        response = requests.Response()
        response.request, response.url, response.encoding = request, request.url, "utf-8"
        response.status_code, response.reason = 200, "OK"
        if request.path_url == "/api/login":
            with self._lock:
                self.logins += 1
                response._content = f'"token-{self.logins}"'.encode()
            time.sleep(self._login_delay)
            if self._login_failure is not None:
                raise self._login_failure
            return response
        token = token_of(request)
        with self._lock:
            self.tokens.append(token)
        if token == "token-1":
            self._everyone_refused.wait()
            response.status_code, response.reason = 401, "Unauthorized"
            response._content = b""
        else:
            response._content = b"[]"
        return response

    def close(self) -> None:
        pass


def test_concurrent_refusals_cause_exactly_one_login(make_client):
    threads = 20
    transport = ConcurrentGateway(threads)
    gateway_client = make_client()
    gateway_client.mount(transport)
    gateway_client.login()  # token-1

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(lambda _: gateway_client.list_sdcs(), range(threads)))

    assert results == [[]] * threads
    assert transport.logins == 2  # the first login and exactly one re-login
    assert transport.tokens.count("token-1") == threads
    assert transport.tokens.count("token-2") == threads


def test_concurrent_callers_share_one_failed_login(make_client):
    threads = 5
    refused = requests.exceptions.ConnectionError("connection refused")
    transport = ConcurrentGateway(threads, login_failure=refused, login_delay=1.0)
    gateway_client = make_client()
    gateway_client.mount(transport)
    start = threading.Barrier(threads, timeout=10)

    def call(_):
        start.wait()
        with pytest.raises(exceptions.GatewayUnavailable) as info:
            gateway_client.list_sdcs()
        return info.value

    with ThreadPoolExecutor(max_workers=threads) as pool:
        failures = list(pool.map(call, range(threads)))

    # One thread waited out the dead gateway; the others shared its answer.
    assert transport.logins == 1
    assert {failure.path for failure in failures} == {"/api/login"}
    assert all("rest_server_ip" in str(failure) for failure in failures)

    # A later call tries again rather than repeating an old failure forever.
    with pytest.raises(exceptions.GatewayUnavailable):
        gateway_client.list_sdcs()
    assert transport.logins == 2


def test_every_request_carries_the_timeout_and_tls_setting(gateway, client):
    gateway.get(gateway.url("/api/login"), [{"text": '"a"'}, {"text": '"b"'}])
    gateway.get(gateway.url(SDCS_PATH), [{"status_code": 401, "text": ""}, {"json": []}])
    gateway.get(gateway.url("/api/types/System/instances"), json=[{"id": "s1"}])

    client.list_sdcs()
    client.system_id()

    assert len(gateway.request_history) == 5
    for request in gateway.request_history:
        assert request.timeout == (gateway.TIMEOUT, gateway.TIMEOUT)
        assert request.verify is True


@pytest.mark.parametrize("verify", [False, True, "/etc/ssl/gateway-ca.pem"])
def test_tls_verification_setting_reaches_requests(gateway, make_client, sdcs, verify):
    make_client(verify=verify).list_sdcs()

    assert [r.verify for r in gateway.request_history] == [verify, verify]


def test_unverified_tls_is_warned_about_once_per_process(make_client, caplog):
    caplog.set_level(logging.WARNING)

    for _ in range(3):
        make_client(verify=False)

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "[scaleio] verify_server_certificate" in warnings[0].getMessage()


def test_verified_tls_logs_no_warning(make_client, caplog):
    caplog.set_level(logging.WARNING)

    make_client(verify="/etc/ssl/gateway-ca.pem")

    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_connection_pool_is_bounded_by_max_connections(make_client):
    gateway_client = make_client(max_connections=7)

    adapter = gateway_client.adapter
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 7
    assert adapter.poolmanager.connection_pool_kw["block"] is True


def test_ipv6_gateway_address_is_bracketed(gateway):
    gateway_client = GatewayClient("2001:db8::5", 8443, verify=True, auth_method="legacy")
    gateway.get("https://[2001:db8::5]:8443/api/login", text='"t"')
    gateway.get("https://[2001:db8::5]:8443/api/version", text='"3.0"')

    assert gateway_client.api_version() == "3.0"
    assert gateway_client.endpoint == "[2001:db8::5]:8443"


def test_plain_http_scheme_is_honoured(gateway):
    gateway_client = GatewayClient("gw", 80, scheme="http", verify=True, auth_method="legacy")
    gateway.get("http://gw:80/api/login", text='"t"')
    gateway.get("http://gw:80/api/version", text='"4.5"')

    assert gateway_client.api_version() == "4.5"


def test_empty_host_is_a_configuration_error():
    with pytest.raises(exceptions.ConfigurationError, match="rest_server_ip"):
        GatewayClient("")


def test_close_never_logs_out(gateway, client, sdcs):
    client.list_sdcs()

    client.close()

    assert "GET /api/logout" not in gateway.calls()
    assert gateway.calls() == ["GET /api/login", f"GET {SDCS_PATH}"]


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ConnectTimeout,
        requests.exceptions.ReadTimeout,
        requests.exceptions.ConnectionError,
        requests.exceptions.ChunkedEncodingError,
    ],
)
def test_transport_failures_raise_gateway_unavailable(gateway, client, failure):
    gateway.get(gateway.url(SDCS_PATH), exc=failure("boom"))

    with pytest.raises(exceptions.GatewayUnavailable) as info:
        client.list_sdcs()

    message = str(info.value)
    assert "gateway.example:443" in message
    assert f"GET {SDCS_PATH}" in message
    assert "rest_request_timeout" in message
    assert isinstance(info.value.__cause__, failure)


def test_tls_failure_tells_how_to_trust_the_gateway(gateway, client):
    error = requests.exceptions.SSLError("certificate verify failed: self-signed certificate")
    gateway.get(gateway.url("/api/login"), exc=error)

    with pytest.raises(exceptions.GatewayUnavailable) as info:
        client.list_sdcs()

    assert "[scaleio] server_certificate_path" in str(info.value)
    assert "verify_server_certificate" in str(info.value)
    assert "certificate verify failed" in str(info.value)


def test_secrets_never_reach_the_logs(gateway, client, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    second_token = gateway.TOKEN[::-1]
    gateway.get(gateway.url("/api/login"), [{"text": f'"{gateway.TOKEN}"'}, {"text": second_token}])
    gateway.get(gateway.url(SDCS_PATH), [{"status_code": 401, "text": ""}, {"json": []}])
    gateway.get(
        gateway.url("/api/instances/Sdc::s1"), **gateway.error("Could not find the SDC", 80)
    )
    slow = requests.exceptions.ReadTimeout("slow")
    gateway.get(gateway.url("/api/types/System/instances"), exc=slow)
    messages = []

    client.api_version()
    client.list_sdcs()  # 401, re-login, retry
    for operation in (lambda: client.get_sdc("s1"), client.system_id):
        with pytest.raises(exceptions.GatewayError) as info:
            operation()
        messages.append(str(info.value))
    gateway.get(gateway.url("/api/login"), **gateway.error("Unauthorized", 0, 401))
    with pytest.raises(exceptions.AuthenticationFailed) as info:
        make_client(verify=False).api_version()
    messages.append(str(info.value))

    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert gateway.logins() == 3
    texts = [r.getMessage() for r in caplog.records] + [caplog.text, *messages]
    for secret in (gateway.PASSWORD, gateway.TOKEN, second_token):
        assert not [text for text in texts if secret in text]


def _configured(**values):
    conf = cfg.ConfigOpts()
    sio_conf.register_opts(conf)
    conf([], default_config_files=[])
    settings = {
        "rest_server_ip": "gateway.example",
        "rest_server_username": "admin",
        "rest_server_password": "Pa55-w0rd-n0t-for-logs",
        **values,
    }
    for name, value in settings.items():
        conf.set_override(name, value, group="scaleio")
    return conf


def test_from_config_builds_a_verified_client(gateway, tmp_path, sdcs):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    conf = _configured(
        verify_server_certificate=True,
        server_certificate_path=str(ca),
        rest_request_timeout=9,
        rest_max_connections=3,
    )

    gateway_client = GatewayClient.from_config(conf)
    gateway_client.list_sdcs()

    assert gateway.last_request.url == sdcs
    assert gateway.last_request.verify == str(ca)
    assert gateway.last_request.timeout == (9, 9)
    assert gateway.token_of(gateway.last_request) == gateway.TOKEN
    adapter = gateway_client.adapter
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 3


def test_from_config_registers_the_options_itself(gateway, sdcs):
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])

    with pytest.raises(exceptions.ConfigurationError, match="rest_server_ip"):
        GatewayClient.from_config(conf)


@pytest.mark.parametrize(
    "missing", ["rest_server_ip", "rest_server_username", "rest_server_password"]
)
def test_from_config_names_the_missing_option(missing):
    conf = _configured(**{missing: None})

    with pytest.raises(exceptions.ConfigurationError, match=rf"\[scaleio\] {missing}"):
        GatewayClient.from_config(conf)


def test_from_config_refuses_a_missing_ca_bundle(tmp_path):
    conf = _configured(
        verify_server_certificate=True, server_certificate_path=str(tmp_path / "absent.pem")
    )

    with pytest.raises(exceptions.ConfigurationError, match="server_certificate_path"):
        GatewayClient.from_config(conf)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"verify_server_certificate": True}, True),
        ({"verify_server_certificate": False}, False),
        ({"verify_server_certificate": False, "server_certificate_path": "/some/ca.pem"}, False),
    ],
)
def test_from_config_verify_setting(gateway, sdcs, caplog, options, expected):
    conf = _configured(**options)
    ca_path = options.get("server_certificate_path")

    GatewayClient.from_config(conf).list_sdcs()

    assert gateway.last_request.verify is expected
    ignored = [r for r in caplog.records if "server_certificate_path is set" in r.getMessage()]
    assert bool(ignored) == bool(ca_path)
