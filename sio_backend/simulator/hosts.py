"""SDCs and the mapping of volumes to them, as the MDM rules them."""

from __future__ import annotations

import ipaddress
import re
import uuid

from sio_backend.simulator import errors
from sio_backend.simulator.model import Model, locked
from sio_backend.simulator.objects import Mapping, Sdc

_FIRST_SDC_IP = ipaddress.IPv4Address("198.18.0.11")  # the benchmarking range, never routed


class HostRules(Model):
    """Registering SDCs, finding them, and mapping volumes to them."""

    @locked
    def add_sdc(
        self, name: str, *, guid: str | None = None, ip: str | None = None, connected: bool = True
    ) -> Sdc:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}", name):
            raise errors.invalid_request(
                f"SDC name {name!r} must be 1-31 letters, digits, '.', '_' or '-'"
            )
        if any(s.name == name for s in self._sdcs.values()):
            raise errors.invalid_request(f"SDC {name!r} already exists")
        sdc = Sdc(
            id=self._new_id("sdc"),
            name=name,
            guid=str(uuid.UUID(guid) if guid else uuid.uuid4()).upper(),
            ip=ip or str(_FIRST_SDC_IP + next(self._ip_counter)),
            connected=connected,
        )
        self._sdcs[sdc.id] = sdc
        self._data.add_sdc(sdc.id, sdc.name)
        return sdc

    @locked
    def set_sdc_connected(self, sdc_id: str, connected: bool) -> None:
        """Flip an SDC's MDM connection; on reconnect its mapped volumes appear."""
        sdc = self.sdc(sdc_id)
        was_connected, sdc.connected = sdc.connected, connected
        if connected and not was_connected:
            for volume in self._volumes.values():
                if sdc.id in volume.mappings:
                    self._data.attach(sdc.id, volume.id)

    @locked
    def sdcs(self) -> list[Sdc]:
        return list(self._sdcs.values())

    @locked
    def sdc(self, sdc_id: str) -> Sdc:
        try:
            return self._sdcs[sdc_id]
        except KeyError:
            raise errors.INI_NOT_FOUND.error(v4=self.v4) from None

    @locked
    def sdc_by_guid(self, guid: str) -> Sdc:
        """GUIDs compare case-insensitively: the gateway shows them upper-case,
        the SDC's ioctl reports them lower-case."""
        for sdc in self._sdcs.values():
            if sdc.guid.lower() == guid.lower():
                return sdc
        raise errors.INI_NOT_FOUND.error(v4=self.v4)

    @locked
    def sdc_id_by_key(self, *, ip: str | None = None, name: str | None = None) -> str:
        for sdc in self._sdcs.values():
            if (ip is not None and sdc.ip == ip) or (name is not None and sdc.name == name):
                return sdc.id
        raise errors.NOT_FOUND.error(v4=self.v4)

    # --------------------------------------------------------------- mapping
    @locked
    def map_volume(
        self,
        volume_id: str,
        sdc_id: str,
        *,
        allow_multiple: bool = False,
        access_mode: str = "ReadWrite",
    ) -> None:
        volume = self.volume(volume_id)
        sdc = self.sdc(sdc_id)
        if sdc.id in volume.mappings:
            raise errors.VOL_ALREADY_MAPPED_TO_THIS_INI.error(v4=self.v4)
        if volume.mappings and not allow_multiple:
            raise errors.NOT_ALLOWED_MORE_THAN_ONE_MAPPING.error(v4=self.v4)
        volume.mappings[sdc.id] = Mapping(sdc.id, access_mode=access_mode)
        if sdc.connected:
            self._data.attach(sdc.id, volume.id)

    @locked
    def unmap_volume(self, volume_id: str, sdc_id: str | None = None) -> None:
        """Unmap from one SDC, or from every SDC when ``sdc_id`` is None."""
        volume = self.volume(volume_id)
        if sdc_id is None:
            targets = list(volume.mappings)
        else:
            targets = [self.sdc(sdc_id).id]
        if not targets or any(t not in volume.mappings for t in targets):
            raise errors.VOL_NOT_MAPPED_TO_INI.error(v4=self.v4)
        for target in targets:
            del volume.mappings[target]
            self._data.detach(target, volume.id)

    @locked
    def set_mapped_sdc_limits(
        self,
        volume_id: str,
        sdc_id: str,
        *,
        iops_limit: int | None = None,
        bandwidth_limit_kbps: int | None = None,
    ) -> None:
        volume = self.volume(volume_id)
        sdc = self.sdc(sdc_id)
        if iops_limit is None and bandwidth_limit_kbps is None:
            raise errors.missing_parameters("iopsLimit", "bandwidthLimitInKbps")
        if iops_limit is not None and not (iops_limit == 0 or iops_limit > 10):
            raise errors.invalid_request(
                f"iopsLimit must be 0 (unlimited) or greater than 10, got {iops_limit}"
            )
        if bandwidth_limit_kbps is not None and (
            bandwidth_limit_kbps < 0 or bandwidth_limit_kbps % 1024
        ):
            raise errors.invalid_request(
                "bandwidthLimitInKbps must be 0 (unlimited) or a multiple of 1024, got "
                f"{bandwidth_limit_kbps}"
            )
        mapping = volume.mappings.get(sdc.id)
        if mapping is None:
            raise errors.VOL_NOT_MAPPED_TO_INI.error(v4=self.v4)
        if iops_limit is not None:
            mapping.iops_limit = iops_limit
        if bandwidth_limit_kbps is not None:
            mapping.bandwidth_limit_kbps = bandwidth_limit_kbps
