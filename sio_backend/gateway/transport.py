"""The HTTP connection pool to one gateway, and what can go wrong on the wire.

One ``requests.Session`` with a blocking pool is shared by every thread.
Transport failures become typed exceptions whose message says what to
check; answers, whatever their status, are handed back to the caller.
Nothing here logs a body, a header or a credential.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from oslo_log import log as logging
from requests.adapters import BaseAdapter, HTTPAdapter

from sio_backend.exceptions import GatewayUnavailable, TLSVerificationFailed
from sio_backend.gateway.wire import snippet, stringify

LOG = logging.getLogger(__name__)


class Once:
    """True exactly once per process, whichever thread asks first."""

    def __init__(self) -> None:
        self._done = False
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            first, self._done = not self._done, True
            return first


#: Whether the "TLS verification is off" warning is still to be logged
#: (tests replace it with a fresh :class:`Once`).
unverified_tls_warning = Once()


def pooled_adapter(max_connections: int) -> HTTPAdapter:
    """pool_block keeps in-flight requests at max_connections instead of
    opening (and then discarding) extra connections under load."""
    return HTTPAdapter(pool_connections=1, pool_maxsize=max_connections, pool_block=True)


class Transport:
    """Sends one request to the gateway; knows nothing of tokens or retries."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        scheme: str,
        verify: bool | str,
        timeout: float,
        max_connections: int,
    ) -> None:
        self.endpoint = (
            f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
        )
        self.timeout_s = timeout
        self._base_url = f"{scheme}://{self.endpoint}"
        self._verify = verify
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        self.adapter: BaseAdapter = pooled_adapter(max_connections)
        self.mount(self.adapter)
        if verify is False and unverified_tls_warning():
            LOG.warning(
                "TLS certificate verification of the PowerFlex gateway %s is off: anyone "
                "on the network path can impersonate it and capture its credentials. Set "
                "[scaleio] verify_server_certificate = True (and server_certificate_path "
                "to the gateway's CA bundle if a private CA signed it).",
                self.endpoint,
            )

    def mount(self, adapter: BaseAdapter) -> None:
        """Send every request through ``adapter`` (a test double, a recorder)."""
        self.adapter = adapter
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def close(self) -> None:
        self._session.close()

    def send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        *,
        auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One request and its answer; a failure to get any answer raises."""
        began = time.perf_counter()
        try:
            response = self._session.request(
                method,
                self._base_url + path,
                json=None if body is None else stringify(body),
                auth=auth,
                headers=headers,
                timeout=(self.timeout_s, self.timeout_s),
                verify=self._verify,
            )
        except requests.exceptions.SSLError as error:
            untrusted = "certificate verify failed" in str(error).lower()
            # The reason comes last in requests' text, past the URL: name it first.
            reason = "certificate verify failed: " if untrusted else ""
            raise (TLSVerificationFailed if untrusted else GatewayUnavailable)(
                f"TLS connection to the PowerFlex gateway {self.endpoint} failed "
                f"({reason}{snippet(str(error))}). If a private CA signed the gateway certificate, "
                "set [scaleio] server_certificate_path to that CA bundle (or, insecurely, "
                "verify_server_certificate = False)",
                method=method,
                path=path,
            ) from error
        except requests.exceptions.Timeout as error:
            raise GatewayUnavailable(
                f"the PowerFlex gateway {self.endpoint} did not answer within "
                f"{self.timeout_s:g} s; check that it is up, or raise [scaleio] "
                "rest_request_timeout if it is just slow",
                method=method,
                path=path,
            ) from error
        except requests.RequestException as error:
            raise GatewayUnavailable(
                f"cannot talk to the PowerFlex gateway {self.endpoint} "
                f"({type(error).__name__}: {snippet(str(error))}); check [scaleio] "
                "rest_server_ip and rest_server_port and that the gateway is up "
                "(each attempt waits up to rest_request_timeout)",
                method=method,
                path=path,
            ) from error
        LOG.debug(
            "%s %s -> %s in %.1f ms",
            method,
            path,
            response.status_code,
            (time.perf_counter() - began) * 1000,
        )
        return response
