"""The :class:`Simulator`: one gateway, its SDCs and their devices, assembled.

Tests use it as a context manager, the console command runs it in the
foreground.  It owns the pieces (model, sessions, devices, faults, HTTP
server) and adds the conveniences tests want: named SDCs with their by-id
directories, the request log, and topology helpers by name.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sio_backend.simulator.admin import AdminApi
from sio_backend.simulator.devices import DeviceManager
from sio_backend.simulator.faults import FaultInjector
from sio_backend.simulator.generations import generation
from sio_backend.simulator.requestlog import LoggedRequest, RequestLog
from sio_backend.simulator.routes import GatewayApi
from sio_backend.simulator.server import GatewayHTTPServer, Pipeline
from sio_backend.simulator.sessions import SessionStore
from sio_backend.simulator.state import GatewayState
from sio_backend.simulator.tls import server_context


@dataclass(frozen=True)
class SimSdc:
    """A simulated host's SDC and its stand-in for /dev/disk/by-id."""

    id: str
    name: str
    guid: str
    ip: str
    by_id_dir: Path
    system_id: str

    def device_path(self, volume_id: str) -> Path:
        return self.by_id_dir / f"emc-vol-{self.system_id}-{volume_id}"


class Simulator:
    """A PowerFlex gateway and SDC simulator serving on 127.0.0.1."""

    host = "127.0.0.1"

    def __init__(
        self,
        state_dir: str | Path | None = None,
        *,
        tls: bool = False,
        api_version: str = "3.5",
        username: str = "admin",
        password: str = "Scaleio123",  # noqa: S107 - the well-known demo default
        port: int = 0,
        idle_timeout: float = 600.0,
        absolute_timeout: float = 8 * 3600.0,
        device_delay: float = 0.0,
        migration_delay: float = 0.5,
        max_sessions: int = 256,
        access_token_lifetime: float = 300.0,
        refresh_token_lifetime: float = 1800.0,
        max_snapshots_per_vtree: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """A stopped simulator of the PowerFlex generation ``api_version`` names
        ("3.5", "4.5", "5.0"; see :mod:`~sio_backend.simulator.generations`)
        with protection domain pd1 and storage pool sp1, and from 4.x on one
        NVMe host, nvme1; ``max_snapshots_per_vtree`` defaults to the
        generation's limit."""
        self.generation = generation(api_version)
        self._own_dir = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="sio-simulator-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.tls = tls
        self.api_version = api_version
        self.username = username
        self.password = password
        self._requested_port = port
        self.system_id = secrets.token_hex(8)
        self.devices = DeviceManager(self.state_dir, self.system_id, delay=device_delay)
        self.state = GatewayState(
            system_id=self.system_id,
            api_version=api_version,
            data=self.devices,
            clock=clock,
            migration_delay=migration_delay,
            max_snapshots_per_vtree=max_snapshots_per_vtree,
        )
        self.sessions = SessionStore(
            username,
            password,
            idle_timeout=idle_timeout,
            absolute_timeout=absolute_timeout,
            max_sessions=max_sessions,
            access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            html_refusals=self.generation.manager,
            clock=clock,
        )
        self.log = RequestLog()
        self.faults = FaultInjector(
            state=self.state,
            sessions=self.sessions,
            devices=self.devices,
            resolve_sdc=self._sdc_id,
            on_restart=self._close_idle_connections,
        )
        self.sdcs: dict[str, SimSdc] = {}
        self.ca_path: Path | None = None
        self._server: GatewayHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add_protection_domain("pd1")
        self.add_storage_pool("pd1", "sp1")
        if self.generation.manager:
            self.add_nvme_host("nvme1")

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Simulator:
        if self._server is not None:
            return self
        context = None
        if self.tls:
            context, self.ca_path = server_context(self.state_dir / "tls")
        pipeline = Pipeline(
            api=GatewayApi(self.state, self.sessions),
            faults=self.faults,
            log=self.log,
            admin=AdminApi(
                faults=self.faults,
                log=self.log,
                list_sdcs=lambda: [self._describe(s) for s in self.sdcs.values()],
                add_sdc=lambda **kw: self._describe(self.add_sdc(**kw)),
            ),
        )
        self._server = GatewayHTTPServer(self._requested_port, pipeline, context)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sio-simulator-{self._server.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop every connection, and remove a temporary state dir."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_connections(idle_only=False)
            server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
        self.devices.close()
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _close_idle_connections(self) -> None:
        if self._server is not None:
            self._server.close_connections(idle_only=True)

    # -------------------------------------------------------------- address
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() or use 'with'")
        return self._server.port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    # ------------------------------------------------------------- topology
    def add_protection_domain(self, name: str) -> str:
        return self.state.add_protection_domain(name).id

    def add_storage_pool(
        self,
        pd_name: str,
        name: str,
        *,
        zero_padding: bool = True,
        data_layout: str | None = None,
        capacity_gb: int = 10240,
    ) -> str:
        pd_id = self.state.protection_domain_id_by_name(pd_name)
        return self.state.add_storage_pool(
            pd_id, name, zero_padding=zero_padding, data_layout=data_layout, capacity_gb=capacity_gb
        ).id

    def add_sdc(
        self, name: str, *, guid: str | None = None, ip: str | None = None, connected: bool = True
    ) -> SimSdc:
        sdc = self.state.add_sdc(name, guid=guid, ip=ip, connected=connected)
        sim_sdc = SimSdc(
            id=sdc.id,
            name=sdc.name,
            guid=sdc.guid,
            ip=sdc.ip,
            by_id_dir=self.devices.by_id_dir(sdc.id),
            system_id=self.system_id,
        )
        self.sdcs[name] = sim_sdc
        return sim_sdc

    def add_nvme_host(self, name: str, *, nqn: str | None = None) -> str:
        """Register an NVMe/TCP host (4.x and later); returns its id."""
        return self.state.add_nvme_host(name, nqn=nqn).id

    def _sdc_id(self, sdc: Any) -> str:
        """An SDC given as SimSdc, name or id, as its id."""
        if isinstance(sdc, SimSdc):
            return sdc.id
        if sdc in self.sdcs:
            return self.sdcs[sdc].id
        return self.state.sdc(str(sdc)).id

    def _describe(self, sdc: SimSdc) -> dict[str, Any]:
        return {
            "id": sdc.id,
            "name": sdc.name,
            "guid": sdc.guid,
            "ip": sdc.ip,
            "by_id_dir": str(sdc.by_id_dir),
            "connected": self.state.sdc(sdc.id).connected,
        }

    # ---------------------------------------------------------- request log
    @property
    def request_log(self) -> list[LoggedRequest]:
        return self.log.entries()

    def call_counts(self) -> Counter[tuple[str, str]]:
        """Gateway calls per (method, route template) since the last reset."""
        return self.log.counts()

    def reset_log(self) -> None:
        self.log.reset()

    @property
    def peak_connections(self) -> int:
        """Most client connections open at once since start or the last reset."""
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() or use 'with'")
        return self._server.peak_connections

    def reset_peak_connections(self) -> None:
        """Start counting from the connections open now."""
        if self._server is not None:
            self._server.reset_peak_connections()
