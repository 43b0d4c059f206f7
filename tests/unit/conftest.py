"""Shared fixtures: a requests-mock gateway and a client with a fake clock.

Helpers live on the ``gateway`` fixture (a requests-mock Mocker subclass)
rather than in an importable module: tox installs a wheel, so ``tests`` is
not importable from the test modules.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests_mock
from sio_fixtures.fake_clock import FakeClock

from sio_backend.gateway import GatewayClient, transport


class FakeGateway(requests_mock.Mocker):
    """A requests-mock gateway that knows the API's URLs and object shapes."""

    HOST = "gateway.example"
    BASE = f"https://{HOST}:443"
    USERNAME = "admin"
    PASSWORD = "Pa55-w0rd-n0t-for-logs"
    TOKEN = "YWRtaW46MTU0MTU2MjIxOTI5MzpmODkxNDVhNw"
    TIMEOUT = 17
    POOL_ID = "b7f4d8a600000001"
    PD_ID = "9300c1f900000000"
    VOLUME_ID = "d4f7289200000023"
    SDC_ID = "a2b7cc6300000000"
    SYSTEM_ID = "00df72815d3b900f"
    VTREE_ID = "vt00000001"
    GIB_KB = 1024 * 1024

    def url(self, path: str) -> str:
        return self.BASE + path

    def action(self, volume_id: str, verb: str) -> str:
        return self.url(f"/api/instances/Volume::{volume_id}/action/{verb}")

    def volume_url(self, volume_id: str | None = None) -> str:
        return self.url(f"/api/instances/Volume::{volume_id or self.VOLUME_ID}")

    def bodies(self, full_url: str) -> list[Any]:
        """JSON bodies of the requests sent to one URL, in order."""
        return [r.json() for r in self.request_history if r.url == full_url]

    def calls(self) -> list[str]:
        """``METHOD path`` of every request sent, in order."""
        return [f"{r.method} {r.path}" for r in self.request_history]

    def logins(self) -> int:
        return self.calls().count("GET /api/login")

    @staticmethod
    def basic_auth(user: str, secret: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()

    @staticmethod
    def token_of(request: Any) -> str:
        """The password half of a request's Basic auth: the session token."""
        encoded = request.headers["Authorization"].removeprefix("Basic ")
        return base64.b64decode(encoded).decode().split(":", 1)[1]

    def volume(
        self,
        volume_id: str | None = None,
        *,
        name: str | None = "vol1",
        size_gb: int = 8,
        pool_id: str | None = None,
        volume_type: str = "ThinProvisioned",
        vtree_id: str | None = VTREE_ID,
        ancestor_id: str | None = None,
        mapped: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """A Volume object as GET /api/instances/Volume::<id> returns it."""
        return {
            "id": volume_id or self.VOLUME_ID,
            "name": name,
            "sizeInKb": size_gb * self.GIB_KB,
            "storagePoolId": pool_id or self.POOL_ID,
            "vtreeId": vtree_id,
            "volumeType": volume_type,
            "ancestorVolumeId": ancestor_id,
            "mappedSdcInfo": mapped,
            "links": [],
        }

    def mapping(self, sdc_id: str | None = None, *, iops: int = 0, mbps: int = 0) -> dict:
        return {
            "sdcId": sdc_id or self.SDC_ID,
            "sdcIp": "192.0.2.10",
            "limitIops": iops,
            "limitBwInMbps": mbps,
        }

    def error(self, message: str, error_code: int | None, status: int = 500, **extra: Any) -> dict:
        """Keyword arguments for a gateway error answer."""
        body = {"message": message, "httpStatusCode": status, **extra}
        if error_code is not None:
            body["errorCode"] = error_code
        return {"status_code": status, "json": body}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> list[float]:
    """Every sleep the client asked for, in seconds."""
    return []


@pytest.fixture(autouse=True)
def fresh_tls_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """The insecure-TLS warning is once per process; give each test its own process."""
    monkeypatch.setattr(transport, "unverified_tls_warning", transport.Once())


@pytest.fixture(autouse=True)
def no_ca_bundle_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests swaps verify=True for $REQUESTS_CA_BUNDLE; tests want what the client set."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.fixture
def gateway() -> FakeGateway:
    with FakeGateway(case_sensitive=True) as mocker:
        mocker.get(mocker.url("/api/login"), text=f'"{FakeGateway.TOKEN}"')
        # A 3.5 gateway: the OAuth login of 4.x and 5.x is not served.
        mocker.post(mocker.url("/rest/auth/login"), status_code=404, text="")
        mocker.get(mocker.url("/api/version"), text='"3.5"')
        yield mocker


@pytest.fixture
def make_client(clock: FakeClock, sleeps: list[float]):
    """Build clients on the fake clock; each sleep advances the clock."""
    made = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    def make(**overrides: Any) -> GatewayClient:
        options = {
            # The recorded 3.5 dialect; the tests of the login choice ask for auto.
            "auth_method": "legacy",
            "verify": True,
            "timeout": FakeGateway.TIMEOUT,
            "clock": clock,
            "sleep": sleep,
            **overrides,
        }
        made.append(
            GatewayClient(
                FakeGateway.HOST, 443, FakeGateway.USERNAME, FakeGateway.PASSWORD, **options
            )
        )
        return made[-1]

    yield make
    for gateway_client in made:
        gateway_client.close()


@pytest.fixture
def client(gateway: FakeGateway, make_client) -> GatewayClient:
    return make_client()
