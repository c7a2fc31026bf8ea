"""Content versions: keep the exact source of what learners saw, and get it back by hash.

An attempt is pinned to the versions it started on. If a trainer edits a file mid-attempt the
learner still finishes on the text they began with, and evidence names that text's hash.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .content import Library, Module, Scenario, parse_stored
from .models import ContentVersion


def remember(session: Session, item: Module | Scenario) -> bool:
    """Store this version's source if the database does not have it yet. True if stored now."""
    if session.get(ContentVersion, item.version) is not None:
        return False
    session.add(as_row(item))
    session.flush()
    return True


def as_row(item: Module | Scenario) -> ContentVersion:
    """A version as the row that keeps it (not added to any session)."""
    return ContentVersion(
        version=item.version,
        kind="module" if isinstance(item, Module) else "scenario",
        content_id=item.id,
        specialty=getattr(item, "specialty", None),
        path=item.path,
        source=item.source,
    )


def remember_library(session: Session, library: Library) -> int:
    items: list[Module | Scenario] = [*library.modules.values(), *library.all_scenarios()]
    return sum(remember(session, item) for item in items)


def _index(library: Library) -> dict[str, Module | Scenario]:
    index = getattr(library, "_by_version", None)
    if index is None:
        index = {m.version: m for m in library.modules.values()}
        index.update({s.version: s for s in library.all_scenarios()})
        library._by_version = index  # type: ignore[attr-defined]
    return index


def resolve(session: Session, library: Library, version: str) -> Module | Scenario:
    """The parsed content for a version: from the live library, else from the stored source."""
    found = _index(library).get(version)
    if found is not None:
        return found
    stored = session.get(ContentVersion, version)
    if stored is None:
        raise LookupError(f"content version {version} is not stored")
    return parse_stored(stored.kind, stored.path, stored.source)


def stored_module(session: Session, module_id: str) -> Module | None:
    """A module the library no longer has (withdrawn, renamed, its file has errors), as its most
    recently stored version was; None when it was never stored or no longer parses."""
    stored = session.scalar(
        select(ContentVersion)
        .where(ContentVersion.kind == "module", ContentVersion.content_id == module_id)
        .order_by(ContentVersion.stored_at.desc())
        .limit(1)
    )
    if stored is None:
        return None
    try:
        found = parse_stored(stored.kind, stored.path, stored.source)
    except ValueError:  # a stored text a later parser rejects: the id will do
        return None
    return found if isinstance(found, Module) else None


def titles(session: Session, library: Library, module_ids: Iterable[str]) -> dict[str, str]:
    """Module titles for reports: the library's, and for a module no longer in it (withdrawn,
    renamed, its file has errors) the title of its most recently stored version, so a transcript
    names what was taken rather than a file id. An id never stored is left out."""
    found = {m.id: m.title for m in library.modules.values()}
    for module_id in set(module_ids) - found.keys():
        stored = stored_module(session, module_id)
        if stored is not None:
            found[module_id] = stored.title
    return found
