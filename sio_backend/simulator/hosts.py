"""SDCs, NVMe hosts and the mapping of volumes to them, as the MDM rules them.

From 4.x on, the SDC listings also hold NVMe/TCP hosts (``hostType``
``NVMeHost``): no GUID, no IP, no MDM connection, and mapped through the same
``mappedSdcInfo``.  Only SDCs have a device on the data side.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any

from sio_backend.simulator import errors, statistics
from sio_backend.simulator.model import Model, locked
from sio_backend.simulator.objects import Host, Mapping, NvmeHost, Sdc

_FIRST_SDC_IP = ipaddress.IPv4Address("198.18.0.11")  # the benchmarking range, never routed
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}")


class HostRules(Model):
    """Registering hosts, finding them, and mapping volumes to them."""

    @locked
    def add_sdc(
        self, name: str, *, guid: str | None = None, ip: str | None = None, connected: bool = True
    ) -> Sdc:
        self._check_host_name(name)
        sdc = Sdc(
            id=self._new_id("sdc"),
            name=name,
            guid=str(uuid.UUID(guid) if guid else uuid.uuid4()).upper(),
            ip=ip or str(_FIRST_SDC_IP + next(self._ip_counter)),
            connected=connected,
        )
        self._hosts[sdc.id] = sdc
        self._data.add_sdc(sdc.id, sdc.name)
        return sdc

    @locked
    def add_nvme_host(
        self,
        name: str,
        *,
        nqn: str | None = None,
        max_num_paths: int = 4,
        max_num_sys_ports: int = 10,
    ) -> NvmeHost:
        """Register an NVMe/TCP host (4.x and later: ``POST /api/types/Host/instances``)."""
        if not self.generation.manager:
            raise errors.NOT_SUPPORTED.error(message="NVMe hosts exist from PowerFlex 4.0 on")
        self._check_host_name(name)
        nqn = nqn or f"nqn.2014-08.org.nvmexpress:uuid:{uuid.uuid4()}"
        if any(isinstance(h, NvmeHost) and h.nqn == nqn for h in self._hosts.values()):
            raise errors.invalid_request(f"an NVMe host with NQN {nqn} already exists")
        host = NvmeHost(self._new_id("sdc"), name, nqn, max_num_paths, max_num_sys_ports)
        self._hosts[host.id] = host
        return host

    @locked
    def set_sdc_connected(self, sdc_id: str, connected: bool) -> None:
        """Flip an SDC's MDM connection; on reconnect its mapped volumes appear."""
        sdc = self.sdc(sdc_id)
        was_connected, sdc.connected = sdc.connected, connected
        if connected and not was_connected:
            for volume in self._volumes.values():
                if sdc.id in volume.mappings:
                    self._data.attach(sdc.id, volume.id)

    # --------------------------------------------------------------- lookups
    @locked
    def hosts(self) -> list[Host]:
        """What the SDC listings show: SDCs, and NVMe hosts from 4.x on."""
        return list(self._hosts.values())

    @locked
    def host(self, host_id: str) -> Host:
        return self._find(self._hosts, host_id, errors.INI_NOT_FOUND)

    @locked
    def sdcs(self) -> list[Sdc]:
        return [h for h in self._hosts.values() if isinstance(h, Sdc)]

    @locked
    def sdc(self, sdc_id: str) -> Sdc:
        host = self._hosts.get(sdc_id)
        if not isinstance(host, Sdc):
            raise errors.INI_NOT_FOUND.error(v4=self.v4)
        return host

    @locked
    def sdc_by_guid(self, guid: str) -> Sdc:
        """GUIDs compare case-insensitively: the gateway shows them upper-case,
        the SDC's ioctl reports them lower-case."""
        for sdc in self.sdcs():
            if sdc.guid.lower() == guid.lower():
                return sdc
        raise errors.INI_NOT_FOUND.error(v4=self.v4)

    @locked
    def nvme_host_by_nqn(self, nqn: str) -> NvmeHost:
        for host in self._hosts.values():
            if isinstance(host, NvmeHost) and host.nqn == nqn:
                return host
        raise errors.INI_NOT_FOUND.error(v4=self.v4)

    @locked
    def sdc_id_by_key(self, *, ip: str | None = None, name: str | None = None) -> str:
        for host in self._hosts.values():
            host_ip = host.ip if isinstance(host, Sdc) else None
            if (ip is not None and host_ip == ip) or (name is not None and host.name == name):
                return host.id
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
        """Map to an SDC or an NVMe host (``sdc_id`` is either's id)."""
        volume = self.volume(volume_id)
        host = self.host(sdc_id)
        if host.id in volume.mappings:
            raise errors.VOL_ALREADY_MAPPED_TO_THIS_INI.error(v4=self.v4)
        if volume.mappings and not allow_multiple:
            raise errors.NOT_ALLOWED_MORE_THAN_ONE_MAPPING.error(v4=self.v4)
        if isinstance(host, Sdc) and host.connected:
            self._data.attach(host.id, volume.id)  # may refuse: no mapping then
        volume.mappings[host.id] = Mapping(host.id, access_mode=access_mode)

    @locked
    def unmap_volume(self, volume_id: str, sdc_id: str | None = None) -> None:
        """Unmap from one host, or from every host when ``sdc_id`` is None."""
        volume = self.volume(volume_id)
        if sdc_id is None:
            targets = list(volume.mappings)
        else:
            targets = [self.host(sdc_id).id]
        if not targets or any(t not in volume.mappings for t in targets):
            raise errors.VOL_NOT_MAPPED_TO_INI.error(v4=self.v4)
        for target in targets:
            del volume.mappings[target]
            if isinstance(self._hosts[target], Sdc):
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
        host = self.host(sdc_id)
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
        mapping = volume.mappings.get(host.id)
        if mapping is None:
            raise errors.VOL_NOT_MAPPED_TO_INI.error(v4=self.v4)
        if iops_limit is not None:
            mapping.iops_limit = iops_limit
        if bandwidth_limit_kbps is not None:
            mapping.bandwidth_limit_kbps = bandwidth_limit_kbps

    @locked
    def sdc_statistics(self, sdc_id: str) -> dict[str, Any]:
        host = self.host(sdc_id)
        return statistics.sdc_statistics(self.volumes(sdc_id=host.id))

    def _check_host_name(self, name: str) -> None:
        if not _HOST_NAME.fullmatch(name):
            raise errors.invalid_request(
                f"host name {name!r} must be 1-31 letters, digits, '.', '_' or '-'"
            )
        if any(h.name == name for h in self._hosts.values()):
            raise errors.invalid_request(f"a host named {name!r} already exists")
