"""The fault matrix on resize (confirm, revert), live migration, evacuation and shelve/unshelve,
each driven through nova's REST API; the harness and its choice of cases are in ``api_faults``.

One test per faulted phase (each with its own services, and within pytest's timeout): the
resize is faulted on its way to confirm, and confirm and revert each after a fault-free
resize; shelve, and unshelve after a fault-free shelve.  Cross-cell resize is not here: it
needs the two-cell harness.
"""

from __future__ import annotations

from sio_fixtures.api_faults import ApiFaultsTestBase, ApiFlow, Phase


class ResizeFaultsTest(ApiFaultsTestBase):
    def flow(self, name: str, then: str, action: str, faulted: str) -> ApiFlow:
        def resize(server: dict) -> None:
            self.api.post_server_action(server["id"], {"resize": {"flavorRef": self.large}})

        def finish(server: dict) -> None:
            self.api.post_server_action(server["id"], {action: None})

        phases = [Phase("resize", resize, "VERIFY_RESIZE"), Phase(then, finish, "ACTIVE", True)]
        return ApiFlow(name, phases, faulted=(faulted,))

    def test_resize(self) -> None:
        self.run_matrix(self.flow("resize (+confirm)", "confirm", "confirmResize", "resize"))

    def test_confirm(self) -> None:
        self.run_matrix(self.flow("(resize+) confirm", "confirm", "confirmResize", "confirm"))

    def test_revert(self) -> None:
        self.run_matrix(self.flow("(resize+) revert", "revert", "revertResize", "revert"))


class LiveMigrationFaultsTest(ApiFaultsTestBase):
    def test_live_migration(self) -> None:
        def migrate(server: dict) -> None:
            dest = self.other_host(self.host_of(server))
            action = {"os-migrateLive": {"host": dest, "block_migration": "auto"}}
            self.api.post_server_action(server["id"], action)

        self.run_matrix(ApiFlow("live migration", [Phase("live-migrate", migrate, "ACTIVE")]))


class EvacuationFaultsTest(ApiFaultsTestBase):
    def test_evacuation(self) -> None:
        failed = {}

        def fail(server: dict) -> None:
            failed["host"] = self.host_of(server)
            self.fail_host(failed["host"])

        def evacuate(server: dict) -> None:
            self.admin_api.post_server_action(server["id"], {"evacuate": {}})

        def failed_host_returns(_server: dict) -> None:
            self.restore_host(failed.pop("host"))

        # Since microversion 2.95 an evacuated server stays stopped on its new host.
        flow = ApiFlow(
            "evacuation",
            [Phase("evacuate", evacuate, "SHUTOFF")],
            before=fail,
            after=failed_host_returns,
        )
        self.run_matrix(flow)


class ShelveFaultsTest(ApiFaultsTestBase):
    def flow(self, faulted: str) -> ApiFlow:
        def shelve(server: dict) -> None:  # offloaded at once (shelved_offload_time 0)
            self.api.post_server_action(server["id"], {"shelve": {}})

        def unshelve(server: dict) -> None:
            self.api.post_server_action(server["id"], {"unshelve": None})

        phases = [
            Phase("shelve", shelve, "SHELVED_OFFLOADED"),
            Phase("unshelve", unshelve, "ACTIVE"),
        ]
        return ApiFlow(f"{faulted} (shelve+unshelve)", phases, faulted=(faulted,))

    def test_shelve(self) -> None:
        self.run_matrix(self.flow("shelve"))

    def test_unshelve(self) -> None:
        self.run_matrix(self.flow("unshelve"))
