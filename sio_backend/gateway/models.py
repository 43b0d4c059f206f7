"""The gateway's objects as typed values, read strictly from its JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from sio_backend.exceptions import InvalidResponse
from sio_backend.gateway.wire import (
    as_list,
    as_object,
    number,
    object_id,
    optional_id,
    optional_text,
    text,
)

KB_PER_GB = 1024 * 1024
THIN = "ThinProvisioned"
THICK = "ThickProvisioned"
SNAPSHOT = "Snapshot"
SDC_HOST = "SdcHost"
EC = "EC"
MIRRORING = "Mirroring"
GRANULARITY_GB = 8  # sizes on 3.x, 4.x and mirroring pools
EC_GRANULARITY_GB = 1  # sizes on 5.x Erasure Coding pools (cinder, LXD docs)


@dataclass(frozen=True)
class MappedSdc:
    """One SDC a volume is mapped to, with the QoS limits of that mapping."""

    sdc_id: str
    sdc_ip: str | None
    iops_limit: int
    bandwidth_limit_kbps: int

    @classmethod
    def from_api(cls, data: Any) -> Self:
        entry = as_object(data, "a mappedSdcInfo entry")
        what = "a mappedSdcInfo entry"
        return cls(
            sdc_id=object_id(entry, "sdcId", what),
            sdc_ip=optional_text(entry, "sdcIp", what),
            iops_limit=number(entry, "limitIops", what, default=0),
            bandwidth_limit_kbps=number(entry, "limitBwInMbps", what, default=0) * 1024,
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
        volume = as_object(data, "a volume")
        what = f"volume {volume.get('id')!r}"
        mapped = volume.get("mappedSdcInfo") or []
        return cls(
            id=object_id(volume, "id", "a volume"),
            name=optional_text(volume, "name", what),
            size_kb=number(volume, "sizeInKb", what),
            pool_id=object_id(volume, "storagePoolId", what),
            vtree_id=optional_id(volume, "vtreeId", what),
            volume_type=text(volume, "volumeType", what),
            ancestor_id=optional_id(volume, "ancestorVolumeId", what),
            mapped_sdcs=tuple(
                MappedSdc.from_api(entry) for entry in as_list(mapped, f"{what} mappedSdcInfo")
            ),
        )


@dataclass(frozen=True)
class Sdc:
    """A host registered with the system: an SDC, or on 4.x and later an NVMe host.

    An NVMe host (``hostType: NVMeHost``) has no GUID and no IP address (both
    null, cinder's recorded 4.x listings); it can never be this host's SDC.
    """

    id: str
    guid: str | None
    ip: str | None
    name: str | None
    connected: bool
    host_type: str = SDC_HOST

    @property
    def is_sdc(self) -> bool:
        return self.host_type == SDC_HOST

    @classmethod
    def from_api(cls, data: Any) -> Self:
        sdc = as_object(data, "an SDC")
        what = f"SDC {sdc.get('id')!r}"
        host_type = optional_text(sdc, "hostType", what) or SDC_HOST
        ip = optional_text(sdc, "sdcIp", what)
        if ip is None and isinstance(sdc.get("sdcIps"), list) and sdc["sdcIps"]:
            ip = str(sdc["sdcIps"][0])
        return cls(
            id=object_id(sdc, "id", "an SDC"),
            # An SDC always has a GUID; a host of another type never does.
            guid=text(sdc, "sdcGuid", what)
            if host_type == SDC_HOST
            else optional_text(sdc, "sdcGuid", what),
            ip=ip,
            name=optional_text(sdc, "name", what),
            connected=sdc.get("mdmConnectionState") == "Connected",
            host_type=host_type,
        )


@dataclass(frozen=True)
class StoragePool:
    """The pool properties that decide whether instance disks may live there.

    ``gen_type`` is the protection domain's: ``EC`` (Erasure Coding, the
    "gen2" pools of PowerFlex 5.x) or ``Mirroring`` (every pool before 5.x,
    and mirroring pools after), so pools of one domain share it.
    """

    id: str
    name: str
    protection_domain_id: str
    zero_padding: bool
    data_layout: str
    gen_type: str = MIRRORING

    @property
    def erasure_coded(self) -> bool:
        return self.gen_type.lower() == EC.lower()

    @property
    def size_granularity_gb(self) -> int:
        """Volume sizes are multiples of this: 8 GiB, or 1 GiB on Erasure Coding pools."""
        return EC_GRANULARITY_GB if self.erasure_coded else GRANULARITY_GB

    @classmethod
    def from_api(cls, data: Any) -> Self:
        pool = as_object(data, "a storage pool")
        what = f"storage pool {pool.get('id')!r}"
        return cls(
            id=object_id(pool, "id", "a storage pool"),
            name=optional_text(pool, "name", what) or "",
            protection_domain_id=object_id(pool, "protectionDomainId", what),
            # Unknown padding is treated as off: the safe reading for tenant data.
            zero_padding=pool.get("zeroPaddingEnabled") is True,
            # Pools from before Fine Granularity existed report no layout.
            data_layout=optional_text(pool, "dataLayout", what) or "MediumGranularity",
        )


@dataclass(frozen=True)
class Generation:
    """What the client found out about the gateway it talks to."""

    api_version: str
    auth_method: str

    @property
    def major(self) -> int:
        return int(self.api_version.split(".")[0])


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
                    return number(stats, key, "pool statistics")
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
