"""The fault matrix on resize (confirm, revert), live migration, evacuation and shelve/unshelve,
each driven through nova's REST API; the harness and its choice of cases are in ``api_faults``.

Each flow's phases are faulted once: resize in the confirm flow only (the revert flow
faults its revert), shelve and unshelve both.  Cross-cell resize is not here yet: it needs
the two-cell harness.
"""

from __future__ import annotations

from sio_fixtures.api_faults import ApiFaultsTestBase, ApiFlow, Phase


class ResizeFaultsTest(ApiFaultsTestBase):
    def resize(self, server: dict) -> None:
        self.api.post_server_action(server["id"], {"resize": {"flavorRef": self.large}})

    def test_resize_and_confirm(self) -> None:
        confirm = Phase(
            "confirm",
            lambda s: self.api.post_server_action(s["id"], {"confirmResize": None}),
            "ACTIVE",
        )
        self.run_matrix(
            ApiFlow("resize+confirm", [Phase("resize", self.resize, "VERIFY_RESIZE"), confirm])
        )

    def test_resize_and_revert(self) -> None:
        revert = Phase(
            "revert",
            lambda s: self.api.post_server_action(s["id"], {"revertResize": None}),
            "ACTIVE",
        )
        self.run_matrix(
            ApiFlow(
                "resize+revert",
                [Phase("resize", self.resize, "VERIFY_RESIZE"), revert],
                faulted=("revert",),
            )
        )


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
        self.run_matrix(
            ApiFlow(
                "evacuation",
                [Phase("evacuate", evacuate, "SHUTOFF")],
                before=fail,
                after=failed_host_returns,
            )
        )


class ShelveFaultsTest(ApiFaultsTestBase):
    def test_shelve_and_unshelve(self) -> None:
        def unshelve(server: dict) -> None:
            self.api.post_server_action(server["id"], {"unshelve": None})

        self.run_matrix(
            ApiFlow(
                "shelve+unshelve",
                [
                    # offloaded at once (shelved_offload_time 0)
                    Phase("shelve", lambda s: self.api.post_server_action(s["id"], {"shelve": {}}), "SHELVED_OFFLOADED"),
                    Phase("unshelve", unshelve, "ACTIVE"),
                ],
            )
        )
