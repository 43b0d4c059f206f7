"""Run nova's own unittest-style test cases under pytest.

Import it as ``import nova_support`` (pytest puts ``tests/unit`` on
``sys.path``) and derive from :class:`NovaTestCase` instead of
``nova.test.NoDBTestCase``; for nova's mix-in bases (e.g.
``test_imagebackend._ImageTestCase``) list them first.

Importing this module imports ``nova.tests.unit`` first, which applies
nova's test-suite concurrency mode to the whole pytest process: eventlet
monkey patching, as nova's own unit tests run, unless
``OS_NOVA_DISABLE_EVENTLET_PATCHING=1`` asks for native threading.  Going
through ``nova.tests.unit`` before ``nova.test`` makes that decision happen
before ``nova.test``'s own imports load eventlet (futurist does), which is
what lets the threading mode work at all.
"""

from __future__ import annotations

import nova.tests.unit  # noqa: F401 - must run before nova.test; see the docstring
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
