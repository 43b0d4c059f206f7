"""Run nova's own unittest-style test cases under pytest.

Import it as ``from sio_fixtures import nova_support`` and derive from
:class:`NovaTestCase` instead of ``nova.test.NoDBTestCase``; for nova's
mix-in bases (e.g. ``test_imagebackend._ImageTestCase``) list them first.

Importing this module decides nova's concurrency mode for the whole pytest
process, once: native threading, the mode nova-compute 34 runs in, unless
``OS_NOVA_DISABLE_EVENTLET_PATCHING`` is set explicitly.  nova's test default,
eventlet monkey patching, would turn the simulator's server threads into
green threads that block on a ``selectors`` epoll captured before patching,
and the process hangs.  Threading mode only works if nothing imported
eventlet before (futurist and oslo.privsep do, softly), so the root
``tests/conftest.py`` makes the same decision before any test module loads;
this module repeats it for processes started without that conftest.
"""

from __future__ import annotations

import os

os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")

import nova.tests.unit  # noqa: F401 - nova.monkey_patch.patch() runs here
from nova import test


class PytestCompatibleMixin:
    """Keeps nova's per-test cleanup from breaking pytest's unittest plugin.

    ``nova.test.TestCase`` deletes every public instance attribute after each
    test (``_clear_attrs``); pytest stores the bound test method on the instance
    and deletes it itself afterwards, which then fails.  pytest drops the test
    instance after the run, so nova's memory saving is not needed here.
    """

    def _clear_attrs(self) -> None:
        pass


class NovaTestCase(PytestCompatibleMixin, test.NoDBTestCase):
    """``nova.test.NoDBTestCase`` that runs under pytest."""
