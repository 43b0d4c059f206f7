"""The objects a simulated MDM keeps, and the constants of its rules.

Plain records with no behaviour: :class:`~sio_backend.simulator.state.GatewayState`
owns them, changes them under its lock and enforces the rules.  The values
are the gateway's own spellings, written here rather than taken from the
project's client so the simulator stays an independent judge of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GIB_KB = 1024 * 1024
GRANULARITY_KB = 8 * GIB_KB  # mirroring pools (3.x, 4.x)
EC_GRANULARITY_KB = GIB_KB  # Erasure Coding pools (5.x)
MAX_NAME_LENGTH = 31
MAX_SNAPSHOTS_PER_VTREE = 126
SPARE_PERCENTAGE = 10

THIN = "ThinProvisioned"
THICK = "ThickProvisioned"
SNAPSHOT = "Snapshot"
MEDIUM_GRANULARITY = "MediumGranularity"
FINE_GRANULARITY = "FineGranularity"
ERASURE_CODING = "ErasureCoding"  # a 5.x pool's dataLayout
EC = "EC"  # a 5.x protection domain's genType
LAYOUT_NAMES = {
    MEDIUM_GRANULARITY: "Medium Granularity",
    FINE_GRANULARITY: "Fine Granularity",
    ERASURE_CODING: "Erasure Coding",
}
SDC_HOST = "SdcHost"
NVME_HOST = "NVMeHost"
REMOVE_MODES = ("ONLY_ME", "INCLUDING_DESCENDANTS", "DESCENDANTS_ONLY", "WHOLE_VTREE")
CONVERSIONS = ("NoConversion", "ThickToThin", "ThinToThick")


@dataclass
class ProtectionDomain:
    id: str
    name: str
    gen_type: str | None = None  # None: a 3.x/4.x domain, which has no genType


@dataclass
class StoragePool:
    id: str
    name: str
    protection_domain_id: str
    zero_padding: bool
    data_layout: str
    capacity_kb: int  # net (one copy) capacity users can fill

    @property
    def granularity_kb(self) -> int:
        """Volume sizes come in 8 GiB steps, or 1 GiB ones on Erasure Coding."""
        return EC_GRANULARITY_KB if self.data_layout == ERASURE_CODING else GRANULARITY_KB


@dataclass
class Sdc:
    id: str
    name: str
    guid: str
    ip: str
    connected: bool


@dataclass
class NvmeHost:
    """An NVMe/TCP initiator registered on 4.x/5.x; listed with the SDCs."""

    id: str
    name: str
    nqn: str
    max_num_paths: int = 4
    max_num_sys_ports: int = 10


Host = Sdc | NvmeHost


@dataclass
class Mapping:
    sdc_id: str  # the SDC's or the NVMe host's id, as mappedSdcInfo names it
    iops_limit: int = 0
    bandwidth_limit_kbps: int = 0
    access_mode: str = "ReadWrite"


@dataclass
class Volume:
    id: str
    name: str | None
    size_kb: int
    pool_id: str
    vtree_id: str
    volume_type: str
    ancestor_id: str | None
    creation_time: int
    compression_method: str
    nsid: int = 0  # the NVMe namespace id 4.x/5.x show
    access_mode_limit: str = "ReadWrite"
    mappings: dict[str, Mapping] = field(default_factory=dict)
    snapshot_group_id: str | None = None


@dataclass
class Migration:
    source_pool_id: str
    destination_pool_id: str
    conversion: str
    completes_at: float


@dataclass
class VTree:
    id: str
    base_volume_id: str
    pool_id: str
    migration: Migration | None = None


def converted_type(volume_type: str, conversion: str) -> str:
    """A volume's type after a V-Tree migration with ``volTypeConversion``."""
    if conversion == "ThickToThin" and volume_type == THICK:
        return THIN
    if conversion == "ThinToThick" and volume_type == THIN:
        return THICK
    return volume_type
