"""Whether real libvirt accepts a domain XML: define it in the ``test:///default`` driver.

fakelibvirt, under the demo's and the tests' drivers, accepts any XML; this
asks libvirt's own parser and validator (``VIR_DOMAIN_DEFINE_VALIDATE``,
the RelaxNG schema and the post-parse checks), without a hypervisor.  The
test driver only runs ``type='test'`` domains, so the hypervisor type is
the one thing changed before defining.
"""

from __future__ import annotations

import re

import libvirt

TEST_URI = "test:///default"
_DOMAIN_TYPE = re.compile(r"^(\s*<domain\b[^>]*\btype=)(['\"])\w+\2", re.MULTILINE)


class InvalidDomainXml(Exception):
    """libvirt refused a domain definition; the message is libvirt's."""


def as_test_domain(xml: str) -> str:
    return _DOMAIN_TYPE.sub(r"\1\2test\2", xml, count=1)


def _quiet(_context: object, _error: object) -> None:
    """libvirt's default handler prints every error to stderr; the caller reports it."""


def validate(xml: str) -> str:
    """The XML libvirt stores for ``xml``; raises InvalidDomainXml naming libvirt's reason."""
    libvirt.registerErrorHandler(_quiet, None)
    conn = libvirt.open(TEST_URI)
    try:
        try:
            domain = conn.defineXMLFlags(as_test_domain(xml), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        except libvirt.libvirtError as error:
            raise InvalidDomainXml(
                f"libvirt refuses the domain XML: {error.get_error_message()}"
            ) from error
        try:
            return domain.XMLDesc()
        finally:
            domain.undefine()
    finally:
        conn.close()
