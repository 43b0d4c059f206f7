"""The shipped rootwrap filter admits our privsep daemon, and only ours.

nova-compute starts every privsep context's helper through
``nova-rootwrap /etc/nova/rootwrap.conf``.  The command checked is the one
oslo.privsep builds for ``sio_backend.privileged.sys_admin_pctxt``.
(oslo.rootwrap also appends a catch-all ``privsep-helper`` filter of its own;
nova still ships one filter per context, and so do we.)
"""

from __future__ import annotations

import pathlib
import sys

import pytest
from oslo_config import cfg
from oslo_rootwrap import wrapper

from sio_backend import privileged

ROOT = pathlib.Path(__file__).resolve().parents[2]
FILTERS = ROOT / "etc" / "rootwrap.d"
OURS = "privsep-rootwrap-sio_backend"
# Where nova-rootwrap would find privsep-helper: oslo.privsep installs it beside python.
EXEC_DIRS = [str(pathlib.Path(sys.executable).parent)]


def matching_filter(monkeypatch: pytest.MonkeyPatch, pypath: str) -> str:
    """The name of the filter that admits privsep's helper command for ``pypath``."""
    monkeypatch.setattr(cfg.CONF, "config_file", ["/etc/nova/nova.conf"], raising=False)
    monkeypatch.setattr(cfg.CONF, "config_dir", None, raising=False)
    monkeypatch.setattr(privileged.sys_admin_pctxt, "pypath", pypath)
    monkeypatch.setattr("oslo_utils.importutils.import_class", lambda _: privileged.sys_admin_pctxt)
    command = privileged.sys_admin_pctxt.helper_command("/tmp/tmpabcd/privsep.sock")
    assert command[0] == "sudo"  # nova replaces it with its root helper
    loaded = wrapper.load_filters([str(FILTERS)])
    return wrapper.match_filter(loaded, command[1:], exec_dirs=EXEC_DIRS).name


def test_our_filter_admits_our_privsep_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    assert privileged.sys_admin_pctxt.pypath == "sio_backend.privileged.sys_admin_pctxt"
    assert matching_filter(monkeypatch, privileged.sys_admin_pctxt.pypath) == OURS


def test_our_filter_admits_no_other_context(monkeypatch: pytest.MonkeyPatch) -> None:
    assert matching_filter(monkeypatch, "nova.privsep.sys_admin_pctxt") != OURS
