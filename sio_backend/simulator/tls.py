"""A throwaway certificate authority for the simulator's HTTPS listener.

Each start makes a new CA and a server certificate for 127.0.0.1 and
localhost, and writes the CA to a PEM file, so clients can run with
certificate verification on (``verify=<ca_path>``) as they should in
production.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


def server_context(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """Return a server-side SSL context and the path of the CA that signed it."""
    authority = trustme.CA(organization_name="sio_backend simulator")
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    directory.mkdir(parents=True, exist_ok=True)
    ca_path = directory / "simulator-ca.pem"
    authority.cert_pem.write_to_path(str(ca_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    return context, ca_path
