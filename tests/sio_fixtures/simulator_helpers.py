"""Raw-HTTP helpers and fixtures for the simulator's tests (a pytest plugin).

``tests/conftest.py`` loads it for every test (``pytest_plugins``).  The
helpers speak to the simulator with plain ``requests``, the way real gateway
clients do, so the tests check the wire behaviour and not the project's
client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sio_backend.simulator import Simulator, devices
from sio_fixtures.fake_clock import FakeClock

TIMEOUT = 10
GIB_KB = 1024 * 1024


class Gateway:
    """A logged-in raw HTTP session against one simulator.

    It sends its token as the Basic password (every generation), or with
    ``bearer`` set (4.x/5.x) as ``Authorization: Bearer``.
    """

    def __init__(self, sim: Simulator, *, login: bool = True) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.token: str | None = None
        self.bearer = False
        if login:
            self.login()

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        # verify per request: a REQUESTS_CA_BUNDLE in the environment would
        # silently override Session.verify.
        kwargs.setdefault("verify", str(self.sim.ca_path) if self.sim.ca_path else True)
        kwargs.setdefault("timeout", TIMEOUT)
        if "auth" not in kwargs and "headers" not in kwargs and self.token is not None:
            if self.bearer:
                kwargs["headers"] = {"Authorization": f"Bearer {self.token}"}
            else:
                kwargs["auth"] = ("", self.token)
        return self.session.request(method, self.sim.url + path, **kwargs)

    def login(self, username: str | None = None, password: str | None = None) -> str:
        response = self._send(
            "GET",
            "/api/login",
            auth=(username or self.sim.username, password or self.sim.password),
        )
        assert response.status_code == 200, response.text
        assert response.text.startswith('"') and response.text.endswith('"')
        self.token = response.json()
        self.bearer = False
        return self.token

    def oauth_login(self) -> dict[str, Any]:
        """``POST /rest/auth/login`` (4.x/5.x); later requests carry the access token."""
        response = self._send(
            "POST",
            "/rest/auth/login",
            json={"username": self.sim.username, "password": self.sim.password},
        )
        assert response.status_code == 200, response.text
        grant = response.json()
        self.token, self.bearer = grant["access_token"], True
        return grant

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self._send("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None:
            kwargs["json"] = body
        return self._send("POST", path, **kwargs)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        """Send, insist on 200, return the decoded body (None when empty)."""
        response = self._send(method, path, **({"json": body} if body is not None else {}))
        assert response.status_code == 200, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    def error(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """Send, insist on an error, return (HTTP status, error body)."""
        response = self._send(method, path, **({"json": body} if body is not None else {}))
        assert response.status_code != 200, f"{method} {path} unexpectedly succeeded"
        error = response.json()
        assert error["httpStatusCode"] == response.status_code
        assert set(error) <= {"message", "httpStatusCode", "errorCode", "details"}
        return response.status_code, error

    # ------------------------------------------------------ conveniences
    def pool_id(self, pool: str = "sp1", domain: str = "pd1") -> str:
        return self.ok(
            "POST",
            "/api/types/StoragePool/instances/action/queryIdByKey",
            {"name": pool, "protectionDomainName": domain},
        )

    def create_volume(
        self, name: str | None, size_gb: int = 8, *, thin: bool = True, pool: str = "sp1"
    ) -> str:
        body = {
            "storagePoolId": self.pool_id(pool),
            "volumeSizeInKb": str(size_gb * GIB_KB),
            "volumeType": "ThinProvisioned" if thin else "ThickProvisioned",
        }
        if name is not None:
            body["name"] = name
        return self.ok("POST", "/api/types/Volume/instances", body)["id"]

    def volume(self, volume_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/api/instances/Volume::{volume_id}")

    def action(self, volume_id: str, verb: str, body: Any) -> requests.Response:
        return self.post(f"/api/instances/Volume::{volume_id}/action/{verb}", body)

    def map(self, volume_id: str, sdc_id: str, *, multiple: bool = True) -> None:
        response = self.action(
            volume_id,
            "addMappedSdc",
            {"sdcId": sdc_id, "allowMultipleMappings": "TRUE" if multiple else "FALSE"},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {}

    def pool_stats(self, pool: str = "sp1") -> dict[str, int]:
        return self.ok(
            "GET", f"/api/instances/StoragePool::{self.pool_id(pool)}/relationships/Statistics"
        )


class HeldCopies:
    """Snapshot data copies that wait for :attr:`release` (or fail, when
    :attr:`fail_with` is set), and a flag raised when anything waits in the
    data plane for a copy: the tests see the waits without timing them."""

    HOLD = 60  # longer than a request's TIMEOUT: a request stuck behind a copy fails

    def __init__(self, sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.waiting = threading.Event()
        self.fail_with: OSError | None = None
        copy = devices._copy_data
        waiting = self.waiting

        def held_copy(source_fd: int, target_fd: int, limit: int) -> None:
            self.started.set()
            self.release.wait(self.HOLD)
            if self.fail_with is not None:
                raise self.fail_with
            copy(source_fd, target_fd, limit)

        class SpiedCondition(threading.Condition):
            def wait(self, timeout: float | None = None) -> bool:
                waiting.set()
                return super().wait(timeout)

        monkeypatch.setattr(devices, "_copy_data", held_copy)
        monkeypatch.setattr(sim.devices, "_lock", SpiedCondition())


@pytest.fixture
def hold_copies(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Simulator], HeldCopies]]:
    """Hold one simulator's snapshot copies; every hold is released at the end."""
    held: list[HeldCopies] = []

    def hold(sim: Simulator) -> HeldCopies:
        held.append(HeldCopies(sim, monkeypatch))
        return held[-1]

    try:
        yield hold
    finally:
        for copies in held:
            copies.release.set()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


def started_simulators(directory: Path, **defaults: Any) -> Iterator[Callable[..., Simulator]]:
    """A factory of started simulators with host1 and host2, for a fixture to
    yield from; keyword arguments of each call override ``defaults``, and
    every simulator made is stopped when the fixture ends."""
    started: list[Simulator] = []

    def make(**options: Any) -> Simulator:
        options = {"migration_delay": 0.2, **defaults, **options}
        simulator = Simulator(directory / f"simulator-{len(started)}", **options)
        started.append(simulator)
        simulator.start()
        simulator.add_sdc("host1")
        simulator.add_sdc("host2")
        return simulator

    try:
        yield make
    finally:
        for simulator in started:
            simulator.stop()


@pytest.fixture
def make_sim(tmp_path: Path) -> Iterator[Callable[..., Simulator]]:
    """Start plain-HTTP simulators with host1 and host2; keyword arguments
    (``api_version`` above all) override; each is stopped after the test."""
    yield from started_simulators(tmp_path)


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    """A plain-HTTP 3.5 simulator with two hosts, host1 and host2."""
    return make_sim()


@pytest.fixture
def gw(sim: Simulator) -> Gateway:
    return Gateway(sim)


@pytest.fixture
def open_gateway() -> type[Gateway]:
    """The Gateway class, for tests that open sessions of their own."""
    return Gateway
