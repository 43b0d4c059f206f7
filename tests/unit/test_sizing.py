"""The size rule (8 GiB, or 1 GiB on Erasure Coding pools), disk_size_policy, the refusal."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sio_backend import exceptions, nova_errors, sizing
from sio_backend.sizing import GiB, MiB

FLAVOR = "'m1.odd' (id 42)"
fast = settings(max_examples=200, deadline=None)


def size(disk_name: str, size_bytes: int | None, policy: str = "reject", **kwargs):
    return sizing.disk_volume_size(FLAVOR, disk_name, size_bytes, policy=policy, **kwargs)


class TestRounding:
    @pytest.mark.parametrize(
        ("size_bytes", "expected"),
        [
            (0, 8 * GiB),
            (1, 8 * GiB),
            (8 * GiB - 1, 8 * GiB),
            (8 * GiB, 8 * GiB),
            (8 * GiB + 1, 16 * GiB),
            (20 * GiB, 24 * GiB),
            (1024 * GiB, 1024 * GiB),
        ],
    )
    def test_round_up_bytes(self, size_bytes: int, expected: int) -> None:
        assert sizing.round_up_bytes(size_bytes) == expected

    @pytest.mark.parametrize(("gb", "expected"), [(0, 8), (1, 8), (8, 8), (9, 16), (20, 24)])
    def test_round_up_gb(self, gb: int, expected: int) -> None:
        assert sizing.round_up_gb(gb) == expected

    @pytest.mark.parametrize(
        ("size_bytes", "aligned"), [(0, False), (GiB, False), (8 * GiB, True), (24 * GiB, True)]
    )
    def test_is_aligned(self, size_bytes: int, aligned: bool) -> None:
        assert sizing.is_aligned(size_bytes) is aligned

    def test_negative_sizes_are_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            sizing.round_up_bytes(-1)

    def test_swap_granularity_is_8_gib_in_mib(self) -> None:
        assert sizing.SWAP_GRANULARITY_MB * MiB == 8 * GiB


class TestFlavorDisks:
    @pytest.mark.parametrize("disk_name", ["disk", "disk.local", "disk.eph3", "disk.swap"])
    def test_aligned_sizes_are_used_as_they_are(self, disk_name: str) -> None:
        result = size(disk_name, 16 * GiB)
        assert (result.size_gb, result.rounded_up, result.always_thin) == (16, False, False)

    def test_swap_in_8192_mib_steps(self) -> None:
        assert size("disk.swap", 16384 * MiB).size_gb == 16

    def test_refusal_names_flavor_disk_sizes_and_both_ways_out(self) -> None:
        with pytest.raises(exceptions.DiskSizeNotSupported) as caught:
            size("disk", 20 * GiB)
        message = str(caught.value)
        assert FLAVOR in message
        assert "root disk (disk)" in message
        assert "20 GiB" in message
        assert "nearest valid sizes are 16 GiB and 24 GiB" in message
        assert "[scaleio] disk_size_policy = round_up" in message
        assert "flavor whose root and ephemeral sizes are multiples of 8 GiB" in message

    def test_refusal_of_a_small_disk_offers_only_the_size_above(self) -> None:
        with pytest.raises(exceptions.DiskSizeNotSupported, match="nearest valid size is 8 GiB"):
            size("disk.eph0", 1 * GiB)

    def test_swap_refusal_speaks_mib(self) -> None:
        with pytest.raises(exceptions.DiskSizeNotSupported) as caught:
            size("disk.swap", 1024 * MiB)
        message = str(caught.value)
        assert "swap disk (disk.swap) 1024 MiB" in message
        assert "nearest valid size is 8192 MiB" in message

    def test_ephemeral_refusal_names_the_disk(self) -> None:
        with pytest.raises(
            exceptions.DiskSizeNotSupported, match=r"ephemeral disk \(disk\.local\)"
        ):
            size("disk.local", 10 * GiB)

    def test_odd_byte_counts_are_shown_in_bytes(self) -> None:
        with pytest.raises(exceptions.DiskSizeNotSupported, match="1000 bytes"):
            size("disk.local", 1000)

    def test_round_up_policy(self) -> None:
        result = size("disk", 20 * GiB, policy="round_up")
        assert (result.size_gb, result.requested_bytes, result.rounded_up) == (24, 20 * GiB, True)
        assert not result.always_thin  # the flavor's provisioning still applies

    @pytest.mark.parametrize("disk_name", ["disk.local", "disk.eph0", "disk.swap"])
    @pytest.mark.parametrize("zero", [0, None])
    def test_zero_ephemeral_or_swap_means_no_disk(self, disk_name: str, zero: int | None) -> None:
        assert size(disk_name, zero) is None

    def test_unknown_policy_names_the_option(self) -> None:
        with pytest.raises(exceptions.ConfigurationError, match=r"\[scaleio\] disk_size_policy"):
            size("disk", 8 * GiB, policy="truncate")

    def test_unknown_disk_is_refused(self) -> None:
        with pytest.raises(ValueError, match="'kernel'"):
            size("kernel", 8 * GiB)

    def test_negative_size_is_refused(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            size("disk", -GiB)


class TestDisksSizedByTheirImage:
    @pytest.mark.parametrize("root_size", [None, 0])
    def test_root_gb_0_is_rounded_up_and_thin_even_under_reject(self, root_size) -> None:
        result = size("disk", root_size, image_size_bytes=3 * GiB + 5)
        assert (result.size_gb, result.requested_bytes, result.always_thin) == (
            8,
            3 * GiB + 5,
            True,
        )

    def test_rescue_root(self) -> None:
        result = size("disk.rescue", None, image_size_bytes=9 * GiB)
        assert (result.size_gb, result.always_thin) == (16, True)

    def test_stable_device_rescue_disks_are_rounded_up(self) -> None:
        result = size("disk.local.rescue", 10 * GiB)
        assert (result.size_gb, result.always_thin) == (16, True)

    def test_config_drive_is_rounded_up(self) -> None:
        result = size("disk.config", 64 * MiB)
        assert (result.size_gb, result.always_thin) == (8, True)

    @pytest.mark.parametrize("image_size", [None, 0, -1])
    def test_an_image_size_is_needed(self, image_size: int | None) -> None:
        with pytest.raises(ValueError, match="image size"):
            size("disk.rescue", None, image_size_bytes=image_size)


class TestErasureCodingPools:
    """5.x Erasure Coding pools allocate in 1 GiB steps: flavors 8 GiB pools refuse fit."""

    def test_a_10_gib_root_is_accepted_as_it_is(self) -> None:
        result = size("disk", 10 * GiB, granularity_gb=1)
        assert (result.size_gb, result.rounded_up) == (10, False)

    def test_the_same_root_is_refused_on_an_8_gib_pool(self) -> None:
        with pytest.raises(exceptions.DiskSizeNotSupported, match="multiples of 8 GiB"):
            size("disk", 10 * GiB)

    def test_swap_in_1024_mib_steps(self) -> None:
        assert size("disk.swap", 3072 * MiB, granularity_gb=1).size_gb == 3

    def test_refusal_names_the_pools_unit(self) -> None:
        with pytest.raises(exceptions.DiskSizeNotSupported) as caught:
            size("disk.swap", 1536 * MiB, granularity_gb=1)
        message = str(caught.value)
        assert "multiples of 1 GiB (1024 MiB for swap) on this storage pool" in message
        assert "nearest valid sizes are 1024 MiB and 2048 MiB" in message

    @pytest.mark.parametrize(
        ("disk_name", "size_bytes", "image_size", "expected_gb"),
        [
            ("disk.config", 64 * MiB, None, 1),
            ("disk.rescue", None, 3 * GiB + 5, 4),
            ("disk", None, 9 * GiB, 9),
        ],
    )
    def test_disks_sized_by_their_image_round_to_1_gib(
        self, disk_name: str, size_bytes: int | None, image_size: int | None, expected_gb: int
    ) -> None:
        result = size(disk_name, size_bytes, image_size_bytes=image_size, granularity_gb=1)
        assert (result.size_gb, result.always_thin) == (expected_gb, True)

    def test_round_up_helpers_take_the_unit(self) -> None:
        assert sizing.round_up_gb(10, 1) == 10
        assert sizing.round_up_gb(0, 1) == 1
        assert sizing.round_up_bytes(GiB + 1, 1) == 2 * GiB
        assert sizing.is_aligned(3 * GiB, 1)
        assert not sizing.is_aligned(3 * GiB)


class TestProperties:
    @fast
    @given(st.integers(0, 2**50))
    def test_rounding_is_aligned_and_never_smaller(self, size_bytes: int) -> None:
        rounded = sizing.round_up_bytes(size_bytes)
        assert rounded % sizing.GRANULARITY == 0
        assert size_bytes <= rounded < max(size_bytes, 1) + sizing.GRANULARITY

    @fast
    @given(st.integers(0, 2**50), st.integers(0, 2**50))
    def test_rounding_never_decreases(self, first: int, second: int) -> None:
        low, high = sorted((first, second))
        assert sizing.round_up_bytes(low) <= sizing.round_up_bytes(high)

    @fast
    @given(
        st.sampled_from(["disk", "disk.local", "disk.eph5", "disk.swap", "disk.rescue"]),
        st.integers(0, 2**44),
        st.sampled_from(sizing.POLICIES),
        st.integers(1, 2**40),
    )
    def test_accepted_sizes_are_aligned_and_hold_the_request(
        self, disk_name: str, size_bytes: int, policy: str, image_size: int
    ) -> None:
        try:
            result = size(disk_name, size_bytes, policy, image_size_bytes=image_size)
        except exceptions.DiskSizeNotSupported:
            assert policy == "reject"
            assert size_bytes % sizing.GRANULARITY
            return
        if result is None:
            assert size_bytes == 0
            return
        assert result.size_bytes % sizing.GRANULARITY == 0
        assert result.size_bytes >= result.requested_bytes > 0
        assert result.size_bytes >= size_bytes


class TestNovaException:
    def test_message_is_carried_unchanged(self) -> None:
        from nova import exception as nova_exception

        with pytest.raises(exceptions.DiskSizeNotSupported) as caught:
            size("disk", 20 * GiB)
        converted = nova_errors.to_nova_exception(caught.value)
        assert isinstance(converted, nova_exception.InvalidInput)
        # The manager builds the BuildAbortException reason from format_message().
        assert converted.format_message() == str(caught.value)

    def test_extra_spec_refusals_convert_too(self) -> None:
        err = exceptions.InvalidExtraSpec("Flavor 'x' (id 1): extra spec disk:pool='a b'")
        assert nova_errors.to_nova_exception(err).format_message() == str(err)

    def test_sizing_imports_no_nova(self) -> None:
        code = (
            "import sys, sio_backend.sizing, sio_backend.nova_errors; print('nova' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
        )
        assert out.stdout.strip() == "False"

    # nova's own test of the clause, ComputeManagerBuildInstanceTestCase.
    # _test_build_and_run_spawn_exceptions (nova/tests/unit/compute/
    # test_compute_mgr.py), makes driver.spawn raise the exception and asserts
    # _build_and_run_instance raises BuildAbortException (nova/compute/
    # manager.py:2781-2801, InvalidInput at 2790) rather than
    # RescheduledException (2813-2823).  It runs in a child process because
    # importing nova.tests.unit monkey-patches the interpreter with eventlet.
    NOVA_CASE = textwrap.dedent(
        """
        import sys
        import unittest

        from nova import exception
        from nova.tests.unit.compute import test_compute_mgr

        from sio_backend import exceptions, nova_errors

        class Case(test_compute_mgr.ComputeManagerBuildInstanceTestCase):
            def test_refusal(self):
                err = exceptions.DiskSizeNotSupported("flavor 'm1.odd' disk 20 GiB")
                exc = {
                    "ours": nova_errors.to_nova_exception(err),
                    "control": exception.NovaException("reschedules"),
                }[sys.argv[1]]
                self._test_build_and_run_spawn_exceptions(exc)

        result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(
            Case("test_refusal")
        )
        sys.exit(0 if result.testsRun == 1 and result.wasSuccessful() else 1)
        """
    )

    @pytest.mark.parametrize(("variant", "aborts"), [("ours", True), ("control", False)])
    def test_nova_manager_aborts_the_build_without_rescheduling(
        self, variant: str, aborts: bool
    ) -> None:
        run = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", self.NOVA_CASE, variant],
            check=False,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert run.returncode == (0 if aborts else 1), run.stdout + run.stderr
        if not aborts:  # the control fails for the right reason
            assert "RescheduledException" in run.stdout + run.stderr


class TestMoreProperties:
    @fast
    @given(st.integers(0, 2**30))
    def test_round_up_gb_never_shrinks_and_is_aligned(self, size_gb: int) -> None:
        rounded = sizing.round_up_gb(size_gb)
        assert rounded >= max(size_gb, sizing.GRANULARITY_GB)
        assert rounded % sizing.GRANULARITY_GB == 0
        assert rounded - size_gb < sizing.GRANULARITY_GB or size_gb == 0

    @fast
    @given(
        st.sampled_from(["disk", "disk.local", "disk.eph3", "disk.swap"]),
        st.integers(1, 2**44).filter(lambda size: size % sizing.GRANULARITY),
    )
    def test_reject_names_the_flavor_disk_and_both_ways_out(
        self, disk_name: str, size_bytes: int
    ) -> None:
        with pytest.raises(exceptions.DiskSizeNotSupported) as info:
            size(disk_name, size_bytes, "reject")
        message = str(info.value)
        assert FLAVOR in message
        assert f"({disk_name})" in message
        assert "disk_size_policy = round_up" in message
        assert "nearest valid size" in message
