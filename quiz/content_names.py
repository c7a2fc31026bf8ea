"""People's words for content ids: the one place that turns a module id and an objective id into
a module's title and an objective's text, for pages, emails and the CSVs.

Assignments, attempts and evidence keep ids (module ``front-desk-callers``, objective
``verify-identity``): they are stable, and the content files are named by them. People read
words: "missed “Check who is asking, and their right to know, before you share anything” in
Callers who sound sure". An objective's text is its module's own (two modules may word the same
objective id differently). A module the content no longer has (withdrawn, renamed, its file
broken) is named as its last stored version was; failing that, by its id with a note saying it
is no longer in the content. Never an error: a report must still come out.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from . import versions
from .content import Library, Module

#: Said after an id the content no longer has words for.
RETIRED = "no longer in the content"

#: How a manager's targeted refresher was described before December 2026, with ids.
_OLD_MISSED = re.compile(r"missed objective '(?P<objective>[^']+)' in (?P<module>\S+)")


class ContentNames:
    """Words for ids, from the library served (``None``: none at hand) and, for what it no longer
    has, the stored versions (``session``; ``None``: not looked up). Looks each retired module up
    once."""

    def __init__(self, library: Library | None, session: Session | None = None) -> None:
        self.library = library
        self.session = session
        self._stored: dict[str, Module | None] = {}

    def _module(self, module_id: str) -> Module | None:
        live = self.library.modules.get(module_id) if self.library is not None else None
        if live is not None or self.session is None:
            return live
        if module_id not in self._stored:
            self._stored[module_id] = versions.stored_module(self.session, module_id)
        return self._stored[module_id]

    def _gone(self, shown: str) -> str:
        """An id with no words: noted as gone from the content, when there is a library to say
        so (without one, nothing is known either way)."""
        return f"{shown} ({RETIRED})" if self.library is not None else shown

    def module(self, module_id: str) -> str:
        """A module's title: "Callers who sound sure"; "old-module (no longer in the content)"."""
        found = self._module(module_id)
        return found.title if found is not None else self._gone(module_id)

    def objective(self, module_id: str, objective_id: str) -> str:
        """An objective's text as its module words it, without the closing period; the id with a
        note when that module (or the objective in it) is gone."""
        found = self._module(module_id)
        text = found.objectives.get(objective_id) if found is not None else None
        if not text:
            return self._gone(objective_id)
        return text.strip().rstrip(".")

    def missed(self, module_id: str, objective_id: str) -> str:
        """Why a manager's targeted refresher was assigned: the objective missed, and where."""
        return f"missed \u201c{self.objective(module_id, objective_id)}\u201d in {self.module(module_id)}"

    def detail(self, detail: str | None) -> str | None:
        """An assignment's detail as people read it. Details are written in words; one written
        with ids before December 2026 (``missed objective 'verify-identity' in
        front-desk-callers``) is put in words here. The stored text, and the evidence, keep it as
        it was."""
        if not detail:
            return detail
        old = _OLD_MISSED.fullmatch(detail.strip())
        if old is not None:
            return self.missed(old["module"], old["objective"])
        return detail
