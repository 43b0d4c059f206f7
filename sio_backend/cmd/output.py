"""How operator commands print results: ``-f table`` (default) or ``-f json``.

Tables are plain aligned columns, like ``openstack ... -f value`` output with
a header, so they read well in a terminal and need no extra dependency; JSON
is for scripts and keeps every field, unformatted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

FORMATS = ("table", "json")
_GAP = "  "


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default="table",
        help="output format (default: table)",
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(item) for item in value) or "-"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Rows as aligned text; ``columns`` are (key, heading) pairs, in order.

    A multi-line cell continues on the following lines of its own column.
    """
    headings = [heading for _, heading in columns]
    cells = [[_cell(row.get(key)).splitlines() or [""] for key, _ in columns] for row in rows]
    widths = [
        max([len(heading)] + [len(line) for row in cells for line in row[index]])
        for index, heading in enumerate(headings)
    ]

    def line(parts: Sequence[str]) -> str:
        padded = (part.ljust(width) for part, width in zip(parts, widths, strict=True))
        return _GAP.join(padded).rstrip()

    lines = [line(headings), line(["-" * width for width in widths])]
    for row in cells:
        height = max(len(cell) for cell in row)
        for index in range(height):
            lines.append(line([cell[index] if index < len(cell) else "" for cell in row]))
    return "\n".join(lines)


def emit(
    fmt: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    document: Any = None,
    stream: TextIO | None = None,
) -> None:
    """Print ``rows`` as a table, or ``document`` (default: the rows) as JSON."""
    stream = stream or sys.stdout
    if fmt == "json":
        stream.write(json.dumps(rows if document is None else document, indent=2) + "\n")
    else:
        stream.write(table(rows, columns) + "\n")
    stream.flush()


ERROR = 2


def error(command: str, message: object) -> int:
    """Report what stopped a command on stderr; return its exit status (2)."""
    sys.stderr.write(f"sio-backend {command}: {message}\n")
    sys.stderr.flush()
    return ERROR
