"""``sio-backend check``: is this host ready to keep instance disks on PowerFlex?

The checks follow ``nova-status upgrade check``: each one is an
oslo.upgradecheck check returning Success, Warning or Failure with details
that say what to fix, and the worst result is the exit code (0, 1, 2).
They run in order and later checks build on earlier ones; a check whose
prerequisite failed reports Failure "not checked" and points at it, so
every line of the report is either a verified fact or a pointer to the
broken piece.
"""

from __future__ import annotations

import functools
import os
import socket
import ssl
from collections.abc import Callable

from oslo_config import cfg
from oslo_upgradecheck.upgradecheck import Code, Result, UpgradeCommands

from sio_backend import credentials, exceptions, nova_compat
from sio_backend.gateway import KB_PER_GB, GatewayClient, Sdc, StoragePool
from sio_backend.sdc import BY_ID_DIR, Connector, LocalSdc

MIN_API_VERSION = (2, 0)
NEWEST_TESTED_API_MAJOR = 5
# What operators call each generation, and how the client logs in (docs/generations.rst).
GENERATIONS = {
    3: "PowerFlex 3.x gateway",
    4: "PowerFlex 4.x (PowerFlex Manager)",
    5: "PowerFlex 5.x",
}
LOGINS = {
    "legacy": "the legacy login (GET /api/login)",
    "oauth": "OAuth (POST /rest/auth/login, Bearer tokens)",
}
LOW_CAPACITY_FRACTION = 0.10
FINE_GRANULARITY = "FineGranularity"
_THICK = frozenset({"thick", "ThickProvisioned"})


class _NotChecked(Exception):
    """A prerequisite failed; the message names it."""


def _details(error: BaseException) -> str:
    if isinstance(error, exceptions.GatewayError):
        return error.message
    return str(error)


def _check(method: Callable[[Preflight], Result]) -> Callable[[Preflight], Result]:
    """Turn every error of a check into its Failure, so one broken piece never hides others."""

    @functools.wraps(method)
    def run(self: Preflight) -> Result:
        try:
            return method(self)
        except _NotChecked as skipped:
            return Result(Code.FAILURE, f"Not checked: {skipped}.")
        except (exceptions.ScaleIOError, cfg.Error, ValueError, OSError) as error:
            return Result(Code.FAILURE, _details(error))

    return run


def _success(details: str) -> Result:
    return Result(Code.SUCCESS, details)


def _failure(details: str) -> Result:
    return Result(Code.FAILURE, details)


def _warning(details: str) -> Result:
    return Result(Code.WARNING, details)


class Preflight(UpgradeCommands):
    """The checks, usable with oslo.upgradecheck's own ``check()`` or one by one."""

    display_title = "sio-backend Check Results"

    def __init__(
        self,
        conf: cfg.ConfigOpts,
        *,
        device_dir: str = BY_ID_DIR,
        connector: Connector | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        """``connector`` reads the SDC GUID when default_sdcguid is unset (os-brick's)."""
        self.conf = conf
        self.device_dir = device_dir
        self._connector = connector
        self._connect_timeout = connect_timeout
        self._client: GatewayClient | None = None
        self._client_error: str | None = None
        self._logged_in: bool | None = None
        self._pool: StoragePool | None = None
        self._sdc: Sdc | None = None
        self._guid: str | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def run(self) -> list[tuple[str, Result]]:
        """Every check in order, with its result."""
        return [(name, check(self)) for name, check in self._upgrade_checks]

    # -- prerequisites ------------------------------------------------------

    @property
    def group(self) -> cfg.ConfigOpts.GroupAttr:
        return self.conf.scaleio

    def client(self) -> GatewayClient:
        if self._client is None and self._client_error is None:
            try:
                self._client = GatewayClient.from_config(self.conf)
            except (exceptions.ConfigurationError, cfg.Error) as error:
                self._client_error = str(error)
        if self._client is None:
            raise _NotChecked(f"the configuration is incomplete ({self._client_error})")
        return self._client

    def logged_in_client(self) -> GatewayClient:
        client = self.client()
        if self._logged_in is None:
            try:
                client.system_id()
                self._logged_in = True
            except exceptions.GatewayError:
                self._logged_in = False
        if not self._logged_in:
            raise _NotChecked("the gateway login failed (see Gateway login)")
        return client

    def pool(self) -> StoragePool:
        if self._pool is None:
            client = self.logged_in_client()
            domain, name = self._placement()
            try:
                pool_id = client.storage_pool_id(domain, name)
            except exceptions.NotFound as error:
                raise _NotChecked(f"{error.message} (see Storage pool)") from error
            self._pool = client.get_storage_pool(pool_id)
        return self._pool

    def _placement(self) -> tuple[str, str]:
        domain = self.group.default_protection_domain_name
        pool = self.group.default_storage_pool_name
        if not (domain and pool):
            raise _NotChecked(
                "[scaleio] default_protection_domain_name and default_storage_pool_name "
                "must both be set"
            )
        return domain, pool

    def sdc_guid(self) -> str:
        if self._guid is None:
            try:
                self._guid = LocalSdc.from_config(self.conf, self._connector).guid
            except exceptions.ConfigurationError as error:
                raise _NotChecked(f"this host's SDC GUID is unknown ({error})") from error
        return self._guid

    def sdc(self) -> Sdc:
        if self._sdc is None:
            guid = self.sdc_guid()
            try:
                self._sdc = self.logged_in_client().sdc_by_guid(guid)
            except exceptions.NotFound as error:
                raise _NotChecked(f"{error.message} (see SDC registered)") from error
        return self._sdc

    # -- configuration ------------------------------------------------------

    @_check
    def check_configuration(self) -> Result:
        missing = [
            option
            for option in (
                "rest_server_ip",
                "rest_server_username",
                "default_protection_domain_name",
                "default_storage_pool_name",
            )
            if not getattr(self.group, option)
        ]
        if not (self.group.rest_server_password or self.group.rest_server_password_file):
            missing.append("rest_server_password (or rest_server_password_file)")
        if missing:
            return _failure(
                f"[scaleio] {', '.join(missing)} not set; the backend cannot work without "
                f"{'it' if len(missing) == 1 else 'them'}."
            )
        for option in self.group:  # reading each option validates its value
            getattr(self.group, option)
        self.client()
        return _success(
            "[scaleio] has every required option and every value is valid; the gateway "
            f"password comes from {credentials.password_source(self.conf)}."
        )

    @_check
    def check_installation_identifier(self) -> Result:
        identifier = self.group.installation_identifier
        if not identifier:
            return _failure(
                "[scaleio] installation_identifier is not set. Choose 4 letters or digits "
                "that no other cloud sharing this PowerFlex system uses; never change it "
                "afterwards."
            )
        return _success(f"Volume names start with {identifier!r}.")

    @_check
    def check_images_type(self) -> Result:
        images_type = self.conf.libvirt.images_type
        if images_type != nova_compat.IMAGES_TYPE:
            return _warning(
                f"[libvirt] images_type is {images_type or 'unset'!s}, so nova keeps "
                f"instance disks elsewhere; set it to {nova_compat.IMAGES_TYPE} to use "
                "PowerFlex."
            )
        try:
            nova_compat.check_nova_version()
            # Importing nova's options runs the patch that nova-compute runs.
            from nova.conf import libvirt as nova_libvirt_conf  # noqa: PLC0415

            opt = nova_compat._images_type_opt(nova_libvirt_conf)
        except (nova_compat.NovaCompatError, ImportError) as error:
            return _failure(
                f"images_type = sio needs nova {nova_compat.SUPPORTED_NOVA_MAJOR}.x in this "
                f"Python environment: {error}"
            )
        try:
            opt.type(nova_compat.IMAGES_TYPE)
        except ValueError as error:
            return _failure(
                f"the installed nova {nova_compat.nova_version()} refuses images_type = sio: "
                f"{error}. Reinstall sio_backend into nova-compute's environment."
            )
        return _success(f"nova {nova_compat.nova_version()} accepts images_type = sio.")

    # -- gateway ------------------------------------------------------------

    def _address(self) -> tuple[str, int]:
        host = self.group.rest_server_ip
        if not host:
            raise _NotChecked("[scaleio] rest_server_ip is not set")
        return host, self.group.rest_server_port

    @_check
    def check_reachable(self) -> Result:
        host, port = self._address()
        try:
            with socket.create_connection((host, port), timeout=self._connect_timeout):
                pass
        except OSError as error:
            return _failure(
                f"Cannot connect to {host}:{port} ({error}); check [scaleio] rest_server_ip "
                "and rest_server_port, the gateway service and any firewall between."
            )
        return _success(f"{host}:{port} accepts connections.")

    @_check
    def check_tls(self) -> Result:
        host, port = self._address()
        if not self.group.verify_server_certificate:
            return _warning(
                "[scaleio] verify_server_certificate is False: anyone on the network path "
                "can impersonate the gateway and capture its credentials. Set it to True "
                "(and server_certificate_path to the gateway's CA bundle)."
            )
        ca_path = self.group.server_certificate_path
        context = ssl.create_default_context(cafile=ca_path or None)
        try:
            with (
                socket.create_connection((host, port), timeout=self._connect_timeout) as raw,
                context.wrap_socket(raw, server_hostname=host),
            ):
                pass
        except ssl.SSLError as error:
            trust = ca_path or "the system trust store"
            return _failure(
                f"The gateway certificate does not verify against {trust} ({error}); set "
                "[scaleio] server_certificate_path to the CA bundle that signed it."
            )
        except OSError as error:
            raise _NotChecked(f"cannot connect to {host}:{port} ({error})") from error
        return _success(f"The gateway certificate verifies against {ca_path or 'the system CAs'}.")

    @_check
    def check_login(self) -> Result:
        client = self.client()
        try:
            system_id = client.system_id()
        except exceptions.GatewayError as error:
            self._logged_in = False
            return _failure(f"Login failed: {error.message}")
        self._logged_in = True
        return _success(
            f"Logged in as {self.group.rest_server_username!r}; PowerFlex system {system_id}."
        )

    @_check
    def check_api_version(self) -> Result:
        generation = self.logged_in_client().generation()
        version = generation.api_version
        major, minor = (int(part) for part in version.split(".")[:2])
        if (major, minor) < MIN_API_VERSION:
            return _failure(
                f"The gateway speaks REST API {version}; sio_backend needs "
                f"{'.'.join(map(str, MIN_API_VERSION))} or later (thin volumes). Upgrade "
                "the PowerFlex gateway."
            )
        if major > NEWEST_TESTED_API_MAJOR:
            return _warning(
                f"The gateway speaks REST API {version}, newer than the "
                f"{NEWEST_TESTED_API_MAJOR}.x sio_backend was tested with; watch the first "
                "instance builds closely."
            )
        login = LOGINS.get(generation.auth_method, generation.auth_method)
        return _success(
            f"REST API {version}: {GENERATIONS.get(major, f'PowerFlex {major}.x')}; logged in "
            f"with {login} ([scaleio] rest_auth_method = {self.group.rest_auth_method})."
        )

    # -- storage pool -------------------------------------------------------

    @_check
    def check_pool(self) -> Result:
        client = self.logged_in_client()
        domain, name = self._placement()
        try:
            client.storage_pool_id(domain, name)
        except exceptions.NotFound as error:
            return _failure(
                f"{error.message}; correct [scaleio] default_protection_domain_name and "
                "default_storage_pool_name, or create them."
            )
        pool = self.pool()
        kind = "Erasure Coding" if pool.erasure_coded else "mirroring"
        return _success(
            f"Storage pool {name!r} ({pool.id}) in protection domain {domain!r}: {kind}, "
            f"disk sizes in {pool.size_granularity_gb} GiB steps."
        )

    @_check
    def check_zero_padding(self) -> Result:
        pool = self.pool()
        if pool.zero_padding:
            return _success(f"Storage pool {pool.name!r} has zero padding enabled.")
        what = (
            f"Storage pool {pool.name!r} has zero padding disabled: a new disk there can "
            "return a previous tenant's data."
        )
        if self.group.allow_non_padded_pools:
            return _warning(f"{what} Allowed by [scaleio] allow_non_padded_pools = True.")
        return _failure(
            f"{what} Enable zero padding on the pool (only possible while it is empty), or "
            "set [scaleio] allow_non_padded_pools = True to accept the risk."
        )

    @_check
    def check_thick(self) -> Result:
        if self.group.default_provisioning_type not in _THICK:
            return _success("Thin provisioning is the default; nothing to check.")
        pool = self.pool()
        if pool.erasure_coded:
            return _failure(
                f"Storage pool {pool.name!r} uses Erasure Coding, which has only thin "
                "volumes, but [scaleio] default_provisioning_type is thick. Set it to thin."
            )
        if pool.data_layout == FINE_GRANULARITY:
            return _failure(
                f"Storage pool {pool.name!r} uses fine granularity, which has no thick "
                "volumes, but [scaleio] default_provisioning_type is thick. Set it to thin "
                "or use a medium-granularity pool."
            )
        return _success(f"Storage pool {pool.name!r} ({pool.data_layout}) takes thick volumes.")

    @_check
    def check_capacity(self) -> Result:
        pool = self.pool()
        capacity = self.logged_in_client().pool_capacity(pool.id)
        free_gb = capacity.free_kb // KB_PER_GB
        total_gb = capacity.total_kb // KB_PER_GB
        summary = f"Storage pool {pool.name!r}: {free_gb} GiB free of {total_gb} GiB (net)."
        if free_gb < pool.size_granularity_gb:
            return _failure(f"{summary} Not even one {pool.size_granularity_gb} GiB volume fits.")
        if capacity.free_kb < capacity.total_kb * LOW_CAPACITY_FRACTION:
            return _warning(
                f"{summary} Less than {LOW_CAPACITY_FRACTION:.0%} is free; thick disks and "
                "snapshots will start failing. Add capacity or move instances."
            )
        return _success(summary)

    # -- this host ----------------------------------------------------------

    @_check
    def check_sdc_guid(self) -> Result:
        try:
            guid = self.sdc_guid()
        except _NotChecked as error:
            return _failure(str(error).capitalize() + ".")
        source = "[scaleio] default_sdcguid" if self.group.default_sdcguid else "the SDC driver"
        return _success(f"GUID {guid} (from {source}).")

    @_check
    def check_sdc_registered(self) -> Result:
        guid = self.sdc_guid()
        self.logged_in_client()
        try:
            sdc = self.sdc()
        except _NotChecked:  # after the two prerequisites above, only "not registered" is left
            return _failure(
                f"The PowerFlex system has no SDC with GUID {guid}. Register this host's SDC "
                "with the MDM, or correct [scaleio] default_sdcguid."
            )
        return _success(f"SDC {sdc.id} ({sdc.name or 'unnamed'}, {sdc.ip or 'no IP'}).")

    @_check
    def check_sdc_connected(self) -> Result:
        sdc = self.sdc()
        if not sdc.connected:
            return _failure(
                f"SDC {sdc.id} ({sdc.name or sdc.guid}) is disconnected from the MDM; volumes "
                "mapped to it never appear. Fix the SDC (drv_cfg --query_mdms) before "
                "starting instances here."
            )
        return _success(f"SDC {sdc.id} is connected to the MDM.")

    @_check
    def check_device_dir(self) -> Result:
        if not os.path.isdir(self.device_dir):
            return _failure(
                f"{self.device_dir} does not exist, so mapped volumes cannot be found. "
                "Check that udev runs and the SDC (scini) module is loaded."
            )
        return _success(f"{self.device_dir} is present.")

    _upgrade_checks = (
        ("Configuration", check_configuration),
        ("Installation identifier", check_installation_identifier),
        ("nova images_type", check_images_type),
        ("Gateway reachable", check_reachable),
        ("TLS verification", check_tls),
        ("Gateway login", check_login),
        ("API version", check_api_version),
        ("Storage pool", check_pool),
        ("Zero padding", check_zero_padding),
        ("Thick provisioning", check_thick),
        ("Capacity", check_capacity),
        ("SDC GUID", check_sdc_guid),
        ("SDC registered", check_sdc_registered),
        ("SDC connected", check_sdc_connected),
        ("Device directory", check_device_dir),
    )


def worst(results: list[tuple[str, Result]]) -> Code:
    """The exit code of a run: the worst result, as ``nova-status`` returns it."""
    return max((result.code for _, result in results), default=Code.SUCCESS)
