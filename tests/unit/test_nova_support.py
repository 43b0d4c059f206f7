"""nova's own test cases run under pytest, with images_type=sio usable in them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from nova import monkey_patch
from nova.conf import CONF
from nova.virt.libvirt import imagebackend
from sio_fixtures import nova_support


class TestNovaTestCase(nova_support.NovaTestCase):
    def test_flags_accept_images_type_sio(self):
        # Proves the .pth hook is active in the pytest process: without it
        # set_override raises ValueError on 'sio'.
        self.flags(images_type="sio", group="libvirt")

        self.assertEqual("sio", CONF.libvirt.images_type)
        self.assertIn("sio", imagebackend.Backend(False).BACKEND)

    def test_flags_are_reset_between_tests(self):
        self.assertEqual("default", CONF.libvirt.images_type)


def test_pytest_process_runs_nova_in_native_threading_mode():
    # eventlet monkey patching would hang the in-process simulator threads.
    assert monkey_patch.is_patched() is False
    assert "eventlet" not in sys.modules


def test_plain_nova_test_case_fails_under_pytest_and_the_mixin_fixes_it(tmp_path):
    (tmp_path / "test_generated.py").write_text(
        textwrap.dedent(
            """
            import nova_support
            from nova import test

            class TestPlain(test.NoDBTestCase):
                def test_trivial(self):
                    self.assertTrue(True)

            class TestWithMixin(nova_support.NovaTestCase):
                def test_trivial(self):
                    self.assertTrue(True)
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=str(Path(nova_support.__file__).parent))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-W", "ignore"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "PASSED test_generated.py::TestWithMixin::test_trivial" in proc.stdout, proc.stdout
    assert "FAILED test_generated.py::TestPlain::test_trivial - AttributeError" in proc.stdout
