"""The daily check of the evidence chain: held to the last good check, and told to the people
who answer for the evidence when it fails.

A hash chain alone cannot show that its newest records were deleted (what is left verifies), so
each good daily check keeps its count and head hash outside the database (``remember_good``) and
the next must find that record unchanged (``check``; the Check the chain page does the same).
A hash chain is tamper-evident only if someone looks, and a check that fails in a cron job's
log is a check nobody saw. ``flask evidence verify --alert`` (daily, from cron) writes to every
active compliance officer and admin when the chain does not verify: by SMTP when it is set up,
and always in the outbox (Admin > Outbox), once a day per person however often the job runs; a
message the server refused is tried again on the next run that day. A chain that verifies sends
nothing. Plain Python: the caller gives the SMTP settings and the site's address, and the steps
(``db.Steps``) the sending runs in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock, jobs, mailer, reminders
from .db import Steps
from .evidence import Verification, first_at_or_after, still_extends, utc_timestamp, verify
from .models import OutboxMessage, User, utcnow

#: The outbox kind of these messages (Admin > Outbox shows it as "Chain check failed").
KIND = "chain-alert"
#: Who is told: those who can open Compliance > Check the chain.
ROLES = ("compliance", "admin")
QUEUED = reminders.QUEUED


@dataclass
class Report:
    nobody: bool = False  # no active compliance officer or admin to tell
    told: int = 0  # new messages today
    already: int = 0  # told earlier today (sent, or kept when there is no SMTP)
    sent: int = 0
    failed: int = 0

    def __str__(self) -> str:
        if self.nobody:
            return "alert: NOBODY TOLD: there is no active compliance officer or admin (flask users set-role)"
        return (f"alert: {self.told} new, {self.already} already told today, {self.sent} sent by SMTP, "
                f"{self.failed} refused by the SMTP server (kept in the outbox)")


#: Where the daily check keeps its last good result: in the instance folder, outside the
#: database, so that someone who can change the database cannot move it.
LAST_GOOD = "evidence-last-good-check.json"


@dataclass(frozen=True)
class GoodCheck:
    count: int
    head_hash: str
    checked_at: str  # UTC, ISO 8601


def last_good(instance_path: str | Path) -> GoodCheck | None:
    """The daily check's last good result, or None if it never ran here (or its file is not
    one it wrote: then the next good check writes it again)."""
    try:
        found = json.loads((Path(instance_path) / LAST_GOOD).read_text(encoding="utf-8"))
        return GoodCheck(int(found["count"]), str(found["head_hash"]), str(found["checked_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember_good(instance_path: str | Path, result: Verification) -> None:
    """Keep a good check's count and head hash for the next check to hold the log to."""
    path = Path(instance_path) / LAST_GOOD
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps({"count": result.count, "head_hash": result.head_hash,
                                   "checked_at": utc_timestamp()}) + "\n", encoding="utf-8")
    partial.replace(path)  # never half a file


def check_against_last_good(session: Session, result: Verification, instance_path: str | Path) -> Verification:
    """``result`` held to the last good check, if there was one: see ``evidence.still_extends``."""
    before = last_good(instance_path)
    return result if before is None else still_extends(session, result, before.count, before.head_hash)


@dataclass(frozen=True)
class Checked:
    result: Verification
    at_fault: int | None  # the record to open: the one at fault, or the first after a gap


def check(session: Session, instance_path: str | Path | None) -> Checked:
    """Verify the whole chain, held to the last good check kept in ``instance_path`` (None: the
    chain alone, e.g. for a backup copy), and find the record to show for a failure."""
    result = verify(session)
    if instance_path is not None:
        result = check_against_last_good(session, result, instance_path)
    at_fault = first_at_or_after(session, result.seq) if result.seq is not None else None
    return Checked(result, at_fault)


def recipients(session: Session) -> list[User]:
    return list(session.scalars(
        select(User).where(User.role.in_(ROLES), User.active.is_(True)).order_by(User.email)
    ))


def compose(result: Verification, today: date, base_url: str, at_fault: int | None) -> tuple[str, str]:
    """The subject and the body: what failed, what it means, and what to do (and not do)."""
    base = base_url.rstrip("/")
    record = f"{base}/audit/records/{at_fault}" if at_fault is not None else None
    subject = f"Rounds: the evidence chain failed its check ({today.isoformat()})"
    body = "\n".join([
        f"The daily check of Rounds' evidence log failed on {today.isoformat()}:",
        "",
        f"    record {result.seq}: {result.problem}",
        "",
        "The records before it are intact; from this one on, the log can no longer show that its",
        "records are the ones Rounds wrote. Until it is explained:",
        "",
        "- Do not change, restore or \"repair\" the database: it is the evidence of what happened.",
        f"- See it for yourself: Compliance > Check the chain, {base}/audit/chain"
        + (f"\n  and the record at fault, {record}" if record else ""),
        "- Compare with the head hash written down outside the database at the last good check,",
        "  and with the newest backup (docs/operations.md, Evidence and Backups).",
        "- Tell the database administrator, and follow your security incident procedure: a",
        "  changed training record may be a reportable incident in its own right.",
        "",
        "Every compliance officer and admin of Rounds gets this message, once a day while the",
        "check fails (flask --app app evidence verify --alert).",
    ])
    return subject, body


def send(
    session: Session,
    result: Verification,
    today: date,
    *,
    smtp: mailer.SmtpSettings | None,
    base_url: str,
    at_fault: int | None = None,
    sender=mailer.send,
    steps: Steps | None = None,
) -> Report:
    """Tell every recipient once today (the outbox row is the proof), in steps (``steps``, as
    the caller's layer runs them; by default a transaction each): no transaction is open while
    talking to the SMTP server. ``today``, the day the check ran, is never a day to come
    (ValueError: clock.check_not_future)."""
    clock.check_not_future(today)
    steps = steps or Steps(session)
    report = Report()
    if result.ok:
        return report
    subject, body = compose(result, today, base_url, at_fault)
    with jobs.exclusive_run(session, "chain-alert", "evidence verify --alert", steps):  # two runs never send one twice
        with steps.read():
            people = [(p.id, p.email, p.name) for p in recipients(session)]
        for person in people:
            _tell(session, steps, person, subject, body, today, smtp, sender, report)
    report.nobody = not people
    return report


def _tell(session: Session, steps: Steps, person: tuple[int, str, str], subject: str, body: str, today: date,
          smtp: mailer.SmtpSettings | None, sender, report: Report) -> None:
    """One person's message: kept (one step), then sent with no transaction open, then its
    outcome kept (another step)."""
    person_id, to_address, to_name = person
    with steps.write():
        message_id = _keep(session, person_id, to_address, subject, body, today, smtp, report)
    if message_id is None or smtp is None:
        return
    error = None
    try:
        sender(mailer.build(sender=smtp.sender, to_address=to_address, to_name=to_name, subject=subject,
                            body=body, message_id=f"<rounds-{KIND}-{message_id}@{mailer.sender_domain(smtp.sender)}>"),
               smtp)
    except mailer.FAILURES as exc:  # the message stays in the outbox, with why
        error = mailer.describe_failure(exc)
    with steps.write():
        row = session.get(OutboxMessage, message_id)
        if error is None:
            row.sent_at, row.transport, row.error = utcnow(), "smtp", None
            report.sent += 1
        else:
            row.error = error
            report.failed += 1


def _keep(session: Session, person_id: int, to_address: str, subject: str, body: str, today: date,
          smtp: mailer.SmtpSettings | None, report: Report) -> int | None:
    """Today's message to this person in the outbox, and its id; None if they were told today
    already (sent, or kept when there is no SMTP server)."""
    row = session.scalar(select(OutboxMessage).where(
        OutboxMessage.to_address == to_address, OutboxMessage.kind == KIND, OutboxMessage.digest_day == today))
    if row is not None and (row.sent_at is not None or smtp is None):
        report.already += 1
        return None
    if row is None:
        row = OutboxMessage(to_user_id=person_id, to_address=to_address, subject=subject, body=body, kind=KIND,
                            digest_day=today, transport="outbox", error=QUEUED if smtp else None)
        session.add(row)
        report.told += 1
    else:  # refused earlier today: try again, with today's words
        row.subject, row.body = subject, body
    session.flush()
    return row.id  # read in the step: reading it after its commit would open a transaction
