"""Which PowerFlex generation the functional suite runs against.

Every simulator the functional tests start (the ``make_simulator`` fixture,
the two-host nova harness, the demo) is of the generation that
``SIO_SIMULATOR_API_VERSION`` names: "3.5" (the default), "4.5" or "5.0".
Tests that state a fact of one generation (a size step, an error code, the
call that takes a snapshot, the hosts in an SDC listing) ask this module
instead of writing the 3.x fact down.  A handful of tests also run at every
generation in each run, parametrized over :data:`ALL`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sio_backend.simulator.generations import Generation, generation

ENVIRONMENT_VARIABLE = "SIO_SIMULATOR_API_VERSION"
ALL = ("3.5", "4.5", "5.0")
REFRESH = ("POST", "/rest/auth/update-token")


def _from_environment() -> Generation:
    value = os.environ.get(ENVIRONMENT_VARIABLE, "3.5")
    try:
        return generation(value)
    except ValueError as exc:
        raise RuntimeError(f"{ENVIRONMENT_VARIABLE}={value!r}: {exc}") from None


GENERATION = _from_environment()
API_VERSION = GENERATION.api_version


def size_step_gb(api_version: str = API_VERSION) -> int:
    """The volume size step of the simulator's pools: 1 GiB on 5.x (Erasure Coding), else 8."""
    return 1 if generation(api_version).erasure_coding else 8


def snapshot_verb(api_version: str = API_VERSION) -> str:
    """The action our client takes its snapshots with at this generation."""
    return "createThinClone" if generation(api_version).erasure_coding else "snapshotVolumes"


def map_verb(api_version: str = API_VERSION) -> str:
    """The action our client maps a volume with at this generation."""
    return "addMappedHost" if generation(api_version).erasure_coding else "addMappedSdc"


def default_hosts(api_version: str = API_VERSION) -> tuple[str, ...]:
    """The hosts a new simulator lists besides the SDCs a test adds: nvme1 from 4.x on."""
    return ("nvme1",) if generation(api_version).manager else ()


def login_route(api_version: str = API_VERSION) -> tuple[str, str]:
    """How our client logs in (rest_auth_method = auto): OAuth from 4.x on."""
    if generation(api_version).manager:
        return ("POST", "/rest/auth/login")
    return ("GET", "/api/login")


def renewals(counts: Mapping[tuple[str, str], int], api_version: str = API_VERSION) -> int:
    """Logins plus OAuth token refreshes in a simulator's call counts: each
    renews the client's session, whichever way the generation does it."""
    return counts.get(login_route(api_version), 0) + counts.get(REFRESH, 0)


def rounded_gb(size_gb: int, api_version: str = API_VERSION) -> int:
    """A size as the simulator's pools round it: up to the generation's step."""
    step = size_step_gb(api_version)
    return -(-size_gb // step) * step


def tokens_per_login(api_version: str = API_VERSION) -> int:
    """Tokens one login issues: the legacy token, or OAuth's access, refresh and ID tokens."""
    return 3 if generation(api_version).manager else 1


# Thick volumes exist in the default pool of 3.x and 4.x, not in 5.x's Erasure
# Coding pools; tests that want thick disks where they exist provision this way.
THICK_VOLUMES = not GENERATION.erasure_coding
PROVISIONING = "thick" if THICK_VOLUMES else "thin"
