"""The exception hierarchy of sio_backend.

Callers catch a class, never compare error numbers: the gateway's errorCode
values shift between PowerFlex releases (81 became 4037 in 4.x), so the
mapping from codes to classes lives in one place, :func:`error_class_for`.
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
    """A flavor disk is not a multiple of 8 GiB and the policy is to refuse it."""


class InvalidExtraSpec(FlavorNotSupported):
    """A flavor extra spec of this backend has a value outside its allowed set."""


_BY_ERROR_CODE: dict[int, type[GatewayError]] = {
    3: NotFound,
    78: NotFound,
    79: NotFound,
    142: NotFound,
    81: AlreadyMapped,
    4037: AlreadyMapped,
    84: NotMapped,
    4039: NotMapped,
    99: NameInUse,
    104: VolumeMapped,
    133: ShrinkNotAllowed,
    297: SingleMappingOnly,
    306: SingleMappingOnly,
    717: MigrationInProgress,
    718: AlreadyInPool,
}

_BY_RC: dict[int, type[GatewayError]] = {182: SnapshotLimit}

# Used when the code is missing or unknown (they move between releases).
_BY_MESSAGE: tuple[tuple[str, type[GatewayError]], ...] = (
    ("already in use", NameInUse),
    ("could not find", NotFound),
    ("not found", NotFound),
    ("already mapped to this sdc", AlreadyMapped),
    ("single sdc", SingleMappingOnly),
    ("is not mapped", NotMapped),
    ("volume is mapped", VolumeMapped),
    ("too many snapshots", SnapshotLimit),
)


def error_class_for(
    status: int | None, error_code: int | None, rc: int | None, message: str
) -> type[GatewayError]:
    """Pick the exception class for an error answer from the gateway."""
    if status in (401, 403):
        return AuthenticationFailed
    if rc is not None and rc in _BY_RC:
        return _BY_RC[rc]
    if error_code is not None and error_code in _BY_ERROR_CODE:
        return _BY_ERROR_CODE[error_code]
    lowered = message.lower()
    for needle, cls in _BY_MESSAGE:
        if needle in lowered:
            return cls
    if status == 400:
        return BadRequest
    return GatewayError
