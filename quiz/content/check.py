"""What ``flask content check`` reports, and the Content page lists: the content's errors and
where it falls short of the house standards, each once, as ``file:line: message``.

Errors come in ``model.error_order``: every file's own errors first, then what they stop
elsewhere (a module whose scenario has errors), each naming the file to fix. The house
standards (``standards.py``) follow, as ``file:line: standard: message``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .curricula import load_curricula
from .library import load_library, problem_counts, summary_line
from .model import ContentError, Library, error_order


@dataclass(frozen=True)
class Checked:
    """The outcome of a check: what to report, and what the command prints."""

    library: Library
    errors: list[ContentError]  # in error_order, each once
    standards: list[ContentError]  # likewise
    paths: tuple[str, ...] = ()  # the files or folders asked about; none: everything
    root: str = ""
    elsewhere: tuple[int, int] = (0, 0)  # errors and standards not met outside ``paths``

    @property
    def ok(self) -> bool:
        return not self.errors and not self.standards

    def lines(self) -> list[str]:
        """What ``content check`` prints: each problem, then a count; or one line saying all is
        well (the summary, or with paths, that they are fine and what is wrong elsewhere)."""
        if not self.ok:
            return [
                *(str(e) for e in self.errors),
                *(f"{e.path}:{e.line}: standard: {e.message}" for e in self.standards),
                problem_counts(len(self.errors), len(self.standards)),
            ]
        if any(self.elsewhere):
            return [
                f"ok: {', '.join(self.paths)} ({problem_counts(*self.elsewhere)} elsewhere in {self.root}; "
                "run `content check` without paths to see them)"
            ]
        return [self.summary]

    @property
    def summary(self) -> str:
        """The one-line summary (``summary_line``), counting what this check found."""
        return summary_line(self.library, (len(self.errors), len(self.standards)))


def of_library(library: Library, more_errors: Iterable[ContentError] = ()) -> Checked:
    """The check of a library already loaded (the server's), with errors found beside it (the
    curricula file's)."""
    errors = sorted(dict.fromkeys([*library.errors, *more_errors]), key=error_order)
    return Checked(library, errors, library.standards)


def check_content(root: Path, paths: Sequence[Path] = ()) -> Checked:
    """Load the content under ``root`` with ``paths`` (files or folders, e.g. drafts) and the
    curricula file, and check them all; with ``paths``, report only on those (the rest of the
    content is loaded so that what they refer to is known)."""
    library = load_library(root, list(paths))
    _, curricula_errors = load_curricula(root, library)
    whole = of_library(library, curricula_errors)
    if not paths:
        return whole
    wanted = [Path(p).resolve() for p in paths]

    def mine(error: ContentError) -> bool:
        where = Path(error.path).resolve()
        return any(where == p or p in where.parents for p in wanted)

    errors = [e for e in whole.errors if mine(e)]
    standards = [e for e in whole.standards if mine(e)]
    elsewhere = (len(whole.errors) - len(errors), len(whole.standards) - len(standards))
    return Checked(library, errors, standards, tuple(str(p) for p in paths), str(root), elsewhere)
