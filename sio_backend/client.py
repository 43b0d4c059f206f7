"""Thin, thread-safe client for the PowerFlex (ScaleIO) gateway REST API.

One client is shared by every nova-compute thread that touches PowerFlex. It
holds one HTTP session, one gateway token and the name-to-id caches, and it
turns every gateway answer into a typed value or a typed exception: callers
never get a silent ``None`` on failure and never compare error numbers.

Any POST may be replayed (after a 401 re-login) or may have taken effect
although its answer was lost (timeout, dropped connection), so every change
below either is idempotent or re-reads the volume's state before it reports
a failure.  Reads (GETs and the read-only query actions) are different:
asking again cannot do anything twice, so a read whose connection dropped
or that a busy gateway or proxy refused (502/503/504) is simply sent again,
a few times, within one ``rest_request_timeout``.

Wire choices, where real clients disagree (see the gateway API notes):

* storage pools are looked up with ``{"name", "protectionDomainName"}``, as
  siolib and pyscaleio (whose functional tests ran against real gateways) do;
  a gateway that refuses that form is asked again with ``protectionDomainId``;
* volumes are created with ``storagePoolId`` only (pyscaleio, CloudStack,
  PyPowerFlex): the pool already implies its protection domain, so no extra
  lookup is needed;
* SDCs are found by GUID by listing them on every call, without a cache,
  because their connection state changes and the lookup is rare.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import requests
from oslo_log import log as logging
from requests.adapters import HTTPAdapter

from sio_backend import conf as sio_conf
from sio_backend.credentials import gateway_password
from sio_backend.exceptions import (
    AlreadyInPool,
    AlreadyMapped,
    AuthenticationFailed,
    BadRequest,
    ConfigurationError,
    GatewayError,
    GatewayUnavailable,
    InvalidArgument,
    InvalidResponse,
    InvalidVolumeName,
    MigrationInProgress,
    NameInUse,
    NotFound,
    NotMapped,
    ShrinkNotAllowed,
    TLSVerificationFailed,
    VolumeConflict,
    error_class_for,
)
from sio_backend.sizing import round_up_gb

if TYPE_CHECKING:
    from oslo_config import cfg

LOG = logging.getLogger(__name__)

KB_PER_GB = 1024 * 1024
MAX_NAME_LENGTH = 31
THIN = "ThinProvisioned"
THICK = "ThickProvisioned"
SNAPSHOT = "Snapshot"
MIGRATION_CONVERSIONS = frozenset({"NoConversion", "ThickToThin", "ThinToThick"})

# The gateway drops a token after 10 minutes without use and 8 hours after
# login; renewing a little earlier avoids a 401 round trip in the common case.
IDLE_RENEWAL_S = 9 * 60.0
ABSOLUTE_RENEWAL_S = 7 * 3600.0 + 50 * 60.0
ID_CACHE_TTL_S = 5 * 60.0

_AUTH_FAILURES = frozenset({401, 403})
# A proxy or load balancer in front of the gateway answers these itself.
_UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
# A change that failed with one of these may still have happened.
_MAYBE_APPLIED = (NameInUse, GatewayUnavailable, InvalidResponse)
# Reads are sent up to READ_ATTEMPTS times, waiting READ_RETRY_DELAY_S, then
# twice as long, between attempts; all of it within one rest_request_timeout.
READ_ATTEMPTS = 3
READ_RETRY_DELAY_S = 0.5
# POST actions that only read, so that asking again cannot change anything.
_READ_ONLY_ACTIONS = frozenset({"queryIdByKey", "querySelectedStatistics"})
_SNIPPET_LENGTH = 200
_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")
_BARE_SCALAR = re.compile(r"[A-Za-z0-9_.:+/=-]+")
_VERSION = re.compile(r"(\d+)\.(\d+)")
# json.loads raises RecursionError, not ValueError, on deeply nested text.
_NOT_JSON = (ValueError, RecursionError)


def _check_volume_name(name: str) -> None:
    """Refuse names the gateway would reject, before anything is created."""
    problem = None
    if not name:
        problem = "it is empty"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"it has {len(name)} characters, the maximum is {MAX_NAME_LENGTH}"
    elif any(char.isspace() for char in name):
        problem = "it contains whitespace"
    elif not all(" " < char <= "~" for char in name):
        problem = "only printable ASCII characters are allowed"
    if problem:
        raise InvalidVolumeName(f"PowerFlex volume name {name!r} is invalid: {problem}")


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) > _SNIPPET_LENGTH:
        return flat[:_SNIPPET_LENGTH] + "..."
    return flat


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return _snippet(json.dumps(value, default=repr))


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidResponse(f"expected {what} as a JSON object, got {_describe(data)}")
    return data


def _text(data: Mapping[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidResponse(f"{what} has no valid {key!r}: got {_describe(value)}")
    return value


def _optional_text(data: Mapping[str, Any], key: str, what: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidResponse(f"{what} has an invalid {key!r}: got {_describe(value)}")
    return value


def _id(data: Mapping[str, Any], key: str, what: str) -> str:
    """An id the client will put in a URL path later: checked on the way in."""
    value = _text(data, key, what)
    if not _ID_PATTERN.fullmatch(value):
        raise InvalidResponse(f"{what} has an invalid {key!r}: got {_describe(value)}")
    return value


def _optional_id(data: Mapping[str, Any], key: str, what: str) -> str | None:
    return None if _optional_text(data, key, what) is None else _id(data, key, what)


def _number(data: Mapping[str, Any], key: str, what: str, default: int | None = None) -> int:
    """A size, count or limit: never negative, sometimes sent as a string."""
    value = data.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidResponse(f"{what} has no valid {key!r}: got {_describe(value)}")
    return value


def _list(data: Any, what: str) -> list[Any]:
    if not isinstance(data, list):
        raise InvalidResponse(f"expected {what} as a JSON list, got {_describe(data)}")
    return data


def _stringify(value: Any) -> Any:
    """The gateway wants numbers and booleans as strings ("8388608", "TRUE")."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping):
        return {key: _stringify(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_stringify(item) for item in value]
    return value


def _check_id(value: str, what: str) -> str:
    # Ids go into URL paths; anything else could address another object.
    if not isinstance(value, str) or not _ID_PATTERN.fullmatch(value):
        raise InvalidArgument(f"{what} {value!r} is not a PowerFlex object id")
    return value


@dataclass(frozen=True)
class MappedSdc:
    """One SDC a volume is mapped to, with the QoS limits of that mapping."""

    sdc_id: str
    sdc_ip: str | None
    iops_limit: int
    bandwidth_limit_kbps: int

    @classmethod
    def from_api(cls, data: Any) -> Self:
        entry = _object(data, "a mappedSdcInfo entry")
        what = "a mappedSdcInfo entry"
        return cls(
            sdc_id=_id(entry, "sdcId", what),
            sdc_ip=_optional_text(entry, "sdcIp", what),
            iops_limit=_number(entry, "limitIops", what, default=0),
            bandwidth_limit_kbps=_number(entry, "limitBwInMbps", what, default=0) * 1024,
        )


@dataclass(frozen=True)
class Volume:
    """A volume (or snapshot) as the gateway reports it."""

    id: str
    name: str | None
    size_kb: int
    pool_id: str
    vtree_id: str | None
    volume_type: str
    ancestor_id: str | None
    mapped_sdcs: tuple[MappedSdc, ...]

    @property
    def size_gb(self) -> int:
        return self.size_kb // KB_PER_GB

    @property
    def thin(self) -> bool:
        """Snapshots count as thin: PowerFlex allocates them on write."""
        return self.volume_type != THICK

    @property
    def mapped_sdc_ids(self) -> frozenset[str]:
        return frozenset(mapping.sdc_id for mapping in self.mapped_sdcs)

    @classmethod
    def from_api(cls, data: Any) -> Self:
        volume = _object(data, "a volume")
        what = f"volume {volume.get('id')!r}"
        mapped = volume.get("mappedSdcInfo") or []
        return cls(
            id=_id(volume, "id", "a volume"),
            name=_optional_text(volume, "name", what),
            size_kb=_number(volume, "sizeInKb", what),
            pool_id=_id(volume, "storagePoolId", what),
            vtree_id=_optional_id(volume, "vtreeId", what),
            volume_type=_text(volume, "volumeType", what),
            ancestor_id=_optional_id(volume, "ancestorVolumeId", what),
            mapped_sdcs=tuple(
                MappedSdc.from_api(entry) for entry in _list(mapped, f"{what} mappedSdcInfo")
            ),
        )


@dataclass(frozen=True)
class Sdc:
    """A host's SDC, the kernel client that exposes mapped volumes."""

    id: str
    guid: str
    ip: str | None
    name: str | None
    connected: bool

    @classmethod
    def from_api(cls, data: Any) -> Self:
        sdc = _object(data, "an SDC")
        what = f"SDC {sdc.get('id')!r}"
        ip = _optional_text(sdc, "sdcIp", what)
        if ip is None and isinstance(sdc.get("sdcIps"), list) and sdc["sdcIps"]:
            ip = str(sdc["sdcIps"][0])
        return cls(
            id=_id(sdc, "id", "an SDC"),
            guid=_text(sdc, "sdcGuid", what),
            ip=ip,
            name=_optional_text(sdc, "name", what),
            connected=sdc.get("mdmConnectionState") == "Connected",
        )


@dataclass(frozen=True)
class StoragePool:
    """The pool properties that decide whether instance disks may live there."""

    id: str
    name: str
    protection_domain_id: str
    zero_padding: bool
    data_layout: str

    @classmethod
    def from_api(cls, data: Any) -> Self:
        pool = _object(data, "a storage pool")
        what = f"storage pool {pool.get('id')!r}"
        return cls(
            id=_id(pool, "id", "a storage pool"),
            name=_optional_text(pool, "name", what) or "",
            protection_domain_id=_id(pool, "protectionDomainId", what),
            # Unknown padding is treated as off: the safe reading for tenant data.
            zero_padding=pool.get("zeroPaddingEnabled") is True,
            # Pools from before Fine Granularity existed report no layout.
            data_layout=_optional_text(pool, "dataLayout", what) or "MediumGranularity",
        )


@dataclass(frozen=True)
class PoolCapacity:
    """Net (one copy) capacity figures in KiB, as schedulers want them."""

    total_kb: int
    free_kb: int
    provisioned_kb: int

    @classmethod
    def from_statistics(cls, stats: Mapping[str, Any], *, net: bool) -> Self:
        """``net`` selects the 3.0+ precomputed figures over the mirrored raw ones."""

        def first(*keys: str) -> int:
            for key in keys:
                if stats.get(key) is not None:
                    return _number(stats, key, "pool statistics")
            raise InvalidResponse(f"pool statistics lack {' or '.join(keys)}")

        provisioned = (
            first("thickCapacityInUseInKb")
            + first("snapshotCapacityInKb", "snapCapacityInUseInKb")
            + first("thinCapacityAllocatedInKb", "thinCapacityAllocatedInKm")
        ) // 2
        if net:
            free = first("netUnusedCapacityInKb")
            total = first("netCapacityInUseInKb") + free
        else:
            total = (first("capacityLimitInKb") - first("spareCapacityInKb")) // 2
            free = first("capacityAvailableForVolumeAllocationInKb")
        return cls(total_kb=total, free_kb=free, provisioned_kb=provisioned)


class _TtlCache:
    """Name-to-id answers: stable for minutes, but a name can be reassigned."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, ...], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._clock() >= entry[0]:
                return None
            return entry[1]

    def put(self, key: tuple[str, ...], value: str) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl, value)


class _Once:
    """True exactly once per process, whichever thread asks first."""

    def __init__(self) -> None:
        self._done = False
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            first, self._done = not self._done, True
            return first


_UNVERIFIED_WARNING = _Once()


def _token_from(text: str) -> str | None:
    """Real gateways send the token as a JSON string; test fixtures send it bare."""
    token = text.strip()
    if token.startswith('"'):
        try:
            token = json.loads(token)
        except _NOT_JSON:
            token = token.strip('"')
    if isinstance(token, str) and _BARE_SCALAR.fullmatch(token):
        return token
    return None


def _decode_json(response: requests.Response) -> Any:
    text = response.text
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except _NOT_JSON:
        raise InvalidResponse(f"the answer is not JSON: {_snippet(text)}") from None


def _decode_scalar(response: requests.Response) -> str | None:
    """Lookups answer with a bare JSON string id, or ``null``/nothing for no match."""
    text = response.text.strip()
    if not text or text == "null":
        return None
    value: Any = text
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except _NOT_JSON:
            value = None
    if value == "":
        return None
    if isinstance(value, str) and _ID_PATTERN.fullmatch(value):
        return value
    raise InvalidResponse(f"expected an id or version string, got {_snippet(text)}")


def _error_body(
    response: requests.Response,
) -> tuple[str, int | None, int | None, list[Any], bool]:
    """Message, errorCode, first details rc, details, and whether the body was JSON.

    HTML, plain text and truncated bodies yield no codes, so they are
    classified by HTTP status alone: a proxy's "Not Found" page must never
    read as "volume already gone".
    """
    text = response.text
    try:
        body = json.loads(text)
    except _NOT_JSON:
        body = None
    if not isinstance(body, Mapping):
        if not text.strip():
            return f"empty answer ({response.reason or 'no reason given'})", None, None, [], False
        kind = response.headers.get("Content-Type") or "untyped"
        readable = _snippet(re.sub(r"<[^>]*>", " ", text))
        return f"unexpected {kind} answer: {readable}", None, None, [], False
    details = body.get("details")
    details = (
        [item for item in details if isinstance(item, Mapping)] if isinstance(details, list) else []
    )
    message = body.get("message") if isinstance(body.get("message"), str) else ""
    if details and message in ("", "Error with details"):
        message = str(details[0].get("errorMessage") or message)
    message = message or f"HTTP {response.status_code} without a message: {_snippet(text)}"
    error_code = body.get("errorCode")
    rc = details[0].get("rc") if details else None
    return (
        message,
        error_code if isinstance(error_code, int) else None,
        rc if isinstance(rc, int) else None,
        details,
        True,
    )


def _is_read(method: str, path: str) -> bool:
    return method == "GET" or path.rpartition("/action/")[2] in _READ_ONLY_ACTIONS


def _restated(error: GatewayError, message: str) -> GatewayError:
    """The same failure (class, codes, request) told with another message."""
    return type(error)(
        message,
        status=error.status,
        error_code=error.error_code,
        rc=error.rc,
        details=error.details,
        method=error.method,
        path=error.path,
    )


def _error_for(response: requests.Response, method: str, path: str) -> GatewayError:
    """Turn an error answer into a typed exception, whatever its body holds."""
    status = response.status_code
    message, error_code, rc, details, parsed = _error_body(response)
    cls = error_class_for(status, error_code, rc, message if parsed else "")
    if cls is GatewayError and status in _UNAVAILABLE_STATUSES:
        cls = GatewayUnavailable
    return cls(
        message,
        status=status,
        error_code=error_code,
        rc=rc,
        details=details,
        method=method,
        path=path,
    )


class GatewayClient:
    """The PowerFlex gateway, as one shared, self-authenticating connection pool."""

    def __init__(
        self,
        host: str,
        port: int = 443,
        username: str = "",
        password: str = "",
        *,
        verify: bool | str = False,
        timeout: float = 60,
        max_connections: int = 100,
        scheme: str = "https",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``clock`` and ``sleep`` exist so tests can move time without waiting."""
        if not host:
            raise ConfigurationError(
                "the PowerFlex gateway address is empty: set [scaleio] rest_server_ip"
            )
        self.endpoint = (
            f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
        )
        self._base_url = f"{scheme}://{self.endpoint}"
        self._username = username
        self._password = password
        self._verify = verify
        self._timeout_s = timeout
        self._clock = clock
        self._sleep = sleep
        self._session = requests.Session()
        # pool_block keeps in-flight requests at max_connections instead of
        # opening (and then discarding) extra connections under load.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max_connections, pool_block=True)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["Accept"] = "application/json"
        self._auth_lock = threading.Lock()
        self._token: str | None = None
        self._login_at = 0.0
        self._last_used = 0.0
        self._login_attempts = 0
        self._login_failure: GatewayError | None = None
        self._ids = _TtlCache(ID_CACHE_TTL_S, clock)
        self._version: str | None = None
        self._system_id: str | None = None
        self._thin_statistic = "thinCapacityAllocatedInKb"
        if verify is False and _UNVERIFIED_WARNING():
            LOG.warning(
                "TLS certificate verification of the PowerFlex gateway %s is off: anyone "
                "on the network path can impersonate it and capture its credentials. Set "
                "[scaleio] verify_server_certificate = True (and server_certificate_path "
                "to the gateway's CA bundle if a private CA signed it).",
                self.endpoint,
            )

    @classmethod
    def from_config(cls, conf: cfg.ConfigOpts) -> GatewayClient:
        """Build the client from ``[scaleio]``; a missing setting names its option."""
        sio_conf.register_opts(conf)
        group = conf.scaleio
        for option in ("rest_server_ip", "rest_server_username"):
            if not getattr(group, option):
                raise ConfigurationError(
                    f"[scaleio] {option} is not set; the PowerFlex gateway cannot be used "
                    "without it"
                )
        password = gateway_password(group.rest_server_password, group.rest_server_password_file)
        verify: bool | str = group.verify_server_certificate
        ca_path = group.server_certificate_path
        if verify and ca_path:
            if not os.path.isfile(ca_path):
                raise ConfigurationError(
                    f"[scaleio] server_certificate_path {ca_path!r} is not a readable file; "
                    "point it at the PEM CA bundle that signed the gateway certificate"
                )
            verify = ca_path
        elif ca_path:
            LOG.warning(
                "[scaleio] server_certificate_path is set but verify_server_certificate is "
                "False, so the gateway certificate is not checked"
            )
        return cls(
            group.rest_server_ip,
            group.rest_server_port,
            group.rest_server_username,
            password,
            verify=verify,
            timeout=group.rest_request_timeout,
            max_connections=group.rest_max_connections,
        )

    def close(self) -> None:
        """Close the HTTP session; the token is left to expire, since logout
        would invalidate it for every other holder too."""
        self._session.close()

    # -- transport and session -------------------------------------------

    def _send(
        self, method: str, path: str, body: Mapping[str, Any] | None, auth: tuple[str, str]
    ) -> requests.Response:
        started = self._clock()
        began = time.perf_counter()
        try:
            response = self._session.request(
                method,
                self._base_url + path,
                json=None if body is None else _stringify(body),
                auth=auth,
                timeout=(self._timeout_s, self._timeout_s),
                verify=self._verify,
            )
        except requests.exceptions.SSLError as error:
            untrusted = "certificate verify failed" in str(error).lower()
            raise (TLSVerificationFailed if untrusted else GatewayUnavailable)(
                f"TLS connection to the PowerFlex gateway {self.endpoint} failed "
                f"({_snippet(str(error))}). If a private CA signed the gateway certificate, "
                "set [scaleio] server_certificate_path to that CA bundle (or, insecurely, "
                "verify_server_certificate = False)",
                method=method,
                path=path,
            ) from error
        except requests.exceptions.Timeout as error:
            raise GatewayUnavailable(
                f"the PowerFlex gateway {self.endpoint} did not answer within "
                f"{self._timeout_s:g} s; check that it is up, or raise [scaleio] "
                "rest_request_timeout if it is just slow",
                method=method,
                path=path,
            ) from error
        except requests.RequestException as error:
            raise GatewayUnavailable(
                f"cannot talk to the PowerFlex gateway {self.endpoint} "
                f"({type(error).__name__}: {_snippet(str(error))}); check [scaleio] "
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
        if response.status_code not in _AUTH_FAILURES:
            self._last_used = max(self._last_used, started)
        return response

    def _login(self) -> str:
        response = self._send("GET", "/api/login", None, (self._username, self._password))
        if not response.ok:
            error = _error_for(response, "GET", "/api/login")
            raise AuthenticationFailed(
                f"login to the PowerFlex gateway {self.endpoint} as {self._username!r} was "
                f"refused ({error.message}); check [scaleio] rest_server_username and "
                "rest_server_password",
                status=response.status_code,
                error_code=error.error_code,
                method="GET",
                path="/api/login",
            )
        token = _token_from(response.text)
        if token is None:
            raise AuthenticationFailed(
                f"the PowerFlex gateway {self.endpoint} answered the login without a usable "
                "token; check that rest_server_ip and rest_server_port point at the gateway",
                status=response.status_code,
                method="GET",
                path="/api/login",
            )
        LOG.info("Logged in to the PowerFlex gateway %s as %s", self.endpoint, self._username)
        return token

    def _login_locked(self, attempts_seen: int) -> str:
        """Log in, unless another thread's attempt failed while this one waited
        for the lock: then fail the same way, so a dead gateway costs every
        waiting thread one timeout, not one each in turn."""
        failure = self._login_failure
        if failure is not None and self._login_attempts != attempts_seen:
            raise _restated(failure, failure.message) from failure
        self._token = None
        try:
            token = self._login()
        except GatewayError as error:
            self._login_failure = error
            raise
        finally:
            self._login_attempts += 1  # counts finished attempts
        now = self._clock()
        self._token, self._login_at, self._last_used = token, now, now
        self._login_failure = None
        return token

    def _valid_token(self) -> str:
        attempts_seen = self._login_attempts
        with self._auth_lock:
            now = self._clock()
            if self._token is not None:
                if now - self._login_at >= ABSOLUTE_RENEWAL_S:
                    LOG.debug("Renewing the gateway token: it is close to its 8 hour limit")
                elif now - self._last_used >= IDLE_RENEWAL_S:
                    LOG.debug("Renewing the gateway token: it has been idle for too long")
                else:
                    return self._token
            return self._login_locked(attempts_seen)

    def _relogin(self, failed_token: str) -> str:
        """Single flight: of all threads refused with one token, only the first
        logs in; the others reuse the token it got."""
        attempts_seen = self._login_attempts
        with self._auth_lock:
            if self._token is not None and self._token != failed_token:
                return self._token
            return self._login_locked(attempts_seen)

    def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> requests.Response:
        """Send a request; a read whose answer was lost, or that a busy gateway
        refused, is sent again (a change never is: its callers confirm it)."""
        if not _is_read(method, path):
            return self._call_once(method, path, body)
        started = self._clock()
        attempt = 1
        while True:
            try:
                return self._call_once(method, path, body)
            except GatewayUnavailable as error:
                delay = READ_RETRY_DELAY_S * 2 ** (attempt - 1)
                elapsed = self._clock() - started
                # Login failures keep their own single-flight handling, and an
                # untrusted certificate stays untrusted.
                if error.path != path or isinstance(error, TLSVerificationFailed):
                    raise
                # A read that has used up rest_request_timeout is not sent again.
                out_of_time = elapsed + delay > self._timeout_s
                if attempt == 1 and out_of_time:
                    raise
                if attempt == READ_ATTEMPTS or out_of_time:
                    # Chained to what went wrong on the wire, as a first failure is.
                    raise self._gave_up(error, attempt, elapsed) from error.__cause__ or error
                LOG.warning(
                    "%s %s to the PowerFlex gateway %s failed (attempt %d of %d), trying "
                    "again in %.1f s: %s",
                    method,
                    path,
                    self.endpoint,
                    attempt,
                    READ_ATTEMPTS,
                    delay,
                    error.message,
                )
                self._sleep(delay)
            attempt += 1

    def _gave_up(self, error: GatewayUnavailable, attempts: int, elapsed: float) -> GatewayError:
        advice = (
            ""
            if error.status is None  # transport failures already say what to check
            else f": check that the gateway {self.endpoint} and any proxy in front of it "
            "are up and not overloaded"
        )
        return _restated(
            error, f"{error.message}; gave up after {attempts} attempts in {elapsed:.1f} s{advice}"
        )

    def _call_once(
        self, method: str, path: str, body: Mapping[str, Any] | None
    ) -> requests.Response:
        """One request, logging in again once if the token was refused."""
        token = self._valid_token()
        response = self._send(method, path, body, (self._username, token))
        if response.status_code in _AUTH_FAILURES:
            LOG.info(
                "The PowerFlex gateway %s refused the session token (HTTP %s); logging in again",
                self.endpoint,
                response.status_code,
            )
            response = self._send(method, path, body, (self._username, self._relogin(token)))
            if response.status_code in _AUTH_FAILURES:
                raise AuthenticationFailed(
                    "the gateway refused the request even with a fresh token; check that "
                    "[scaleio] rest_server_username and rest_server_password are right and "
                    "that the user's role allows this operation",
                    status=response.status_code,
                    method=method,
                    path=path,
                )
        if not response.ok:
            raise _error_for(response, method, path)
        return response

    def _request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        parse: Callable[[Any], Any] = lambda data: data,
    ) -> Any:
        response = self._call(method, path, body)
        try:
            return parse(_decode_json(response))
        except InvalidResponse as error:
            raise InvalidResponse(
                error.message, status=response.status_code, method=method, path=path
            ) from None

    def _scalar(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> str | None:
        response = self._call(method, path, body)
        try:
            return _decode_scalar(response)
        except InvalidResponse as error:
            raise InvalidResponse(
                error.message, status=response.status_code, method=method, path=path
            ) from None

    def _query_id(self, type_name: str, key: Mapping[str, str]) -> str | None:
        path = f"/api/types/{type_name}/instances/action/queryIdByKey"
        try:
            return self._scalar("POST", path, key)
        except NotFound:
            return None

    # -- system ------------------------------------------------------------

    def api_version(self) -> str:
        """The REST API version as "major.minor", fetched once per client."""
        if self._version is None:
            raw = self._scalar("GET", "/api/version") or ""
            match = _VERSION.match(raw)
            if match is None:
                raise InvalidResponse(
                    f"the gateway reports API version {raw!r}, not major.minor",
                    method="GET",
                    path="/api/version",
                )
            self._version = f"{match[1]}.{match[2]}"
        return self._version

    def _version_at_least(self, major: int, minor: int) -> bool:
        found_major, found_minor = (int(part) for part in self.api_version().split("."))
        return (found_major, found_minor) >= (major, minor)

    def system_id(self) -> str:
        """The id that names devices ``emc-vol-<system id>-<volume id>``."""
        if self._system_id is None:

            def parse(data: Any) -> str:
                systems = _list(data, "the system list")
                if not systems:
                    raise InvalidResponse("the gateway lists no PowerFlex system")
                return _id(_object(systems[0], "a system"), "id", "the system")

            self._system_id = self._request("GET", "/api/types/System/instances", parse=parse)
        return self._system_id

    def protection_domain_id(self, name: str) -> str:
        """Id of a protection domain by name; cached for five minutes."""
        key = ("ProtectionDomain", name)
        found = self._ids.get(key)
        if found is None:
            found = self._query_id("ProtectionDomain", {"name": name})
            if found is None:
                raise NotFound(f"protection domain {name!r} does not exist on the PowerFlex system")
            self._ids.put(key, found)
        return found

    def storage_pool_id(self, protection_domain: str, pool: str) -> str:
        """Id of a storage pool by domain and pool name; cached for five minutes."""
        key = ("StoragePool", protection_domain, pool)
        found = self._ids.get(key)
        if found is None:
            found = self._lookup_storage_pool(protection_domain, pool)
            self._ids.put(key, found)
        return found

    def _lookup_storage_pool(self, protection_domain: str, pool: str) -> str:
        try:
            found = self._query_id(
                "StoragePool", {"name": pool, "protectionDomainName": protection_domain}
            )
        except BadRequest:
            found = None
        if found is None:
            domain_id = self.protection_domain_id(protection_domain)
            found = self._query_id("StoragePool", {"name": pool, "protectionDomainId": domain_id})
        if found is None:
            raise NotFound(
                f"storage pool {pool!r} does not exist in protection domain {protection_domain!r}"
            )
        return found

    def get_storage_pool(self, pool_id: str) -> StoragePool:
        path = f"/api/instances/StoragePool::{_check_id(pool_id, 'storage pool id')}"
        return self._request("GET", path, parse=StoragePool.from_api)

    def pool_capacity(self, pool_id: str) -> PoolCapacity:
        """Capacity from selected statistics; the formula depends on the API version."""
        _check_id(pool_id, "storage pool id")
        net = self._version_at_least(3, 0)
        snapshots = (
            "snapshotCapacityInKb" if self._version_at_least(3, 5) else "snapCapacityInUseInKb"
        )
        figures = (
            ["netCapacityInUseInKb", "netUnusedCapacityInKb"]
            if net
            else [
                "capacityLimitInKb",
                "spareCapacityInKb",
                "capacityAvailableForVolumeAllocationInKb",
            ]
        )
        base = [*figures, "thickCapacityInUseInKb", snapshots]
        try:
            return self._pool_capacity(pool_id, [*base, self._thin_statistic], net)
        except BadRequest:
            if self._thin_statistic == "thinCapacityAllocatedInKm":
                raise
            # Some releases only know the misspelt name of this statistic.
            self._thin_statistic = "thinCapacityAllocatedInKm"
            return self._pool_capacity(pool_id, [*base, self._thin_statistic], net)

    def _pool_capacity(self, pool_id: str, properties: list[str], net: bool) -> PoolCapacity:
        def parse(data: Any) -> PoolCapacity:
            by_pool = _object(data, "pool statistics keyed by pool id")
            if pool_id in by_pool:
                stats = by_pool[pool_id]
            elif len(by_pool) == 1:
                stats = next(iter(by_pool.values()))
            else:
                raise InvalidResponse(f"the statistics answer has no entry for pool {pool_id}")
            stats = _object(stats, f"statistics of pool {pool_id}")
            return PoolCapacity.from_statistics(stats, net=net)

        return self._request(
            "POST",
            "/api/types/StoragePool/instances/action/querySelectedStatistics",
            {"ids": [pool_id], "properties": properties},
            parse=parse,
        )

    # -- volumes -----------------------------------------------------------

    @staticmethod
    def _volume_path(volume_id: str, action: str | None = None) -> str:
        path = f"/api/instances/Volume::{_check_id(volume_id, 'volume id')}"
        return f"{path}/action/{action}" if action else path

    def create_volume(
        self, name: str, pool_id: str, size_gb: int, *, thin: bool, exclusive: bool = False
    ) -> Volume:
        """Create a volume of ``size_gb`` rounded up to 8 GiB.

        A replayed or unanswered create is resolved by name: a volume that is
        exactly what was asked for is adopted, any other one is a conflict.
        ``exclusive`` callers use the name as a lock between hosts, so for them
        a name in use is :class:`NameInUse` and nothing is adopted.
        """
        _check_volume_name(name)
        _check_id(pool_id, "storage pool id")
        if size_gb <= 0:
            raise InvalidArgument(f"volume {name!r}: size must be positive, got {size_gb} GiB")
        size_kb = round_up_gb(size_gb) * KB_PER_GB
        volume_type = THIN if thin else THICK
        body = {
            "storagePoolId": pool_id,
            "name": name,
            "volumeType": volume_type,
            "volumeSizeInKb": size_kb,
        }

        def parse(data: Any) -> str:
            return _id(_object(data, "the created volume"), "id", "the created volume")

        try:
            volume_id = self._request("POST", "/api/types/Volume/instances", body, parse=parse)
        except _MAYBE_APPLIED as error:
            if exclusive:
                raise

            def differences(volume: Volume) -> list[str]:
                found = []
                if volume.pool_id != pool_id:
                    found.append(f"it is in storage pool {volume.pool_id}, not {pool_id}")
                if volume.size_kb != size_kb:
                    found.append(f"its size is {volume.size_kb} KiB, not {size_kb} KiB")
                if volume.volume_type != volume_type:
                    found.append(f"it is {volume.volume_type}, not {volume_type}")
                return found

            return self._adopt(name, error, differences)
        LOG.info("Created PowerFlex volume %s (%s) in pool %s", name, volume_id, pool_id)
        # The answer names only the id; the rest is what was asked for, so
        # reading it back would cost a round trip per disk and tell nothing.
        # The V-Tree id stays unknown until someone reads the volume.
        return Volume(
            id=volume_id,
            name=name,
            size_kb=size_kb,
            pool_id=pool_id,
            vtree_id=None,
            volume_type=volume_type,
            ancestor_id=None,
            mapped_sdcs=(),
        )

    def _adopt(
        self, name: str, error: GatewayError, differences: Callable[[Volume], list[str]]
    ) -> Volume:
        """After a create-like call failed in a way that may hide success, take
        the same-named volume if it is the one that was asked for."""
        try:
            existing = self.find_volume(name)
        except GatewayError:
            raise error  # noqa: B904 - the original failure is the one to report
        if existing is None:
            raise error
        found = differences(existing)
        if existing.name != name:
            found.insert(0, f"its name is {existing.name!r}")
        if found:
            raise VolumeConflict(
                f"PowerFlex volume {name!r} already exists as {existing.id} but "
                f"{'; '.join(found)}; remove or rename it, or use another name"
            ) from error
        LOG.info(
            "PowerFlex volume %s already exists as %s and matches the request; using it "
            "(the earlier attempt failed with: %s)",
            name,
            existing.id,
            error.message,
        )
        return existing

    def _confirm(
        self, error: GatewayError, volume_id: str, done: Callable[[Volume], bool]
    ) -> Volume:
        """A change failed, possibly after taking effect: the volume's state decides."""
        try:
            volume = self.get_volume(volume_id)
        except GatewayError:
            raise error  # noqa: B904 - the original failure is the one to report
        if not done(volume):
            raise error
        LOG.info("Volume %s is already as requested despite: %s", volume_id, error.message)
        return volume

    def volume_id_by_name(self, name: str) -> str | None:
        return self._query_id("Volume", {"name": name})

    def find_volume(self, name: str) -> Volume | None:
        volume_id = self.volume_id_by_name(name)
        if volume_id is None:
            return None
        try:
            return self.get_volume(volume_id)
        except NotFound:
            return None

    def get_volume(self, volume_id: str) -> Volume:
        return self._request("GET", self._volume_path(volume_id), parse=Volume.from_api)

    def list_volumes(self) -> list[Volume]:
        """Every volume of the system: for operator audits only, never per instance."""
        return self._request(
            "GET",
            "/api/types/Volume/instances",
            parse=lambda data: [Volume.from_api(item) for item in _list(data, "the volume list")],
        )

    def rename_volume(self, volume_id: str, new_name: str) -> None:
        _check_volume_name(new_name)
        try:
            self._request(
                "POST", self._volume_path(volume_id, "setVolumeName"), {"newName": new_name}
            )
        except GatewayError as error:
            self._confirm(error, volume_id, lambda volume: volume.name == new_name)

    def extend_volume(self, volume_id: str, size_gb: int) -> Volume:
        """Grow to ``size_gb`` rounded up to 8 GiB; the gateway itself does not round."""
        if size_gb <= 0:
            raise InvalidArgument(f"volume {volume_id}: size must be positive, got {size_gb} GiB")
        target_gb = round_up_gb(size_gb)
        target_kb = target_gb * KB_PER_GB
        volume = self.get_volume(volume_id)
        if volume.size_kb == target_kb:
            return volume
        if volume.size_kb > target_kb:
            raise ShrinkNotAllowed(
                f"volume {volume_id} ({volume.name}) is {volume.size_gb} GiB and cannot shrink "
                f"to {size_gb} GiB (rounded up to {target_gb} GiB)"
            )
        try:
            self._request(
                "POST", self._volume_path(volume_id, "setVolumeSize"), {"sizeInGB": target_gb}
            )
        except GatewayError as error:
            return self._confirm(error, volume_id, lambda found: found.size_kb >= target_kb)
        LOG.info("Extended PowerFlex volume %s to %d GiB", volume_id, target_gb)
        return self.get_volume(volume_id)

    def remove_volume(self, volume_id: str, *, mapped: bool | None = None) -> None:
        """Unmap from every SDC, then remove; a volume already gone is success.

        ``mapped`` is what the caller knows from a fresh read (or, when
        True, assumes); None reads the volume first.  A mapping made after
        that read still makes the removal fail: someone may be using it.
        """
        try:
            if mapped is None:
                mapped = bool(self.get_volume(volume_id).mapped_sdcs)
            if mapped:
                self.unmap_volume(volume_id)
            self._request(
                "POST", self._volume_path(volume_id, "removeVolume"), {"removeMode": "ONLY_ME"}
            )
        except NotFound:
            return
        except GatewayError as error:
            self._confirm_gone(error, volume_id)
            return
        LOG.info("Removed PowerFlex volume %s", volume_id)

    def _confirm_gone(self, error: GatewayError, volume_id: str) -> None:
        """A removal failed, possibly after taking effect: success if the volume is gone."""
        try:
            self.get_volume(volume_id)
        except NotFound:
            LOG.info("Volume %s is gone despite: %s", volume_id, error.message)
            return
        except GatewayError:
            raise error  # noqa: B904 - the original failure is the one to report
        raise error

    def map_volume(self, volume_id: str, sdc_id: str, *, allow_multiple: bool = True) -> bool:
        """Map to an SDC; multiple mappings stay allowed for live migration.

        False when the gateway says the mapping was there already, so that a
        caller rolling back undoes only a mapping its own call made.
        """
        body = {"sdcId": sdc_id, "allowMultipleMappings": allow_multiple}
        try:
            self._request("POST", self._volume_path(volume_id, "addMappedSdc"), body)
        except AlreadyMapped:
            return False
        except GatewayError as error:
            self._confirm(error, volume_id, lambda volume: sdc_id in volume.mapped_sdc_ids)
        return True

    def unmap_volume(self, volume_id: str, sdc_id: str | None = None) -> None:
        """Unmap from one SDC, or from all when ``sdc_id`` is None."""
        body = {"sdcId": sdc_id} if sdc_id else {"allSdcs": ""}
        try:
            self._request("POST", self._volume_path(volume_id, "removeMappedSdc"), body)
        except NotMapped:
            return
        except GatewayError as error:
            self._confirm(
                error,
                volume_id,
                lambda volume: (
                    sdc_id not in volume.mapped_sdc_ids if sdc_id else not volume.mapped_sdcs
                ),
            )

    def set_sdc_limits(
        self,
        volume_id: str,
        sdc_id: str,
        *,
        iops_limit: int | None = None,
        bandwidth_limit_kbps: int | None = None,
    ) -> None:
        """Set QoS on a mapping; only the limits given are sent, 0 means unlimited."""
        body: dict[str, Any] = {"sdcId": sdc_id}
        if iops_limit is not None:
            if iops_limit < 0 or 0 < iops_limit <= 10:
                raise InvalidArgument(
                    f"IOPS limit {iops_limit} for volume {volume_id} is invalid: PowerFlex "
                    "accepts 0 (unlimited) or more than 10"
                )
            body["iopsLimit"] = iops_limit
        if bandwidth_limit_kbps is not None:
            if bandwidth_limit_kbps < 0 or bandwidth_limit_kbps % 1024:
                raise InvalidArgument(
                    f"bandwidth limit {bandwidth_limit_kbps} KB/s for volume {volume_id} is "
                    "invalid: PowerFlex accepts 0 (unlimited) or a multiple of 1024 KB/s"
                )
            body["bandwidthLimitInKbps"] = bandwidth_limit_kbps
        if len(body) == 1:
            return
        self._request("POST", self._volume_path(volume_id, "setMappedSdcLimits"), body)

    def snapshot_volume(self, volume_id: str, snapshot_name: str) -> str:
        """Snapshot a volume; a replayed request adopts the snapshot it made."""
        _check_volume_name(snapshot_name)
        _check_id(volume_id, "volume id")
        path = f"/api/instances/System::{self.system_id()}/action/snapshotVolumes"
        body = {"snapshotDefs": [{"volumeId": volume_id, "snapshotName": snapshot_name}]}

        def parse(data: Any) -> str:
            ids = _list(_object(data, "the snapshot answer").get("volumeIdList"), "volumeIdList")
            if not ids or not isinstance(ids[0], str) or not _ID_PATTERN.fullmatch(ids[0]):
                raise InvalidResponse(f"the snapshot answer has no volume id: {_describe(data)}")
            return ids[0]

        try:
            return self._request("POST", path, body, parse=parse)
        except _MAYBE_APPLIED as error:

            def differences(volume: Volume) -> list[str]:
                found = []
                if volume.volume_type != SNAPSHOT:
                    found.append(f"it is a {volume.volume_type} volume, not a snapshot")
                if volume.ancestor_id != volume_id:
                    found.append(f"its source is {volume.ancestor_id}, not {volume_id}")
                return found

            return self._adopt(snapshot_name, error, differences).id

    def overwrite_volume_content(self, volume_id: str, source_volume_id: str) -> None:
        """Revert a volume to a snapshot of its own V-Tree."""
        body = {"srcVolumeId": _check_id(source_volume_id, "source volume id")}
        self._request("POST", self._volume_path(volume_id, "overwriteVolumeContent"), body)

    @staticmethod
    def _vtree_path(vtree_id: str) -> str:
        return f"/api/instances/VTree::{_check_id(vtree_id, 'V-Tree id')}"

    def vtree_volumes(self, vtree_id: str) -> list[Volume]:
        """The volumes of one V-Tree: its base volume and every snapshot of it."""
        path = f"{self._vtree_path(vtree_id)}/relationships/Volume"
        return self._request(
            "GET",
            path,
            parse=lambda data: [
                Volume.from_api(item) for item in _list(data, "the V-Tree volumes")
            ],
        )

    def get_vtree(self, vtree_id: str) -> dict:
        return self._request(
            "GET", self._vtree_path(vtree_id), parse=lambda data: dict(_object(data, "a V-Tree"))
        )

    def _migration_info(self, vtree_id: str) -> Mapping[str, Any]:
        def parse(data: Any) -> Mapping[str, Any]:
            info = _object(data, "a V-Tree").get("vtreeMigrationInfo") or {}
            return _object(info, f"V-Tree {vtree_id} vtreeMigrationInfo")

        return self._request("GET", self._vtree_path(vtree_id), parse=parse)

    def migrate_vtree(
        self,
        volume_id: str,
        dest_pool_id: str,
        *,
        conversion: str = "NoConversion",
        poll_interval: float = 3.0,
        timeout: float = 3600.0,
    ) -> None:
        """Move a volume's V-Tree to another pool and wait until it is there."""
        if conversion not in MIGRATION_CONVERSIONS:
            raise InvalidArgument(
                f"V-Tree conversion {conversion!r} is invalid; use one of "
                f"{', '.join(sorted(MIGRATION_CONVERSIONS))}"
            )
        _check_id(dest_pool_id, "destination pool id")
        volume = self.get_volume(volume_id)
        if volume.pool_id == dest_pool_id:
            return
        if volume.vtree_id is None:
            raise InvalidResponse(
                f"volume {volume_id} has no vtreeId, so it cannot be migrated",
                method="GET",
                path=self._volume_path(volume_id),
            )
        body = {"destSPId": dest_pool_id, "volTypeConversion": conversion}
        try:
            self._request("POST", self._volume_path(volume_id, "migrateVTree"), body)
        except AlreadyInPool:
            return
        except MigrationInProgress:
            LOG.info("Volume %s is already migrating; waiting for it", volume_id)
        self._wait_for_migration(volume_id, volume.vtree_id, dest_pool_id, poll_interval, timeout)

    def _wait_for_migration(
        self, volume_id: str, vtree_id: str, dest_pool_id: str, poll_interval: float, timeout: float
    ) -> None:
        deadline = self._clock() + timeout
        what = f"migration of volume {volume_id} to storage pool {dest_pool_id}"
        while True:
            info = self._migration_info(vtree_id)
            status = info.get("migrationStatus")
            if status == "NotInMigration":
                break
            if info.get("migrationPauseReason"):
                raise GatewayError(
                    f"{what} is paused ({info['migrationPauseReason']}); resume or roll it "
                    "back on the PowerFlex system, then retry"
                )
            if self._clock() >= deadline:
                raise MigrationInProgress(
                    f"{what} did not finish within {timeout:g} s (status {status}); it goes "
                    "on in the background, wait for it before retrying"
                )
            self._sleep(poll_interval)
        moved = self.get_volume(volume_id)
        if moved.pool_id != dest_pool_id:
            raise GatewayError(f"{what} ended with the volume still in pool {moved.pool_id}")
        LOG.info("Migrated volume %s to storage pool %s", volume_id, dest_pool_id)

    # -- SDCs --------------------------------------------------------------

    def list_sdcs(self) -> list[Sdc]:
        return self._request(
            "GET",
            "/api/types/Sdc/instances",
            parse=lambda data: [Sdc.from_api(item) for item in _list(data, "the SDC list")],
        )

    def get_sdc(self, sdc_id: str) -> Sdc:
        path = f"/api/instances/Sdc::{_check_id(sdc_id, 'SDC id')}"
        return self._request("GET", path, parse=Sdc.from_api)

    def sdc_by_guid(self, guid: str) -> Sdc:
        """The kernel reports GUIDs lower-case, the gateway upper-case."""
        wanted = guid.lower()
        for sdc in self.list_sdcs():
            if sdc.guid.lower() == wanted:
                return sdc
        raise NotFound(
            f"no SDC with GUID {guid} is registered with the PowerFlex system; check that "
            "the SDC on this host is installed and connected to the MDM"
        )

    def sdc_by_ip(self, ip: str) -> Sdc:
        sdc_id = self._query_id("Sdc", {"ip": ip})
        if sdc_id is None:
            raise NotFound(f"no SDC with IP address {ip} is registered with the PowerFlex system")
        return self.get_sdc(sdc_id)
