"""CSV as text, a batch of rows at a time: what the command line writes and the browser
downloads (evidence export, training report), so a long file never sits in memory at once."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator


def lines(
    header: Iterable[str], rows: Iterable[Iterable[object]], batch: int = 500, *, spreadsheet_safe_copy: bool = False
) -> Iterator[str]:
    """The header, then the rows, as CSV text (LF line ends) in chunks of ``batch`` rows. A cell
    of None is empty. ``spreadsheet_safe_copy``: every cell through ``spreadsheet_safe`` (a copy
    to open in a spreadsheet, no longer the exact bytes)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # Python's csv quotes a cell holding the line end it writes (LF), not one holding a lone CR,
    # which readers take as the end of the row: a row with a CR is written with every cell quoted.
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        if spreadsheet_safe_copy:
            row = [spreadsheet_safe(cell) for cell in row]  # noqa: PLW2901 - the row as written
        cells = ["" if cell is None else cell for cell in row]
        (quoted if any(isinstance(cell, str) and "\r" in cell for cell in cells) else writer).writerow(cells)
        if n % batch == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def spreadsheet_safe(cell: object) -> object:
    """A cell as a spreadsheet should read it: text that starts like a formula (``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return; a name, a department, a waiver's reason typed by a
    person) gets a leading apostrophe, so opening the file never runs it (OWASP, "CSV
    Injection"). Not for the evidence export itself, whose cells must be the hashed bytes: only
    for its spreadsheet-safe copy."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell
