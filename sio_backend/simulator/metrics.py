"""5.x statistics: ``POST /dtapi/rest/v1/metrics/query``.

On 5.x the ``querySelectedStatistics`` actions are gone (Dell's 5.0 Block
API file has none); capacity and performance come from the metrics service
on the same host under ``/dtapi``, values in bytes.  The request and answer
are those Dell's clients exchange with it:

- request ``{"resource_type": "storage_pool", "ids": [...], "metrics": [...]}``
  (cinder ``_get_ec_queryable_statistics``); ``ids`` may be one id as a
  string (PyPowerFlex gen2 ``Volume.get_statistics``) or absent (every
  object of the type); ``metrics`` must be a JSON array: the live service
  answers 500 to the comma-separated string the 5.0 file documents
  (fjacquet/pflex_exporter ADR 0003);
- answer ``{"resources": [{"id": ..., "metrics": [{"name": ..., "values": [v]}]}]}``
  (cinder reads ``resources[0]["metrics"]``, pflex_exporter ``v5Response``).

Metrics the simulator does not model are left out of the answer, as
``querySelectedStatistics`` leaves out unknown properties.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sio_backend.simulator import errors, statistics
from sio_backend.simulator.routing import Request, Route, route
from sio_backend.simulator.state import GatewayState

Metrics = dict[str, float]
ResourceType = tuple[Callable[[], list[str]], Callable[[str], Metrics]]


class MetricsApi:
    """The ``/dtapi`` metrics service of a 5.x system."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [route("POST", "/dtapi/rest/v1/metrics/query", self.query)]

    def query(self, request: Request) -> Any:
        body = request.body
        resource_type = body.text("resource_type", required=True) or ""
        objects = self._resource_types().get(resource_type)
        if objects is None:
            raise errors.PowerApiError(
                404,
                "NOT_FOUND",
                f"resource_type {resource_type!r} is not one of "
                f"{', '.join(sorted(self._resource_types()))}",
            )
        all_ids, metrics_of = objects
        ids = _ids(body.raw("ids"))
        wanted = _metric_names(body.raw("metrics"))
        resources = []
        for object_id in all_ids() if ids is None else ids:
            try:
                values = metrics_of(object_id)
            except errors.SimulatorError:
                raise errors.PowerApiError(
                    404, "NOT_FOUND", f"no {resource_type} with id {object_id}"
                ) from None
            names = values if wanted is None else [n for n in wanted if n in values]
            resources.append(
                {"id": object_id, "metrics": [{"name": n, "values": [values[n]]} for n in names]}
            )
        return {"resources": resources}

    def _resource_types(
        self,
    ) -> dict[str, tuple[Callable[[], list[str]], Callable[[str], Metrics]]]:
        """Per resource type: every id, and the metrics of one (raising if unknown)."""
        state = self.state

        def system(system_id: str) -> Metrics:
            if system_id != state.system_id:
                raise errors.NOT_FOUND.error()
            return statistics.pool_metrics(state.system_statistics())

        def host(host_id: str) -> Metrics:
            state.host(host_id)
            return statistics.host_metrics()

        return {
            "volume": (lambda: [v.id for v in state.volumes()], state.volume_metrics),
            "storage_pool": (
                lambda: [p.id for p in state.storage_pools()],
                lambda i: statistics.pool_metrics(state.pool_statistics(i)),
            ),
            "protection_domain": (
                lambda: [pd.id for pd in state.protection_domains()],
                lambda i: statistics.pool_metrics(state.protection_domain_statistics(i)),
            ),
            "system": (lambda: [state.system_id], system),
            "sdc": (lambda: [h.id for h in state.hosts()], host),
        }


def _ids(raw: Any) -> list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and all(isinstance(i, str) for i in raw):
        return raw
    raise errors.PowerApiError(400, "BAD_REQUEST", f"ids must be an id or a list of ids: {raw!r}")


def _metric_names(raw: Any) -> list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        return raw
    raise errors.PowerApiError(
        500, "INTERNAL_SERVER_ERROR", f"metrics must be a JSON array of names, got {raw!r}"
    )
