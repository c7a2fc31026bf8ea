"""The daily check of the evidence chain: held to the anchor and the assignments to the
evidence, and told to the people who answer for the evidence, every day.

A hash chain alone cannot show that its newest records were deleted (what is left verifies), so
each good daily check appends its head to the anchor file (quiz/anchor.py: other storage, lines
MACed with the evidence key; ``record_good``), and every check must find the log still holding
the last line's record with that hash (``check``; the Check the chain page does the same). A
missing anchor file is read as the first run only when nothing says it was started: neither an
``evidence.anchor-started`` record in the log nor this server's marker in the instance folder;
otherwise it is an alarm, and so is a corrupt one. The check also holds every done, waived and
cleared to the evidence behind it (quiz/state_check.py).

A check is worth something only if someone sees it. ``flask evidence verify --alert`` (daily,
from cron) writes to every active compliance officer and admin: an alert when the check fails,
and the day's head when it passes (a copy of the head outside the database), by SMTP when it is
set up and always in the outbox (Admin > Outbox), once a day per person and kind however often
the job runs; a message the server refused is tried again on the next run that day. Plain
Python: the caller gives the SMTP settings and the site's address, and the steps (``db.Steps``)
the sending runs in.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import anchor, clock, evidence, jobs, mailer, reminders, state_check
from .db import Steps
from .evidence import Verification, first_at_or_after, keyring_for, still_extends, verify
from .evidence_keys import Keyring
from .models import Evidence, OutboxMessage, User, utcnow
from .state_check import Disagreement
from .words import ngettext

#: The outbox kind of these messages (Admin > Outbox shows it as "Chain check failed").
KIND = "chain-alert"
#: The outbox kind of a good check's message: the day's head (Admin > Outbox: "Chain head").
HEAD_KIND = "chain-head"
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
        return (
            f"alert: {self.told} new, {self.already} already told today, {self.sent} sent by SMTP, "
            f"{self.failed} refused by the SMTP server (kept in the outbox)"
        )


#: The record that says the anchor was started: from then on a missing anchor file is an alarm.
ANCHOR_STARTED = "evidence.anchor-started"
#: Written in the instance folder (not the anchor's storage) when this server starts the anchor:
#: a second witness that it was, which whoever can reach the anchor's storage or the database
#: cannot remove.
STARTED_MARKER = "evidence-anchor-started"
#: The daily check's memory before the anchor (read once, when the anchor is started).
LEGACY_LAST_GOOD = "evidence-last-good-check.json"


@dataclass(frozen=True)
class AnchorPlace:
    path: Path  # the anchor file (EVIDENCE_ANCHOR_PATH)
    instance_path: Path  # where this server notes that it started it


def anchor_place(config, instance_path: str | Path) -> AnchorPlace:
    return AnchorPlace(Path(config["EVIDENCE_ANCHOR_PATH"]), Path(instance_path))


@dataclass(frozen=True)
class AnchorState:
    """What the anchor file says: its last line, or that it was never started (then the daily
    check starts it), or a problem (in ``Checked.result``)."""

    path: Path
    last: anchor.Line | None = None
    lines: int = 0
    started_by_record: int | None = None  # the ANCHOR_STARTED record, if the log has one
    started_marker: bool = False  # this server's instance folder says it started it
    not_started: bool = False  # no file, and nothing says there was one: the first run

    @property
    def should_exist(self) -> bool:
        return self.started_by_record is not None or self.started_marker


def _hold_to_anchor(
    session: Session, result: Verification, place: AnchorPlace, keyring: Keyring | None
) -> tuple[Verification, AnchorState]:
    started = session.scalar(select(func.min(Evidence.seq)).where(Evidence.event == ANCHOR_STARTED))
    state = AnchorState(
        place.path, started_by_record=started, started_marker=(place.instance_path / STARTED_MARKER).exists()
    )

    def alarm(problem: str) -> tuple[Verification, AnchorState]:
        return (result if not result.ok else replace(result, ok=False, problem=problem, seq=None)), state

    if keyring is None:
        return alarm(f"no evidence key: the anchor file {place.path} cannot be checked")
    try:
        lines = anchor.read(place.path, keyring)
    except anchor.Corrupt as exc:
        return alarm(f"ANCHOR CORRUPT: the anchor file {place.path} is not the one Rounds wrote: {exc}")
    except OSError as exc:
        return alarm(f"ANCHOR UNREADABLE: the anchor file {place.path} cannot be read ({exc.strerror or exc})")
    if not lines:
        if state.should_exist:
            witness = (
                f"record {started} says it was started"
                if started is not None
                else f"this server's {STARTED_MARKER} says it started it"
            )
            what = "missing" if lines is None else "empty"
            return alarm(
                f"ANCHOR MISSING: the anchor file {place.path} is {what}, but {witness}: it was deleted, "
                "moved or emptied, and the log can no longer be held to the heads it kept"
            )
        state = replace(state, not_started=True)
        return _hold_to_legacy(session, result, place), state
    last = lines[-1]
    state = replace(state, last=last, lines=len(lines))
    held = still_extends(session, result, last.seq, last.head)
    if held.ok and last.keyed_from is not None and held.keyed_from != last.keyed_from:
        held = replace(
            held,
            ok=False,
            seq=None,
            problem=(
                f"the anchor's last head says the log was keyed from record {last.keyed_from}, the log now says "
                f"{held.keyed_from or 'from no record'}: it was rewritten"
            ),
        )
    return held, state


def _hold_to_legacy(session: Session, result: Verification, place: AnchorPlace) -> Verification:
    """Before the anchor, the daily check kept its last good head in the instance folder: until
    the anchor starts, the log is still held to it."""
    try:
        found = json.loads((place.instance_path / LEGACY_LAST_GOOD).read_text(encoding="utf-8"))
        count, head = int(found["count"]), str(found["head_hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return result
    return still_extends(session, result, count, head)


@dataclass(frozen=True)
class Checked:
    result: Verification
    at_fault: int | None  # the record to open: the one at fault, or the first after a gap
    anchor: AnchorState | None = None  # None: not held to the anchor (a backup copy)
    disagreements: tuple[Disagreement, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result.ok and not self.disagreements

    def lines(self) -> list[str]:
        """The check in words, one fact a line, as the command line prints it."""
        out = [str(self.result)]
        if self.anchor is not None and self.result.ok:
            if self.anchor.last is not None:
                last = self.anchor.last
                out.append(
                    f"anchor ok: {self.anchor.path}, "
                    + ngettext("%(num)d line", "%(num)d lines", self.anchor.lines)
                    + f"; the last ({last.at}) "
                    f"holds record {last.seq}, hash {last.head}"
                )
            elif self.anchor.not_started:
                out.append(f"anchor not started yet: {self.anchor.path} (the daily evidence verify --alert starts it)")
        if self.disagreements:
            out.append(
                f"ASSIGNMENTS DISAGREE WITH THE EVIDENCE: {len(self.disagreements)} "
                "(person, module, state: what is missing)"
            )
            out.extend(f"  {d}" for d in self.disagreements)
        elif self.result.ok:
            out.append("assignments ok: every done, waived and cleared agrees with the evidence")
        return out


def check(session: Session, place: AnchorPlace | None) -> Checked:
    """Verify the whole chain and its MACs, hold it to the anchor (``place``; None: the chain
    alone, e.g. for a backup copy), and hold the assignments to the evidence."""
    keyring = keyring_for(session)
    result = verify(session)
    state = None
    if place is not None:
        result, state = _hold_to_anchor(session, result, place, keyring)
    at_fault = first_at_or_after(session, result.seq) if result.seq is not None else None
    # A broken chain proves nothing: the assignments are held to it only once it verified.
    found = tuple(state_check.disagreements(session, result.count)) if result.ok else ()
    return Checked(result, at_fault, state, found)


def record_good(session: Session, checked: Checked, place: AnchorPlace, steps: Steps | None = None) -> anchor.Line:
    """After a good check: append its head to the anchor. The first run starts it: a line with
    the head, this server's marker, an evidence record saying so, and a line with the head that
    record made, in that order (a crash between them leaves a file, never a false alarm).
    Corrupt or OSError if it cannot be written. Returns the last line written."""
    steps = steps or Steps(session)
    keyring = keyring_for(session)
    if keyring is None:
        raise RuntimeError("no evidence key for this database")
    result = checked.result
    first = checked.anchor is not None and checked.anchor.not_started
    line = anchor.append(
        place.path,
        keyring,
        kind="start" if first else "daily",
        seq=result.count,
        head=result.head_hash,
        keyed_from=result.keyed_from,
    )
    if first:
        marker = place.instance_path / STARTED_MARKER
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"anchor": str(place.path), "started_at": line.at}) + "\n")
        with steps.write():
            evidence.append(
                session,
                ANCHOR_STARTED,
                details={
                    "anchor": str(place.path),
                    "head_seq": result.count,
                    "head": result.head_hash,
                    "keyed_from": result.keyed_from,
                },
            )
        # ... and the head that record made, so that removing it is caught as well.
        with steps.read():
            head = session.execute(select(Evidence.seq, Evidence.hash).order_by(Evidence.seq.desc()).limit(1)).one()
            keyed_from = result.keyed_from or session.scalar(
                select(func.min(Evidence.seq)).where(Evidence.seq > result.count, Evidence.mac.is_not(None))
            )
        line = anchor.append(place.path, keyring, kind="daily", seq=head.seq, head=head.hash, keyed_from=keyed_from)
    return line


def recipients(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.role.in_(ROLES), User.active.is_(True)).order_by(User.email)))


def compose(
    result: Verification,
    today: date,
    base_url: str,
    at_fault: int | None,
    disagreements: tuple[Disagreement, ...] | list[Disagreement] = (),
) -> tuple[str, str]:
    """The subject and the body: what failed, what it means, and what to do (and not do)."""
    base = base_url.rstrip("/")
    record = f"{base}/audit/records/{at_fault}" if at_fault is not None else None
    subject = f"Rounds: the evidence chain failed its check ({today.isoformat()})"
    if result.ok:
        found = [
            f"The daily check of Rounds' evidence log on {today.isoformat()} found the chain intact",
            "("
            + ngettext("%(num)d record", "%(num)d records", result.count)
            + f", head {result.head_hash}), but "
            + ngettext("%(num)d assignment or clearance", "%(num)d assignments or clearances", len(disagreements)),
            "that the evidence does not bear out (person, module, state: what is missing):",
            "",
        ]
    else:
        where = f"record {result.seq}" if result.seq is not None else "the anchor"
        found = [
            f"The daily check of Rounds' evidence log failed on {today.isoformat()}:",
            "",
            f"    {where}: {result.problem}",
            "",
            ngettext(
                "The %(num)d record before it is intact, the newest with hash %(head)s; from",
                "The %(num)d records before it are intact, the newest with hash %(head)s; from",
                result.count,
                head=result.head_hash,
            ),
            "there on, the log can no longer show that its records are the ones Rounds wrote.",
            "",
        ]
    found += [f"    {d}" for d in disagreements]
    body = "\n".join(
        [
            *found,
            *([""] if disagreements else []),
            "Until it is explained:",
            "",
            '- Do not change, restore or "repair" the database: it is the evidence of what happened.',
            f"- See it for yourself: Compliance > Check the chain, {base}/audit/chain"
            + (f"\n  and the record at fault, {record}" if record else ""),
            "- Compare with the heads in the anchor file and in the daily messages you kept, and with",
            "  the newest backup (docs/operations.md, Evidence and Backups).",
            "- Tell the database administrator, and follow your security incident procedure: a",
            "  changed training record may be a reportable incident in its own right.",
            "",
            "Every compliance officer and admin of Rounds gets this message, once a day while the",
            "check fails (flask --app app evidence verify --alert).",
        ]
    )
    return subject, body


def compose_head(result: Verification, today: date, base_url: str, line: anchor.Line | None) -> tuple[str, str]:
    """The daily message of a good check: the head, to be kept outside Rounds."""
    subject = ngettext(
        "Rounds: evidence chain intact, %(num)d record (%(day)s)",
        "Rounds: evidence chain intact, %(num)d records (%(day)s)",
        result.count,
        day=today.isoformat(),
    )
    body = "\n".join(
        [
            f"The daily check of Rounds' evidence log on {today.isoformat()} found it intact:",
            "",
            "    "
            + ngettext(
                "%(num)d record, the newest (record %(num)d) with hash",
                "%(num)d records, the newest (record %(num)d) with hash",
                result.count,
            ),
            f"    {result.head_hash}",
            f"    {result.keyed_in_words()}",
            *([f"    anchor file line {line.number}: {line.at}"] if line else []),
            "",
            "Keep this message: it is a copy of the head outside Rounds and its database. Record",
            f"{result.count} must show this same hash on its page ({base_url.rstrip('/')}/audit/records/{result.count})",
            "for as long as the evidence is kept; a later check that finds otherwise is an alarm.",
        ]
    )
    return subject, body


def send(
    session: Session,
    result: Verification,
    today: date,
    *,
    smtp: mailer.SmtpSettings | None,
    base_url: str,
    at_fault: int | None = None,
    disagreements: tuple[Disagreement, ...] | list[Disagreement] = (),
    anchor_line: anchor.Line | None = None,
    sender=mailer.send,
    steps: Steps | None = None,
) -> Report:
    """Tell every recipient once today (the outbox row is the proof), in steps (``steps``, as
    the caller's layer runs them; by default a transaction each): no transaction is open while
    talking to the SMTP server. A failed check (the chain, the anchor, or assignments the
    evidence does not bear out) is an alert (KIND); a good one the day's head (HEAD_KIND).
    ``today``, the day the check ran, is never a day to come (ValueError: clock.check_not_future)."""
    clock.check_not_future(today)
    steps = steps or Steps(session)
    report = Report()
    if result.ok and not disagreements:
        kind = HEAD_KIND
        subject, body = compose_head(result, today, base_url, anchor_line)
    else:
        kind = KIND
        subject, body = compose(result, today, base_url, at_fault, disagreements)
    with jobs.exclusive_run(session, "chain-alert", "evidence verify --alert", steps):  # two runs never send one twice
        with steps.read():
            people = [(p.id, p.email, p.name) for p in recipients(session)]
        for person in people:
            _tell(session, steps, person, subject, body, today, smtp, sender, report, kind)
    report.nobody = not people
    return report


def _tell(
    session: Session,
    steps: Steps,
    person: tuple[int, str, str],
    subject: str,
    body: str,
    today: date,
    smtp: mailer.SmtpSettings | None,
    sender,
    report: Report,
    kind: str = KIND,
) -> None:
    """One person's message: kept (one step), then sent with no transaction open, then its
    outcome kept (another step)."""
    person_id, to_address, to_name = person
    with steps.write():
        message_id = _keep(session, person_id, to_address, subject, body, today, smtp, report, kind)
    if message_id is None or smtp is None:
        return
    error = None
    try:
        sender(
            mailer.build(
                sender=smtp.sender,
                to_address=to_address,
                to_name=to_name,
                subject=subject,
                body=body,
                message_id=f"<rounds-{kind}-{message_id}@{mailer.sender_domain(smtp.sender)}>",
            ),
            smtp,
        )
    except mailer.FAILURES as exc:  # the message stays in the outbox, with why
        error = mailer.describe_failure(exc)
    with steps.write():
        row = session.get_one(OutboxMessage, message_id)
        if error is None:
            row.sent_at, row.transport, row.error = utcnow(), "smtp", None
            report.sent += 1
        else:
            row.error = error
            report.failed += 1


def _keep(
    session: Session,
    person_id: int,
    to_address: str,
    subject: str,
    body: str,
    today: date,
    smtp: mailer.SmtpSettings | None,
    report: Report,
    kind: str = KIND,
) -> int | None:
    """Today's message to this person in the outbox, and its id; None if they were told today
    already (sent, or kept when there is no SMTP server)."""
    row = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.to_address == to_address, OutboxMessage.kind == kind, OutboxMessage.digest_day == today
        )
    )
    if row is not None and (row.sent_at is not None or smtp is None):
        report.already += 1
        return None
    if row is None:
        row = OutboxMessage(
            to_user_id=person_id,
            to_address=to_address,
            subject=subject,
            body=body,
            kind=kind,
            digest_day=today,
            transport="outbox",
            error=QUEUED if smtp else None,
        )
        session.add(row)
        report.told += 1
    else:  # refused earlier today: try again, with today's words
        row.subject, row.body = subject, body
    session.flush()
    return row.id  # read in the step: reading it after its commit would open a transaction
