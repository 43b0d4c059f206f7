"""Keep HTTPS on real sockets while nova's fixtures intercept HTTP.

nova's API and placement fixtures serve their WSGI apps through
wsgi-intercept, which swaps the connection classes of urllib3's pools, for
every host, HTTP and HTTPS alike.  Its HTTPS class does not take urllib3
2.x's keyword arguments (``unexpected keyword argument 'cert_reqs'``), so
the gateway client could not even log in; and had it worked, it would have
bypassed urllib3's certificate checks.  Only HTTP is ever intercepted
(``http://`` endpoints), so HTTPS keeps urllib3's own connection class.
"""

from __future__ import annotations

import functools

import fixtures
from urllib3 import connection, connectionpool
from wsgi_intercept import requests_intercept


def _real_https() -> None:
    connectionpool.HTTPSConnectionPool.ConnectionCls = connection.HTTPSConnection


class RealHttpsFixture(fixtures.Fixture):
    """Undo wsgi-intercept's HTTPS half now and after every later install."""

    def _setUp(self) -> None:
        install = requests_intercept.install

        @functools.wraps(install)
        def install_http_only() -> None:
            install()
            _real_https()

        self.useFixture(fixtures.MockPatchObject(requests_intercept, "install", install_http_only))
        _real_https()
