"""The exception hierarchy of sio_backend.

Callers catch a class, never compare error numbers: the gateway's errorCode
values shift between PowerFlex releases (81 became 4037 in 4.x), so the
mapping from codes to classes lives in one place,
:func:`sio_backend.gateway.errors.error_class_for`.
"""

from __future__ import annotations

from typing import Any


class ScaleIOError(Exception):
    """Base class of every error raised by sio_backend."""


class ConfigurationError(ScaleIOError):
    """The [scaleio] configuration cannot work; the message names the option."""


class InvalidArgument(ScaleIOError, ValueError):
    """A value was refused before any request reached the gateway."""


class InvalidVolumeName(InvalidArgument):
    """PowerFlex names are 1-31 printable ASCII characters without spaces."""


class GatewayError(ScaleIOError):
    """The gateway answered a request with an error.

    ``status`` is the HTTP status, ``error_code`` the gateway's errorCode
    (None when the body had none), ``rc`` the first ``details[].rc``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: int | None = None,
        rc: int | None = None,
        details: list[dict[str, Any]] | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.error_code = error_code
        self.rc = rc
        self.details = details or []
        self.method = method
        self.path = path
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        codes = []
        if self.status is not None:
            codes.append(f"HTTP {self.status}")
        if self.error_code is not None:
            codes.append(f"errorCode {self.error_code}")
        if self.rc is not None:
            codes.append(f"rc {self.rc}")
        suffix = f" ({', '.join(codes)})" if codes else ""
        return f"PowerFlex gateway error: {where}{self.message}{suffix}"


class GatewayUnavailable(GatewayError):
    """The gateway could not be reached or did not answer in time."""


class TLSVerificationFailed(GatewayUnavailable):
    """The gateway's certificate is not trusted: set server_certificate_path."""


class InvalidResponse(GatewayError):
    """The gateway answered with something that is not what the API promises."""


class AuthenticationFailed(GatewayError):
    """Login was refused: check rest_server_username and rest_server_password."""


class BadRequest(GatewayError):
    """The gateway rejected the request as invalid (HTTP 400, errorCode 0)."""


class NotFound(GatewayError):
    """The object does not exist (errorCode 3, 78, 79, 142)."""


class AlreadyMapped(GatewayError):
    """The volume is already mapped to that SDC (81, 4037)."""


class NotMapped(GatewayError):
    """The volume is not mapped to that SDC (84, 4039)."""


class SingleMappingOnly(GatewayError):
    """The volume is mapped elsewhere and multiple mappings are not allowed."""


class NameInUse(GatewayError):
    """Another volume already has that name (99)."""


class VolumeMapped(GatewayError):
    """The volume is still mapped and cannot be removed (104)."""


class ShrinkNotAllowed(GatewayError):
    """A volume can only grow (133, or a smaller size asked)."""


class SnapshotLimit(GatewayError):
    """The volume tree holds the maximum number of snapshots (rc 182)."""


class MigrationInProgress(GatewayError):
    """A V-Tree migration is already running for this volume (717)."""


class AlreadyInPool(GatewayError):
    """The V-Tree is already in the destination pool (718)."""


class VolumeConflict(ScaleIOError):
    """A volume with the wanted name exists but is not the one we asked for."""


class NotOurVolume(ScaleIOError):
    """The volume's name lacks this installation's identifier; it is left alone."""


class DeviceNotFound(ScaleIOError):
    """A mapped volume's device did not appear on this host in time."""


class SdcDisconnected(ConfigurationError):
    """This host's SDC lost its MDM connection: mapped volumes cannot appear."""


class FlavorNotSupported(ScaleIOError):
    """The flavor asks for something PowerFlex volumes cannot provide.

    Every host applies the same rules, so rescheduling cannot help: nova-facing
    code turns it into a build-aborting nova exception with
    :func:`sio_backend.nova_errors.to_nova_exception`.
    """


class DiskSizeNotSupported(FlavorNotSupported):
    """A flavor disk is not a multiple of the pool's unit and the policy is to refuse it."""


class InvalidExtraSpec(FlavorNotSupported):
    """A flavor extra spec of this backend has a value outside its allowed set."""
