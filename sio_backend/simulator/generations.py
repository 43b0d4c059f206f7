"""The PowerFlex generations the simulator can be, and what sets each apart.

A simulator is one generation, chosen by its API version, and serves that
generation's dialect and only that one, so a client speaking the wrong
dialect fails here as it would in the field.  The facts and their sources
(Dell's OpenAPI files for 4.5.5 and 5.0, cinder, os-brick, PyPowerFlex,
goscaleio) are in the simulator page of the documentation; in short:

- 3.x: the legacy gateway.  ``GET /api/login`` tokens sent as the Basic
  password, the ``mos_rc`` error numbers, 8 GiB volume granularity;
- 4.x (PowerFlex Manager): also OAuth (``/rest/auth/*``) and Bearer tokens,
  NVMe hosts in the SDC listings, null fields, 4037/4039, HTML 401 bodies;
- 5.x (gen2, Erasure Coding): EC pools only, with ``genType`` on the
  protection domain, 1 GiB granularity, ``createSnapshot``/``createThinClone``
  and ``/dtapi`` metrics instead of ``snapshotVolumes`` and
  ``querySelectedStatistics``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUPPORTED = ("3.x", "4.x", "5.x")
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Generation:
    """One PowerFlex release family, as far as its REST dialect goes."""

    api_version: str
    major: int

    @property
    def manager(self) -> bool:
        """4.x and later: the gateway is a PowerFlex Manager (PFMP) service."""
        return self.major >= 4

    @property
    def erasure_coding(self) -> bool:
        """5.x: gen2, every protection domain and pool is Erasure Coding."""
        return self.major >= 5

    @property
    def version_info(self) -> str:
        """The MDM's version string: "3.5" -> "R3_5.0.0"."""
        major, _, minor = self.api_version.partition(".")
        return f"R{major}_{minor}.0.0"

    @property
    def max_snapshots_per_vtree(self) -> int:
        """126 per V-Tree up to 4.x; 1022 per volume family on 5.x (LXD's
        PowerFlex page, canonical/lxd doc/reference/storage_powerflex.md)."""
        return 1022 if self.erasure_coding else 126


def generation(api_version: str) -> Generation:
    """The generation an API version string ("3.5", "4.5", "5.0") belongs to."""
    found = _VERSION.match(api_version)
    major = int(found.group(1)) if found else 0
    if major not in (3, 4, 5):
        raise ValueError(
            f"the simulator serves PowerFlex {', '.join(SUPPORTED)} (an API version such as "
            f"3.5, 4.5 or 5.0), not {api_version!r}"
        )
    return Generation(api_version, major)
