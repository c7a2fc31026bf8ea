"""The evidence chain: append-only, hash-linked records of everything a learner did.

Each record's hash covers its canonical form (every field but the hash, as sorted compact JSON)
including the previous record's hash, so editing, removing or inserting any record breaks the
chain from that point on. Records are linked at commit, serialised (BEGIN IMMEDIATE on
SQLite, an advisory transaction lock on PostgreSQL), so concurrent requests can never fork it.

The chain's formula is public, so a hash chain alone cannot tell a record Rounds wrote from one
appended by anyone else who can write to the database. Each record therefore also carries a MAC
of its hash made with the evidence key, which the database never holds (quiz/evidence_keys.py);
``verify`` checks it. The app registers its keys for its engines (``use_keyring``) when it is
built. Records written before keys existed carry none: the first keyed record after them is an
``evidence.keyed`` record, and ``verify`` says from which record on the chain is keyed.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, event, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm import Session as OrmSession

from . import csvtext
from .db import is_postgresql, real_session
from .evidence_keys import RECORD_PURPOSE, Keyring
from .models import Evidence, User, as_utc
from .words import ngettext

GENESIS_HASH = "0" * 64
#: Arbitrary constant naming the PostgreSQL advisory lock that serialises appends.
_PG_APPEND_LOCK = 0x52_6F_75_6E  # "Roun"

HASHED_FIELDS = (
    "seq",
    "recorded_at",
    "user_id",
    "learner_email",
    "learner_name",
    "job_role",
    "department",
    "supervisor",
    "module_id",
    "content_version",
    "policy_version",
    "event",
    "details",
    "prev_hash",
)

#: The columns of an export: every hashed field, then the record's own hash, so each row can be
#: checked on its own (``record_hash`` of its fields) and a whole export as a chain.
EXPORT_COLUMNS = (*HASHED_FIELDS, "hash")
#: What ``verify`` reads of each record: the export's columns, and the key id and MAC.
VERIFY_COLUMNS = (*EXPORT_COLUMNS, "key_id", "mac")
#: The record that starts the keyed part of a chain begun before keys (see the module's doc).
KEYED = "evidence.keyed"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(fields: dict[str, Any]) -> str:
    payload = canonical_json({name: fields[name] for name in HASHED_FIELDS})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def utc_timestamp(moment: datetime | None = None) -> str:
    moment = as_utc(moment or datetime.now(UTC))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def learner_snapshot(user: User | None) -> dict[str, Any]:
    """Who the learner was at the time: later edits to the account never rewrite history."""
    if user is None:
        return {
            "user_id": None,
            "learner_email": None,
            "learner_name": None,
            "job_role": None,
            "department": None,
            "supervisor": None,
        }
    sup = user.supervisor
    return {
        "user_id": user.id,
        "learner_email": user.email,
        "learner_name": user.name,
        "job_role": user.job_role,
        "department": user.department,
        "supervisor": f"{sup.name} <{sup.email}>" if sup else None,
    }


#: Each engine's evidence keys (``use_keyring``): weak, so a test's app and its engine go together.
_KEYRINGS: weakref.WeakKeyDictionary[Engine, Keyring] = weakref.WeakKeyDictionary()


def use_keyring(engine: Engine, keyring: Keyring) -> None:
    """Records written through ``engine`` are MACed, and ``verify`` checks them, with these keys."""
    _KEYRINGS[engine] = keyring


def keyring_for(session: Session) -> Keyring | None:
    """The keys registered for the session's database; None if the app registered none."""
    return _KEYRINGS.get(real_session(session).get_bind())


def record_mac(keyring: Keyring, record_hash_hex: str) -> tuple[str, str]:
    """The current key's id and the MAC of a record with this hash."""
    return keyring.mac(RECORD_PURPOSE, record_hash_hex)


_PENDING = "rounds_pending_evidence"
#: Built once: every writing request reads the head (building a SELECT costs about as much as
#: running it on SQLite). Both run on the session's connection, not through ``session.execute``
#: (the ORM's execution layer, and for a list of rows its bulk-insert path, cost more than the
#: statements themselves).
_CHAIN_HEAD = select(Evidence.seq, Evidence.hash, Evidence.mac).order_by(Evidence.seq.desc()).limit(1)
_INSERT_RECORDS = insert(cast(Table, Evidence.__table__))
#: PostgreSQL: the chain lock and the head in one round trip, as two statements sent together.
#: The server runs them in order and, in READ COMMITTED, each statement takes its own snapshot
#: when it starts, so the head is read once the lock is held and sees every append committed
#: before. (One statement could not do both: its snapshot would be older than the lock.) The
#: lock is held to the commit, and every answer waits for it, so each round trip under it
#: counts (bench/README.md, "The chain's lock on PostgreSQL").
_PG_LOCK_AND_HEAD = (
    f"SELECT pg_advisory_xact_lock({_PG_APPEND_LOCK}); " "SELECT seq, hash, mac FROM evidence ORDER BY seq DESC LIMIT 1"
)


def _locked_head(session: Session) -> tuple[int, str, str | None] | None:
    """Take the chain lock and read the chain's head (its seq, hash and MAC; None when empty)."""
    connection = session.connection()
    if not is_postgresql(session):
        # SQLite: the writing transaction began with BEGIN IMMEDIATE and already holds the lock.
        head = connection.execute(_CHAIN_HEAD).first()
        return (head.seq, head.hash, head.mac) if head else None
    result = connection.execution_options(no_parameters=True).exec_driver_sql(_PG_LOCK_AND_HEAD)
    try:
        cursor = result.cursor  # on the lock's result; the head's is the next
        if not cursor.nextset():
            raise RuntimeError("the chain's head was not read after its lock")
        row = cursor.fetchone()
    finally:
        result.close()
    return (row[0], row[1], row[2]) if row else None


def append(
    session: Session,
    event: str,
    *,
    user: User | None = None,
    module_id: str | None = None,
    content_version: str | None = None,
    policy_version: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add one record to the chain when the caller's transaction commits.

    The record exists only if the caller commits, so evidence and the state change it
    describes land together or not at all. Records are linked into the chain (sequence number,
    time, previous hash) at commit, under the chain lock, so the lock is held only for the
    commit itself and concurrent requests never fork the chain. Its time (``recorded_at``) is
    the real time of that commit, in UTC: no caller can give one.
    """
    real = real_session(session)
    if not real.in_transaction():
        # Join the caller's transaction now, as any statement would (it autobegins), so that
        # its rollback discards the record too. Never begins or ends one of its own.
        real.connection()
    if real.in_nested_transaction():
        raise RuntimeError("append evidence outside savepoints: a rolled-back savepoint would keep it")
    fields: dict[str, Any] = {
        **learner_snapshot(user),
        "module_id": module_id,
        "content_version": content_version,
        "policy_version": policy_version,
        "event": event,
        "details": canonical_json(details or {}),
    }
    real.info.setdefault(_PENDING, []).append(fields)


@event.listens_for(OrmSession, "before_commit")
def _chain_pending(session: OrmSession) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # the caller's own changes first, so the chain lock is held for the chain only
    connection = session.connection()
    keyring = _KEYRINGS.get(connection.engine)
    if keyring is None:  # an unkeyed record after keyed ones would break the chain for good
        raise RuntimeError("no evidence key for this database: the app registers one (evidence.use_keyring)")
    head = _locked_head(session)
    seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS_HASH)
    if head is not None and head[2] is None:  # a chain begun before keys: say where keying starts
        pending = [_keyed_marker(seq, keyring), *pending]
    rows = []
    for fields in pending:
        seq += 1
        record = {**fields, "seq": seq, "recorded_at": utc_timestamp(), "prev_hash": prev_hash}
        prev_hash = record["hash"] = record_hash(record)
        record["key_id"], record["mac"] = record_mac(keyring, record["hash"])
        rows.append(record)
    # A plain INSERT, not ORM objects: records are never read back or changed in this session.
    connection.execute(_INSERT_RECORDS, rows[0] if len(rows) == 1 else rows)


def _keyed_marker(unkeyed: int, keyring: Keyring) -> dict[str, Any]:
    return {
        **learner_snapshot(None),
        "module_id": None,
        "content_version": None,
        "policy_version": None,
        "event": KEYED,
        "details": canonical_json({"unkeyed_records": unkeyed, "key_id": keyring.current_id}),
    }


@event.listens_for(OrmSession, "after_transaction_end")
def _forget_pending(session: OrmSession, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: committed or rolled back
        session.info.pop(_PENDING, None)


@dataclass(frozen=True)
class Verification:
    ok: bool
    count: int
    head_hash: str
    problem: str | None = None
    seq: int | None = None  # the first record at fault (None: a fault of no one record, e.g. the anchor)
    #: Whether the MACs were checked (the app's keys were known), and the first record that
    #: carries one (None: none does): the records before it were written before keys.
    macs_checked: bool = False
    keyed_from: int | None = None

    def keyed_in_words(self) -> str:
        if not self.macs_checked:
            return "MACs not checked (no evidence key)"
        if self.keyed_from is None:
            return (
                "no record carries a MAC: all were written before the evidence key" if self.count else "no records yet"
            )
        if self.keyed_from == 1:
            return "every record's MAC checked"
        return (
            f"MACs checked from record {self.keyed_from} on; records 1..{self.keyed_from - 1} "
            "were written before the evidence key and carry none"
        )

    def __str__(self) -> str:
        if self.ok:
            records = ngettext("%(num)d record", "%(num)d records", self.count)
            return f"evidence ok: {records}, head {self.head_hash}; {self.keyed_in_words()}"
        if self.seq is None:
            return f"evidence BROKEN: {self.problem}"
        return f"evidence BROKEN at record {self.seq}: {self.problem}"


def _fields(row: Evidence) -> dict[str, Any]:
    return {name: getattr(row, name) for name in HASHED_FIELDS}


def verify_records(rows: Iterable[Any], keyring: Keyring | None = None) -> Verification:
    """Recompute the chain over records in sequence order, and with ``keyring`` check each
    record's MAC; name the first record at fault. Once one record carries a MAC, every later
    one must: a record without one after it was written by someone without the key."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    checked, keyed_from = keyring is not None, None

    def broken(problem: str, seq: int) -> Verification:
        return Verification(False, count, prev_hash, problem, seq, checked, keyed_from)

    for row in rows:
        if row.seq != expected_seq:
            if row.seq > expected_seq:
                return broken(f"records {expected_seq}..{row.seq - 1} are missing (removed)", expected_seq)
            return broken(f"sequence number {row.seq} is out of order", row.seq)
        if row.prev_hash != prev_hash:
            return broken(
                f"it does not link to record {row.seq - 1}: that record was altered and its "
                "hash rewritten, or a record was removed or inserted here",
                row.seq,
            )
        if record_hash(_fields(row)) != row.hash:
            return broken("its contents do not match its hash: the record was edited", row.seq)
        if keyring is not None and (row.mac is not None or keyed_from is not None):
            why = keyring.check(RECORD_PURPOSE, row.hash, row.key_id, row.mac)
            if why is not None:
                if row.mac is None:
                    why += (
                        f", though every record from {keyed_from} on is keyed: it was appended by "
                        "someone without the evidence key"
                    )
                return broken(why, row.seq)
            if keyed_from is None:
                keyed_from = row.seq
        prev_hash, expected_seq, count = row.hash, expected_seq + 1, count + 1
    return Verification(True, count, prev_hash, macs_checked=checked, keyed_from=keyed_from)


def still_extends(session: Session, result: Verification, count: int, head_hash: str) -> Verification:
    """``result`` (a chain that verified) checked against an earlier good check: the log must
    still hold that check's records, ending in its head. A hash chain alone cannot show that its
    newest records were removed (what is left still verifies); a head kept outside it can."""
    if not result.ok or count == 0:
        return result
    if result.count < count:
        problem = (
            ngettext(
                "the log has %(num)d record, fewer than the %(then)d of the last good check: ",
                "the log has %(num)d records, fewer than the %(then)d of the last good check: ",
                result.count,
                then=count,
            )
            + f"records {result.count + 1}..{count} were removed from its end"
        )
        return replace(result, ok=False, problem=problem, seq=result.count + 1)
    then = session.scalar(select(Evidence.hash).where(Evidence.seq == count))
    if then != head_hash:
        problem = (
            f"record {count}, the newest at the last good check, no longer has the hash it had "
            "then: the log was rewritten from there"
        )
        return replace(result, ok=False, problem=problem, seq=count)
    return result


#: ``verify``'s default: the keys registered for the session's database.
REGISTERED = "registered"


def verify(session: Session, batch: int = 1000, *, keyring: Keyring | None | str = REGISTERED) -> Verification:
    """The whole chain, with the MACs checked with the keys registered for the session's
    database (or ``keyring``; None: the hash chain alone, as an auditor without the key can)."""
    if isinstance(keyring, str):
        keyring = keyring_for(session)
    # Plain rows of the columns, not ORM objects: twice as fast, and nothing here is changed.
    query = select(*(getattr(Evidence, name) for name in VERIFY_COLUMNS)).order_by(Evidence.seq)
    return verify_records(session.execute(query.execution_options(yield_per=batch)), keyring)


#: Every kind of record, in words, in the order a person meets them; the audit page filters by
#: them. (tests/test_audit.py checks this against the event names written in quiz/.)
EVENTS = {
    "attempt.started": "Attempt started",
    "lesson.viewed": "Lesson screen viewed",
    "lesson.skipped": "Lesson skipped (read before)",
    "lesson.reopened": "Lesson opened again",
    "choice.made": "Answer given",
    "scenario.finished": "Check finished",
    "module.passed": "Module passed",
    "module.failed": "Module failed",
    "acknowledgement.signed": "Acknowledgement signed",
    "certificate.revoked": "Certificate revoked",
    "assignment.created": "Training assigned",
    "assignment.completed": "Assignment completed",
    "assignment.overdue": "Assignment overdue",
    "assignment.waived": "Assignment waived",
    "reminder.sent": "Reminder sent",
    "reminder.escalated": "Escalated to the supervisor",
    "trigger.recorded": "Trigger event recorded",
    "roster.imported": "Roster imported",
    "person.created": "Person added",
    "person.changed": "Person changed",
    "person.deactivated": "Person deactivated",
    "person.role-changed": "Account role changed",
    "person.cleared-for-phi": "Person cleared for PHI",
    "evidence.packaged": "Audit package made",
    "session.signed-in": "Signed in",
    "session.sign-in-refused": "Sign-in refused",
    "session.signed-out": "Signed out",
    "person.password-set": "Password set by an admin",
    "person.password-changed": "Password chosen by the person",
    "person.mfa-enrolled": "Second factor set up",
    "person.mfa-recovery-code-used": "Recovery code used",
    "person.mfa-recovery-codes-renewed": "Recovery codes renewed",
    "person.mfa-reset": "Second factor reset by someone else",
    "session.step-up-refused": "Second factor refused when asked again",
    "person.invited": "Person invited by email",
    "invitations.requested": "Invitations asked for, left to the invitations job",
    "person.password-reset-requested": "Password reset asked for",
    "person.password-set-by-link": "Password set with an emailed link",
    KEYED: "Evidence keyed from here on",
    "evidence.anchor-started": "Anchor file started",
    "evidence.signing-key-rotated": "Signing key changed",
    "retention.hold-placed": "Legal hold placed",
    "retention.hold-released": "Legal hold released",
    "retention.purged": "Personal data purged (retention)",
    "content.published": "Content published from a draft",
}


@dataclass(frozen=True)
class Filters:
    """Which records an auditor asks for; ``since`` and ``until`` are UTC days (YYYY-MM-DD),
    both included. Empty means everything."""

    user_id: int | None = None
    module_id: str | None = None
    event: str | None = None
    since: str | None = None
    until: str | None = None
    #: The records of the people in this department now, and every record made while someone
    #: was in it (the record's own snapshot), so a person who moved on is not lost to it.
    department: str | None = None
    #: Records up to this sequence number only (the head of a chain just verified).
    through_seq: int | None = None


#: The filters that ask for one value of a column.
_EQUALS = (("user_id", Evidence.user_id), ("module_id", Evidence.module_id), ("event", Evidence.event))


def _filtered(query, filters: Filters):
    for name, column in _EQUALS:
        if (wanted := getattr(filters, name)) is not None and wanted != "":
            query = query.where(column == wanted)
    if filters.department:
        now_in = select(User.id).where(User.department == filters.department)
        query = query.where(Evidence.user_id.in_(now_in) | (Evidence.department == filters.department))
    if filters.through_seq is not None:
        query = query.where(Evidence.seq <= filters.through_seq)
    # recorded_at is ISO 8601 text in UTC ("2026-12-04T20:15:00.000000Z"), so it sorts as time.
    if filters.since:
        query = query.where(Evidence.recorded_at >= filters.since)
    if filters.until and (last := date.fromisoformat(filters.until)) < date.max:
        query = query.where(Evidence.recorded_at < (last + timedelta(days=1)).isoformat())
    return query


def people_in(filters: Filters):
    """The ids of the people the records found are about, as a subquery."""
    return _filtered(select(Evidence.user_id).where(Evidence.user_id.is_not(None)), filters).distinct()


def department_seen(session: Session, department: str) -> bool:
    """Whether anyone is in this department now, or any record was made while someone was."""
    now = select(User.id).where(User.department == department).limit(1)
    then = select(Evidence.seq).where(Evidence.department == department).limit(1)
    return session.scalar(now) is not None or session.scalar(then) is not None


def export_rows(session: Session, filters: Filters = Filters(), batch: int = 1000) -> Iterator[tuple]:
    """Records in sequence order as tuples of EXPORT_COLUMNS, for an auditor; read in batches,
    so six years of them never sit in memory at once."""
    query = select(*(getattr(Evidence, name) for name in EXPORT_COLUMNS)).order_by(Evidence.seq)
    for row in session.execute(_filtered(query, filters).execution_options(yield_per=batch)):
        yield tuple(row)


def export_csv(session: Session, filters: Filters = Filters()) -> Iterator[str]:
    """The export as CSV text (the header first): what the command line writes and the audit
    page downloads. An empty cell is no value."""
    yield from csvtext.lines(EXPORT_COLUMNS, export_rows(session, filters))


def count(session: Session, filters: Filters = Filters()) -> int:
    return session.scalar(_filtered(select(func.count()).select_from(Evidence), filters)) or 0


def newest(
    session: Session, filters: Filters = Filters(), *, before: int | None = None, limit: int = 50
) -> tuple[list[Evidence], bool]:
    """A page of records, newest first, older than sequence number ``before``; and whether
    there are older ones. Paged by sequence number, not by offset, so a page deep in six years
    of records costs what the first one does, and records added meanwhile shift nothing."""
    query = _filtered(select(Evidence), filters).order_by(Evidence.seq.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(Evidence.seq < before)
    rows = list(session.scalars(query))
    return rows[:limit], len(rows) > limit


@dataclass(frozen=True)
class RecordCheck:
    """One record checked on its own: its contents against its hash, and its link to the record
    before it. The whole chain is ``verify``'s work."""

    record: Evidence
    computed_hash: str
    previous: Evidence | None
    next_seq: int | None
    #: Why its MAC is not good, in words (None: it is good, or it has none, or no key to check).
    mac_problem: str | None = None
    mac_checked: bool = False

    @property
    def contents_match(self) -> bool:
        return self.computed_hash == self.record.hash

    @property
    def links_to_previous(self) -> bool:
        if self.record.seq == 1:
            return self.record.prev_hash == GENESIS_HASH
        return self.previous is not None and self.previous.hash == self.record.prev_hash


#: No sequence number is larger (``seq`` is an INTEGER: 32 bits on PostgreSQL, which refuses a
#: larger number outright); asked for one that is, the pages answer as for any record that does
#: not exist. Two billion records is a thousand years of a large hospital's training.
MAX_SEQ = 2**31 - 1


def first_at_or_after(session: Session, seq: int) -> int | None:
    """The first record numbered ``seq`` or later that exists (after a gap: the one past it)."""
    return session.scalar(select(func.min(Evidence.seq)).where(Evidence.seq >= min(seq, MAX_SEQ)))


def check_record(session: Session, seq: int) -> RecordCheck | None:
    if not 0 < seq <= MAX_SEQ:
        return None
    record = session.get(Evidence, seq)
    if record is None:
        return None
    previous = session.get(Evidence, seq - 1) if seq > 1 else None
    next_seq = session.scalar(select(func.min(Evidence.seq)).where(Evidence.seq > seq))
    keyring = keyring_for(session)
    problem = None
    if keyring is not None and record.mac is not None:
        problem = keyring.check(RECORD_PURPOSE, record.hash, record.key_id, record.mac)
    return RecordCheck(record, record_hash(_fields(record)), previous, next_seq, problem, keyring is not None)


def for_user(session: Session, user_id: int) -> list[Evidence]:
    return list(session.scalars(select(Evidence).where(Evidence.user_id == user_id).order_by(Evidence.seq)))


def for_attempt(session: Session, user_id: int, module_id: str, number: int, event: str) -> list[Evidence]:
    """One attempt's records of one kind, oldest first (records name their attempt in details)."""
    rows = session.scalars(
        select(Evidence)
        .where(Evidence.user_id == user_id, Evidence.module_id == module_id, Evidence.event == event)
        .order_by(Evidence.seq)
    )
    return [row for row in rows if json.loads(row.details).get("attempt") == number]
