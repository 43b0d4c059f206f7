"""``.. sio-extra-specs::``: the flavor extra specs, written from ``sio_backend.flavor.RULES``.

The table is generated so that the documented keys, legacy keys and allowed
values are always those the validators and the build path enforce.
"""

from __future__ import annotations

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from sio_backend import flavor


class ExtraSpecsDirective(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        lines = []
        for rule in flavor.RULES:
            lines += [f"``{rule.key}``", f"    {rule.description}", ""]
            lines += [f"    Values: {rule.allowed}.", ""]
            if rule.legacy_key:
                lines += [
                    f"    Deprecated alias: ``{rule.legacy_key}`` (the historical nova "
                    "ScaleIO patches' key; read with a warning).",
                    "",
                ]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="sio_backend.flavor.RULES"), 0, container)
        return container.children


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("sio-extra-specs", ExtraSpecsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
