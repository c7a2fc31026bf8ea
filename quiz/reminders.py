"""Email reminders: a daily digest to each learner with training due soon or overdue, and a
daily escalation to each supervisor whose reports are overdue by N days or more (no Flask).

``plan`` works out who gets what today. ``send_all`` (the daily ``reminders send`` job) writes
each message to the outbox table and, when SMTP is configured, hands it to the server.

Never a flood: the outbox holds at most one message of each kind per address per day (a unique
constraint), so running the job again the same day sends nothing new; it only retries today's
messages that did not go out. Only one run works at a time (``jobs.exclusive_run``).

Nothing lost, nothing doubled: the job runs in steps (``db.Steps``, given by the layer that runs
it), each a transaction of its own: messages are kept in the outbox, a batch at a time, in one
step *before* each is handed to the SMTP server (``error`` says "queued" until the attempt is over), and the outcome is
kept right after, with its evidence record, in the next. No transaction is open while talking
to the server (on SQLite that would block every other writer). A crash before the
hand-over leaves a queued row that the next run today sends; the only way to send a message
twice is a crash in the instant between the server's "250 accepted" and that commit, and the
copy carries the same Message-ID.

Evidence: a message's delivery is recorded when it is settled, in the transaction that records
it: "reminder.sent" (the learner; the assignments listed) or "reminder.escalated" (one record per
overdue learner named; the supervisor, assignments and days overdue), with the transport:
"smtp", or "outbox" when no SMTP server is configured or the server did not take it (then with
the error). A message kept in the outbox that a later run sends by SMTP gets a second record
saying so. Emails name module titles and due dates only: no PHI.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from . import clock, evidence, jobs, mailer
from .content import Library
from .content_names import ContentNames
from .db import Steps
from .models import Assignment, OutboxMessage, User, utcnow
from .words import ngettext

#: ``OutboxMessage.error`` while a message waits for its first hand-over to the SMTP server.
QUEUED = "queued: not yet handed to the SMTP server"
#: Evidence records per writing step that keeps messages in the outbox (a learner's digest is
#: one, an escalation one per person it names): a few tens of milliseconds of SQLite's write
#: lock (bench/README.md, "Daily jobs").
BATCH = 100


@dataclass(frozen=True)
class Settings:
    smtp: mailer.SmtpSettings | None = None  # None: keep every message in the outbox
    due_soon_days: int = 14
    escalate_after_days: int = 7
    base_url: str = "http://127.0.0.1:5000"


def settings_from_config(config: Mapping[str, Any], due_soon_days: int) -> Settings:
    """Settings from the app config (quiz/config.py); ``due_soon_days`` from the curricula."""
    escalate = int(config.get("REMINDER_ESCALATE_AFTER_DAYS", 7))
    if escalate < 1:
        raise ValueError("REMINDER_ESCALATE_AFTER_DAYS must be 1 or more")
    return Settings(
        smtp=mailer.settings_from_config(config),
        due_soon_days=due_soon_days,
        escalate_after_days=escalate,
        base_url=(config.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
    )


# --- planning --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One assignment named in a message."""

    assignment_id: int
    module_id: str
    title: str
    due_on: date
    days_overdue: int  # 0 or less: due in -days_overdue days
    learner_id: int
    learner_name: str
    learner_email: str

    def evidence(self) -> dict[str, Any]:
        return {
            "assignment": self.assignment_id,
            "module": self.module_id,
            "due_on": self.due_on.isoformat(),
            "days_overdue": max(self.days_overdue, 0),
        }


@dataclass(frozen=True)
class Digest:
    """One message: a learner's digest (kind "digest") or a supervisor's ("escalation")."""

    kind: str
    to_user_id: int
    to_address: str
    to_name: str
    items: tuple[Item, ...]
    to_role: str = "learner"  # the account role: managers and admins get a link to their team page


def plan(
    session: Session,
    today: date,
    due_soon_days: int,
    escalate_after_days: int,
    *,
    library: Library | None = None,
) -> list[Digest]:
    """Who gets what today: one digest per active person with open assignments due within
    ``due_soon_days`` or overdue; one escalation per active supervisor listing their active
    reports' assignments overdue by ``escalate_after_days`` or more. Learners first."""
    horizon = today + timedelta(days=due_soon_days)
    rows = session.execute(
        select(Assignment, User)
        .join(User, Assignment.user_id == User.id)
        .where(
            Assignment.state.in_(("open", "overdue")),
            Assignment.due_on <= horizon,
            User.active.is_(True),
        )
        .order_by(User.id, Assignment.due_on, Assignment.id)
    ).all()
    learners: dict[int, tuple[User, list[Item]]] = {}
    escalate: dict[int, list[Item]] = defaultdict(list)
    names = ContentNames(library, session)
    for a, person in rows:
        item = Item(
            assignment_id=a.id,
            module_id=a.module_id,
            title=names.module(a.module_id),
            due_on=a.due_on,
            days_overdue=(today - a.due_on).days,
            learner_id=person.id,
            learner_name=person.name,
            learner_email=person.email,
        )
        learners.setdefault(person.id, (person, []))[1].append(item)
        if item.days_overdue >= escalate_after_days and person.supervisor_id is not None:
            escalate[person.supervisor_id].append(item)
    digests = [
        Digest("digest", person.id, person.email, person.name, tuple(items)) for person, items in learners.values()
    ]
    for supervisor_id in sorted(escalate):
        supervisor = session.get(User, supervisor_id)
        if supervisor is None or not supervisor.active:
            continue
        items = sorted(escalate[supervisor_id], key=lambda i: (i.learner_name, i.learner_id, i.due_on, i.assignment_id))
        digests.append(
            Digest("escalation", supervisor.id, supervisor.email, supervisor.name, tuple(items), supervisor.role)
        )
    return digests


def unescalated(digests: list[Digest], escalate_after_days: int) -> list[int]:
    """Learners overdue by N days or more with no active supervisor to tell (for the report)."""
    told = {i.learner_id for d in digests if d.kind == "escalation" for i in d.items}
    missing = set()
    for d in digests:
        if d.kind == "digest" and any(i.days_overdue >= escalate_after_days for i in d.items):
            if d.to_user_id not in told:
                missing.add(d.to_user_id)
    return sorted(missing)


# --- writing the messages --------------------------------------------------------------------


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def _days(n: int) -> str:
    return ngettext("%(num)d day", "%(num)d days", n)


def _when(item: Item) -> str:
    if item.days_overdue > 0:
        return f"overdue by {_days(item.days_overdue)} (was due {_day(item.due_on)})"
    if item.days_overdue == 0:
        return f"due today, {_day(item.due_on)}"
    if item.days_overdue == -1:
        return f"due tomorrow, {_day(item.due_on)}"
    return f"due {_day(item.due_on)} (in {_days(-item.days_overdue)})"


def compose(digest: Digest, settings: Settings) -> tuple[str, str]:
    """Subject and plain-text body. Names, module titles and due dates only: no PHI."""
    if digest.kind == "escalation":
        return _compose_escalation(digest, settings)
    overdue = sum(1 for i in digest.items if i.days_overdue > 0)
    soon = len(digest.items) - overdue
    if overdue and soon:
        subject = ngettext(
            "Rounds: %(num)d module overdue and %(soon)d due soon",
            "Rounds: %(num)d modules overdue and %(soon)d due soon",
            overdue,
            soon=soon,
        )
    elif overdue:
        subject = ngettext("Rounds: %(num)d module overdue", "Rounds: %(num)d modules overdue", overdue)
    else:
        subject = ngettext("Rounds: %(num)d module due soon", "Rounds: %(num)d modules due soon", soon)
    lines = [
        f"Hello {digest.to_name},",
        "",
        "This is your reminder from Rounds about training you owe:",
        "",
    ]
    for item in digest.items:
        when = _when(item)
        lines += [f"- {item.title}", f"  {when[0].upper()}{when[1:]}", ""]
    lines += [
        f"Take it here: {settings.base_url}/learn/",
        "",
        "You get at most one of these emails a day, and only while training is due within",
        f"{_days(settings.due_soon_days)} or overdue. When training is overdue by "
        f"{_days(settings.escalate_after_days)} or more,",
        "your supervisor is told too.",
    ]
    return subject, "\n".join(lines) + "\n"


def _compose_escalation(digest: Digest, settings: Settings) -> tuple[str, str]:
    by_learner: dict[int, list[Item]] = {}
    for item in digest.items:
        by_learner.setdefault(item.learner_id, []).append(item)
    people = len(by_learner)
    subject = ngettext(
        "Rounds: overdue training for %(num)d person you supervise",
        "Rounds: overdue training for %(num)d people you supervise",
        people,
    )
    lines = [
        f"Hello {digest.to_name},",
        "",
        f"Training of people who report to you is overdue by {_days(settings.escalate_after_days)} or more:",
        "",
    ]
    for items in by_learner.values():
        lines.append(f"{items[0].learner_name} ({items[0].learner_email})")
        for item in items:
            lines.append(f"- {item.title}: due {_day(item.due_on)}, overdue by {_days(item.days_overdue)}")
        lines.append("")
    lines += [
        "Each of them gets their own reminder every day until it is done.",
        "Please help them find a few minutes for it.",
        "",
        f"Your team in Rounds: {settings.base_url}/manage/"
        if digest.to_role in ("manager", "admin")
        else f"Rounds: {settings.base_url}/",
    ]
    return subject, "\n".join(lines) + "\n"


# --- sending ---------------------------------------------------------------------------------


@dataclass
class Report:
    day: date
    digests: int = 0  # learner digests planned today
    escalations: int = 0  # supervisor escalations planned today
    new: int = 0  # messages added to the outbox by this run
    retried: int = 0  # today's messages not sent earlier, tried again
    already: int = 0  # today's messages already sent (or kept, with no SMTP): left alone
    sent: int = 0  # handed to the SMTP server
    kept: int = 0  # kept in the outbox (no SMTP configured)
    failed: int = 0  # the SMTP server did not take them: kept in the outbox with the error
    unescalated: list[int] = field(default_factory=list)  # overdue learners without a supervisor

    def __str__(self) -> str:
        digests = ngettext("%(num)d digest", "%(num)d digests", self.digests)
        escalations = ngettext("%(num)d escalation", "%(num)d escalations", self.escalations)
        text_ = (
            f"reminders for {self.day.isoformat()}: {digests}, {escalations}; "
            f"{self.new} new, {self.retried} retried, {self.already} already done today; "
            f"{self.sent} sent by SMTP, {self.kept} kept in the outbox, {self.failed} failed"
        )
        if self.unescalated:
            text_ += "; " + ngettext(
                "%(num)d overdue learner has no active supervisor to tell",
                "%(num)d overdue learners have no active supervisor to tell",
                len(self.unescalated),
            )
        return text_


def _record(
    session: Session, digest: Digest, message_id: int, today: date, transport: str, error: str | None, retry: bool
) -> None:
    """The evidence for one settled message, in the caller's transaction."""
    outcome: dict[str, Any] = {"outbox_message": message_id, "digest_day": today.isoformat(), "transport": transport}
    if error is not None:
        outcome["error"] = error
    if retry:
        outcome["retry"] = True
    if digest.kind == "digest":
        evidence.append(
            session,
            "reminder.sent",
            user=session.get(User, digest.to_user_id),
            details={"to": digest.to_address, "assignments": [i.evidence() for i in digest.items], **outcome},
        )
        return
    by_learner: dict[int, list[Item]] = {}
    for item in digest.items:
        by_learner.setdefault(item.learner_id, []).append(item)
    for learner_id, items in by_learner.items():
        evidence.append(
            session,
            "reminder.escalated",
            user=session.get(User, learner_id),
            details={
                "supervisor": digest.to_address,
                "assignments": [i.evidence() for i in items],
                **outcome,
            },
        )


Sender = Callable[[Any, mailer.SmtpSettings], None]


def send_all(
    session: Session,
    today: date,
    library: Library | None,
    settings: Settings,
    *,
    sender: Sender = mailer.send,
    steps: Steps | None = None,
) -> Report:
    """The daily job, in steps: one read to plan it, then for each batch of ``BATCH`` messages a
    short write to keep them in the outbox, and for each message kept to be sent the hand-over
    to the SMTP server with no transaction open and a short write for its outcome (without SMTP
    the batch's step is all there is: the message and its evidence). ``steps`` runs each step as
    the caller's layer decides (by default ``db.Steps``: a transaction each, committed at its
    end); nothing here commits. One run at a time (the run lock ``reminders``).

    For each planned message: if today's message for that address and kind was already sent
    (or, without SMTP, already kept), nothing happens. If it is in the outbox but not sent and
    SMTP is configured, it is brought up to date and sent again. Otherwise it is added.

    ``today`` may be a day the job missed, never one to come: ValueError, before anything is
    written or sent (clock.check_not_future).
    """
    clock.check_not_future(today)
    steps = steps or Steps(session)
    report = Report(day=today)
    with jobs.exclusive_run(session, "reminders", "reminders send", steps):
        with steps.read():
            digests = plan(session, today, settings.due_soon_days, settings.escalate_after_days, library=library)
        report.digests = sum(1 for d in digests if d.kind == "digest")
        report.escalations = len(digests) - report.digests
        report.unescalated = unescalated(digests, settings.escalate_after_days)
        for batch in _batches(digests):
            _deliver(session, steps, batch, today, settings, report, sender)
    return report


def _batches(digests: list[Digest]) -> list[list[Digest]]:
    """The digests in batches of about ``BATCH`` evidence records each: one for a learner's
    digest, one per person named for a supervisor's escalation (which can name hundreds)."""
    batches: list[list[Digest]] = [[]]
    weight = 0
    for digest in digests:
        records = 1 if digest.kind == "digest" else len({i.learner_id for i in digest.items})
        if batches[-1] and weight + records > BATCH:
            batches.append([])
            weight = 0
        batches[-1].append(digest)
        weight += records
    return [b for b in batches if b]


def _load_people(session: Session, batch: list[Digest]) -> None:
    """Everyone the batch's evidence names, with their supervisors, in one query (then
    ``session.get`` finds them without one each)."""
    ids = {d.to_user_id for d in batch} | {i.learner_id for d in batch for i in d.items}
    session.scalars(select(User).options(joinedload(User.supervisor)).where(User.id.in_(sorted(ids)))).all()


def _deliver(
    session: Session,
    steps: Steps,
    batch: list[Digest],
    today: date,
    settings: Settings,
    report: Report,
    sender: Sender,
) -> None:
    """Keep a batch of messages in the outbox in one step; then hand over each one to send."""
    composed = [(digest, *compose(digest, settings)) for digest in batch]
    with steps.write():
        _load_people(session, batch)
        kept = [
            (digest, subject, body, _keep(session, digest, today, settings, subject, body, report))
            for digest, subject, body in composed
        ]
    for digest, subject, body, message in kept:
        if message is not None:
            _hand_over(session, steps, digest, subject, body, message, today, settings, report, sender)


def _hand_over(
    session: Session,
    steps: Steps,
    digest: Digest,
    subject: str,
    body: str,
    kept: tuple[int, bool],
    today: date,
    settings: Settings,
    report: Report,
    sender: Sender,
) -> None:
    """One message to the SMTP server, with no transaction open; its outcome kept at once after."""
    message_id, first = kept

    # No transaction is open from here until the outcome is recorded.
    smtp = settings.smtp
    if smtp is None:  # _keep hands over nothing when there is no SMTP server
        raise ValueError("no SMTP server to hand the message to")
    error: str | None = None
    try:
        message = mailer.build(
            sender=smtp.sender,
            to_address=digest.to_address,
            to_name=digest.to_name,
            subject=subject,
            body=body,
            message_id=f"<rounds-outbox-{message_id}.{today.isoformat()}@{mailer.sender_domain(smtp.sender)}>",
        )
        sender(message, smtp)
    except mailer.FAILURES as exc:
        error = mailer.describe_failure(exc)

    with steps.write():
        _load_people(session, [digest])
        row = session.get_one(OutboxMessage, message_id)
        if error is None:
            row.sent_at, row.transport, row.error = utcnow(), "smtp", None
            _record(session, digest, message_id, today, "smtp", None, retry=not first)
            report.sent += 1
        else:
            row.transport, row.error = "outbox", error
            if first:  # settled for now: kept in the outbox; a later success is recorded again
                _record(session, digest, message_id, today, "outbox", error, retry=False)
            report.failed += 1


def _keep(
    session: Session, digest: Digest, today: date, settings: Settings, subject: str, body: str, report: Report
) -> tuple[int, bool] | None:
    """Today's message for the digest, in the outbox: (its id, whether this is its first
    hand-over) when it is to be sent now; None when there is nothing to send (sent already, or
    kept in the outbox with its evidence, there being no SMTP server)."""
    row = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.to_address == digest.to_address,
            OutboxMessage.kind == digest.kind,
            OutboxMessage.digest_day == today,
        )
    )
    if row is not None and (row.sent_at is not None or settings.smtp is None):
        report.already += 1
        return None
    if row is None:
        row = OutboxMessage(
            to_user_id=digest.to_user_id,
            to_address=digest.to_address,
            subject=subject,
            body=body,
            kind=digest.kind,
            digest_day=today,
            transport="outbox",
            error=QUEUED if settings.smtp is not None else None,
        )
        try:
            with session.begin_nested():  # a savepoint in the step's transaction
                session.add(row)
        except IntegrityError:  # added meanwhile (the run lock makes this all but impossible)
            report.already += 1
            return None
        report.new += 1
        if settings.smtp is None:
            _record(session, digest, row.id, today, "outbox", None, retry=False)
            report.kept += 1
            return None
        return row.id, True
    # In the outbox, not sent: the server refused it, a run stopped, or SMTP is new today.
    first = row.error == QUEUED
    row.subject, row.body = subject, body  # what goes out is what the outbox shows
    report.retried += 1
    return row.id, first
