"""Drafts of content files, kept in the database until they are published (issue 32).

A trainer starts a draft from a live file or from a template, edits its Markdown, checks it
(the same bounded check as the Try page), and, where the organization asks for it
(``CONTENT_APPROVAL = "second-person"``), submits it for another trainer or a compliance officer
to approve. Publishing checks the draft with the rest of the content as it is on disk, refuses if
the live file changed since the draft began, writes the file atomically (a temporary file in the
same folder, fsync, ``os.replace``: a reader sees the old file or the new one, never half of
one), stores the new version, and is an evidence record (``content.published``).

Live content stays the files in ``CONTENT_DIR`` (docs/architecture.md, "Where live content
lives"); drafts are rows, so every server sees them, and no learner page reads them.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import assignments, evidence, versions
from .content import ContentError, Library, Module, Scenario, Trial, try_in_place
from .content.curricula import Curricula
from .content.frontmatter import sniff_value
from .content.library import display_path
from .content.parse import version_of
from .models import ContentDraft, ContentDraftEvent, User, utcnow

STATUSES = ("draft", "awaiting-approval", "approved", "published", "discarded")
OPEN = ("draft", "awaiting-approval", "approved")
STATUS_LABELS = {
    "draft": "Draft",
    "awaiting-approval": "Waiting for approval",
    "approved": "Approved, not yet published",
    "published": "Published",
    "discarded": "Discarded",
}
#: CONTENT_APPROVAL: "second-person" (the default) or "none".
APPROVAL_MODES = ("second-person", "none")
#: Who may approve another person's draft.
APPROVERS = ("trainer", "admin", "compliance")
#: Who may write, check, submit, publish and discard drafts.
AUTHORS = ("trainer", "admin")
#: The file publishes take a lock on, in CONTENT_DIR (hidden: the loader leaves it alone).
PUBLISH_LOCK = ".publish-lock"


class DraftRefused(ValueError):
    """What the person asked cannot be done; the message says why, in the product's words."""


class StaleDraft(DraftRefused):
    """The draft changed since the page was shown (another tab, another person)."""


# ------------------------------------------------------------------------------ templates

MODULE_TEMPLATE = """---
id: {id}
title: "{title}"
roles: [front-desk]
minutes: 4
objectives:
{objectives}
cites:
  - 45 CFR 164.530(b)
policy:
  name: Replace with the policy's name
  version: "1.0"
pass_score: {pass_score}
scenarios: [{scenario}]
acknowledgement: >
  I have completed this training and I will follow the policy above.
---

# {title}

## What this is about

Write the first lesson screen here: two to five short paragraphs or a short list.

## What to do

Write the second screen here.

*This module is training, not legal advice. When you are unsure, ask your supervisor or the
privacy officer.*

## Manager notes

Talking points for a team huddle. Never shown to learners.

**When to escalate:** say when, and to whom.

**Follow-up question:** one question to ask the team.
"""

SCENARIO_TEMPLATE = """---
id: {id}
title: "{title}"
start: first
cites: [45 CFR 164.530(b)]
---

# {title}

## The situation {{#first}}
Objective: {objective}

Describe the situation in a few sentences: who, where, and what is asked of the learner.

### The right thing to do -> second
Points: 2

Say why this is right, and cite the rule it follows.

### A harmful mistake -> harm
Points: 0
Critical: yes

Say what harm this does, and why it is critical.

## What comes next {{#second}}
Objective: {objective}

The second decision.

### The right thing to do -> third
Points: 2

Say why this is right.

### A tempting mistake -> went-wrong
Points: 0

Say what goes wrong, and what to do instead.

## The last decision {{#third}}
Objective: {objective}

The third decision.

### The right thing to do -> went-well
Points: 2

Say why this is right.

### A tempting mistake -> went-wrong
Points: 0

Say what goes wrong, and what to do instead.

## It went well {{#went-well}}
Ending: Handled well

What happened next.

## It went wrong {{#went-wrong}}
Ending: Handled badly

What happened next, and what should have been done.

## Harm was done {{#harm}}
Ending: Harm done

What happened, and who must be told.
"""


def module_template(content_id: str, title: str, scenario: Scenario, library: Library) -> str:
    """A blank module using ``scenario`` for its check, with the objectives that check tests
    (each still to be worded) and the pass mark of a module that uses that check alone (else
    the lowest score of a walk of only right answers). It passes ``content check`` as it is."""
    objectives = sorted({n.objective for n in scenario.nodes.values() if n.objective})
    lines = "\n".join(f"  {o}: Replace with what the learner should be able to do." for o in objectives)
    alone = [m.pass_score for m in library.modules.values() if list(m.scenario_ids) == [scenario.id]]
    right = [w.points for w in scenario.walks if w.all_correct]
    pass_score = alone[0] if alone else min(right, default=0)
    return MODULE_TEMPLATE.format(
        id=content_id, title=title, objectives=lines, pass_score=pass_score, scenario=scenario.id
    )


def scenario_template(content_id: str, title: str, objective: str) -> str:
    """A blank check: one decision, a right and a wrong choice, two endings."""
    return SCENARIO_TEMPLATE.format(id=content_id, title=title, objective=objective)


# ------------------------------------------------------------------------------ reading


def get(session: Session, draft_id: int) -> ContentDraft | None:
    return session.get(ContentDraft, draft_id)


def listing(session: Session, *, open_only: bool = True) -> list[ContentDraft]:
    query = select(ContentDraft).order_by(ContentDraft.updated_at.desc(), ContentDraft.id.desc())
    if open_only:
        query = query.where(ContentDraft.status.in_(OPEN))
    return list(session.scalars(query.limit(200)))


def relative_path(root: Path, path: str) -> str:
    """A library path (as errors show it) as a path under ``root``: ``modules/x.md``."""
    return Path(path).absolute().relative_to(Path(root).absolute()).as_posix()


def live_text(root: Path, relative: str) -> str | None:
    """The live file's exact text; None when there is no such file."""
    try:
        return (Path(root) / relative).read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None


def live_version(root: Path, relative: str) -> str | None:
    text = live_text(root, relative)
    return version_of(text) if text is not None else None


def authors(draft: ContentDraft) -> set[int]:
    """Everyone who wrote any of the draft's text (started it or saved a change)."""
    return {e.user_id for e in draft.events if e.action in ("created", "saved")}


def approval(draft: ContentDraft) -> ContentDraftEvent | None:
    """The approval of the draft's current text, if it has one."""
    if draft.status != "approved":
        return None
    return next((e for e in reversed(draft.events) if e.action == "approved"), None)


def can_approve(draft: ContentDraft, user: User, mode: str) -> bool:
    return (
        mode == "second-person"
        and draft.status == "awaiting-approval"
        and user.role in APPROVERS
        and user.id not in authors(draft)
    )


def can_publish(draft: ContentDraft, user: User, mode: str) -> bool:
    if user.role not in AUTHORS:
        return False
    return draft.status == "approved" if mode == "second-person" else draft.status in OPEN


# ------------------------------------------------------------------------------ checking


def trial(root: Path, draft: ContentDraft, time_limit: float | None = None) -> Trial:
    """The draft checked as its file, with the rest of the content as it is on disk now: every
    error of its own, by line, and what it would stop from being served elsewhere."""
    shown = display_path(Path(root) / draft.path)
    result = try_in_place(root, draft.path, draft.text, draft.kind, shown, time_limit)
    written = sniff_value(draft.text, "id")
    if written and written != draft.content_id:
        line = next((n for n, text in enumerate(draft.text.splitlines(), 1) if text.startswith("id:")), 0)
        result.errors.append(
            ContentError(
                shown,
                line,
                f"the id is `{written}`, but this draft is of `{draft.content_id}`: evidence names content by "
                "its id, so a draft keeps it (start a draft from a template for a new one)",
            )
        )
    return result


def draft_library(
    root: Path, draft: ContentDraft, time_limit: float | None = None
) -> tuple[Library, list[ContentError]]:
    """The content library with the draft in place of its live file (or added, for a new
    file), and the draft's own errors: for a play-through preview. The draft's module or
    scenario is in the library only when it has no errors."""
    checked = trial(root, draft, time_limit)
    return checked.library, checked.errors


@dataclass(frozen=True)
class Retraining:
    """Who publishing a new policy version of a module will assign it to again."""

    module_id: str
    before: str | None  # the live policy version
    after: str  # the draft's
    people: list[User]  # the first few, by name
    count: int


def retraining_preview(
    session: Session, curricula: Curricula, live: Library, checked: Trial, today: date, show: int = 10
) -> Retraining | None:
    """For a module draft whose policy version differs from the live module's: who would be
    assigned it again (the rule ``assignments refresh`` and ``content load`` apply, run as a dry
    run). None for a scenario, a new module, or the same policy version."""
    module = checked.content
    if not isinstance(module, Module):
        return None
    current = live.modules.get(module.id)
    if current is None or current.policy_version == module.policy_version:
        return None
    due = assignments.policy_change_preview(session, curricula, checked.library, module.id, today)
    ids = [d.user_id for d in due]
    people = list(session.scalars(select(User).where(User.id.in_(ids)).order_by(User.name, User.id).limit(show)))
    return Retraining(module.id, current.policy_version, module.policy_version, people, len(ids))


# ------------------------------------------------------------------------------ changes


def _event(session: Session, draft: ContentDraft, action: str, by: User, detail: str = "") -> None:
    session.add(
        ContentDraftEvent(draft=draft, action=action, user_id=by.id, version=version_of(draft.text), detail=detail)
    )


def _touch(draft: ContentDraft, by: User) -> None:
    draft.updated_by_id = by.id
    draft.updated_at = utcnow()
    draft.lock += 1


def _expect(draft: ContentDraft, lock: int | None, *statuses: str) -> None:
    if lock is not None and draft.lock != lock:
        raise StaleDraft("This draft changed since you opened it: look at it again before you go on.")
    if draft.status not in statuses:
        raise DraftRefused(f"This draft is {STATUS_LABELS[draft.status].lower()}: that cannot be done now.")


def _normal(text: str) -> str:
    """A textarea's text as a file would have it: LF line ends, ending in one."""
    text = text.replace("\r\n", "\n")
    return text if text.endswith("\n") else text + "\n"


def start(
    session: Session, *, kind: str, content_id: str, path: str, text: str, base_version: str | None, by: User
) -> ContentDraft:
    """A new draft of the file ``path`` (under CONTENT_DIR) from ``text``."""
    draft = ContentDraft(
        kind=kind,
        content_id=content_id,
        path=path,
        text=_normal(text),
        base_version=base_version,
        status="draft",
        lock=1,
        created_by_id=by.id,
        updated_by_id=by.id,
    )
    session.add(draft)
    _event(session, draft, "created", by, f"from {path}" if base_version else "from a template")
    session.flush()
    return draft


def start_from_live(session: Session, root: Path, item: Module | Scenario, by: User) -> ContentDraft:
    """A draft of a live module or scenario: its file's text as it is on disk now."""
    relative = relative_path(root, item.path)
    text = live_text(root, relative)
    if text is None:
        raise DraftRefused("That file is no longer in the content folder.")
    kind = "module" if isinstance(item, Module) else "scenario"
    return start(session, kind=kind, content_id=item.id, path=relative, text=text, base_version=version_of(text), by=by)


def start_from_template(
    session: Session, root: Path, *, kind: str, content_id: str, text: str, by: User
) -> ContentDraft:
    """A draft of a new file, ``modules/<id>.md`` or ``scenarios/<id>.md``."""
    relative = f"{'modules' if kind == 'module' else 'scenarios'}/{content_id}.md"
    if (Path(root) / relative).exists():
        raise DraftRefused(f"There is already a file {relative}: start a draft from it instead.")
    return start(session, kind=kind, content_id=content_id, path=relative, text=text, base_version=None, by=by)


def save(session: Session, draft: ContentDraft, text: str, lock: int, by: User) -> bool:
    """Keep the new text. A change sends an approved or submitted draft back to "draft": an
    approval is of the text approved. True if the text changed."""
    _expect(draft, lock, *OPEN)
    text = _normal(text)
    if text == draft.text:
        return False
    draft.text = text
    draft.status = "draft"
    _touch(draft, by)
    _event(session, draft, "saved", by)
    session.flush()
    return True


def checked(session: Session, draft: ContentDraft, result: Trial, by: User) -> None:
    """Record that the draft was checked, and what was found."""
    errors, caused = len(result.errors), len(result.caused)
    _event(session, draft, "checked", by, f"{errors} errors, {caused} elsewhere" if errors or caused else "no errors")
    session.flush()


def submit(session: Session, draft: ContentDraft, result: Trial, lock: int, by: User) -> None:
    """Ask for a second person's approval; only a draft that checks clean."""
    _expect(draft, lock, "draft")
    if by.role not in AUTHORS:
        raise DraftRefused("Only a trainer can submit a draft.")
    if result.errors or result.caused:
        raise DraftRefused("Fix the errors first: a draft with errors cannot be approved.")
    draft.status = "awaiting-approval"
    _touch(draft, by)
    _event(session, draft, "submitted", by)
    session.flush()


def approve(session: Session, draft: ContentDraft, lock: int, by: User, mode: str) -> None:
    """A second person's approval of the draft's text as it is."""
    _expect(draft, lock, "awaiting-approval")
    if by.role not in APPROVERS:
        raise DraftRefused("Only a trainer or a compliance officer can approve a draft.")
    if by.id in authors(draft):
        raise DraftRefused("Someone other than its authors must approve a draft.")
    if mode != "second-person":
        raise DraftRefused("This organization publishes drafts without approval.")
    draft.status = "approved"
    _touch(draft, by)
    _event(session, draft, "approved", by)
    session.flush()


def discard(session: Session, draft: ContentDraft, lock: int, by: User) -> None:
    _expect(draft, lock, *OPEN)
    draft.status = "discarded"
    _touch(draft, by)
    _event(session, draft, "discarded", by)
    session.flush()


def changed_since(session: Session, draft: ContentDraft) -> ContentDraft | None:
    """Another draft of the same file published after this one began: who changed it."""
    return session.scalar(
        select(ContentDraft)
        .where(
            ContentDraft.path == draft.path,
            ContentDraft.status == "published",
            ContentDraft.id != draft.id,
            ContentDraft.updated_at >= draft.created_at,
        )
        .order_by(ContentDraft.updated_at.desc())
        .limit(1)
    )


def publish(session: Session, root: Path, draft: ContentDraft, result: Trial, lock: int, by: User, mode: str) -> str:
    """Make the draft the live file; return the new file's SHA-256 (its content version).

    ``result`` is the draft's ``trial`` against the content as it is now: a draft with errors,
    or one that would stop another file from being served, is refused. So is one whose live
    file changed since it began (``base_version``), and, under "second-person", one not
    approved. The file is written atomically under a lock on CONTENT_DIR (one publish at a
    time, on any server sharing the folder), then the version is stored and the evidence
    record made in the caller's transaction."""
    _expect(draft, lock, *(("approved",) if mode == "second-person" else OPEN))
    if by.role not in AUTHORS:
        raise DraftRefused("Only a trainer can publish a draft.")
    if result.errors or result.caused:
        raise DraftRefused("Fix the errors first: a draft with errors cannot be published.")
    content = result.content
    if content is None or content.version != version_of(draft.text):
        raise DraftRefused("Check the draft again before you publish it.")
    approved = approval(draft)
    target = Path(root) / draft.path
    with _publish_lock(Path(root)):
        if live_version(root, draft.path) != draft.base_version:
            raise DraftRefused(
                "The live file changed since this draft began: someone else published or edited it. "
                "Start a new draft from the live file and carry your changes over."
            )
        write_atomically(target, draft.text)
    new_version = version_of(draft.text)
    versions.remember(session, content)
    draft.status = "published"
    _touch(draft, by)
    _event(session, draft, "published", by, new_version)
    approver = session.get(User, approved.user_id) if approved is not None else None
    evidence.append(
        session,
        "content.published",
        user=by,
        module_id=content.id if isinstance(content, Module) else None,
        content_version=new_version,
        policy_version=content.policy_version if isinstance(content, Module) else None,
        details={
            "kind": draft.kind,
            "content_id": draft.content_id,
            "path": draft.path,
            "sha256": new_version,
            "replaced": draft.base_version,
            "draft": draft.id,
            "approved_by": f"{approver.name} <{approver.email}>" if approver else None,
            "approval": mode,
        },
    )
    session.flush()
    return new_version


# ------------------------------------------------------------------------------ the file


@contextmanager
def _publish_lock(root: Path) -> Iterator[None]:
    """One publish at a time into this folder, from any process on any server that shares it
    (``flock``; Linux's NFS client maps it to a lock the server holds)."""
    with open(root / PUBLISH_LOCK, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a reader finds the old file or the new one, never
    part of one: a hidden temporary file in the same folder (not ``.md``: never read), written and
    flushed to disk, then renamed over the file, and the folder flushed too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(temporary, "xb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
