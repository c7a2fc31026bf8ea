"""CSV as text, a batch of rows at a time: what the command line writes and the browser
downloads (evidence export, training report), so a long file never sits in memory at once."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator


def lines(header: Iterable[str], rows: Iterable[Iterable[object]], batch: int = 500) -> Iterator[str]:
    """The header, then the rows, as CSV text (LF line ends) in chunks of ``batch`` rows. A cell
    of None is empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        writer.writerow("" if cell is None else cell for cell in row)
        if n % batch == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def spreadsheet_safe(cell: object) -> object:
    """A cell as a spreadsheet should read it: text that starts like a formula (``=``, ``+``,
    ``-``, ``@``; a name, a department, a waiver's reason typed by a person) gets a leading
    apostrophe, so opening the file never runs it. (Not for the evidence export: its cells
    must be the hashed bytes.)"""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell
