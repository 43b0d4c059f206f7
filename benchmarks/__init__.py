"""Benchmarks of sio_backend against the gateway simulator (``tox -e bench``).

Not part of the test run: they print a table and write JSON, for people
comparing releases or comparing with the peers (siolib 2.0.3, PyPowerFlex).
The call-count bounds they report are asserted in the default test run by
``tests/functional/test_call_counts.py``.
"""

import os
import sys
from pathlib import Path

# nova-compute 34 runs on native threads, and so do the benchmarks (eventlet
# would hang the in-process simulator); nova refuses that mode once anything
# has imported eventlet, so it is decided here, before any benchmark module
# imports nova or oslo.privsep.
os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")

import nova.tests.unit  # noqa: F401 - runs nova.monkey_patch.patch() in that mode

# The harnesses and their helpers live with the tests (tests/sio_fixtures/).
TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
