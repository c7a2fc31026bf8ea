"""Derived state held to the evidence: every assignment done or waived, and every person cleared
for PHI, must have the evidence records behind it.

The training report, the standings and the audit package read the ``assignments`` and ``users``
tables, which are ordinary tables: ``UPDATE assignments SET state = 'done'`` would show someone
trained who never was. The evidence is the proof (MACed, chained), so the check reads it back:

- **done**: an "Assignment completed" record (``assignment.completed``) naming the assignment,
  and an "Acknowledgement signed" record (``acknowledgement.signed``) of that person, module
  and attempt (the one the completion names). Only a passed attempt can be signed
  (engine.acknowledge), so the pair is the passing signed attempt's evidence;
- **waived**: an "Assignment waived" record (``assignment.waived``) naming the assignment;
- **cleared for PHI**: a "Person cleared for PHI" record (``person.cleared-for-phi``) of that person;
- **certificates**: a certificate revoked has a "Certificate revoked" record
  (``certificate.revoked``), and one such record's certificate is still revoked (clearing the
  column would make the public check page say Valid again, silently); a certificate's code is
  the one its "Acknowledgement signed" record names, where the record names one.

Every row that does not agree is named (email, module, state, and what is missing). Reads only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Assignment, Attempt, Evidence, User

_EVENTS = (
    "assignment.completed",
    "assignment.waived",
    "acknowledgement.signed",
    "person.cleared-for-phi",
    "certificate.revoked",
)


@dataclass(frozen=True)
class Disagreement:
    email: str
    module_id: str | None  # None: the person's clearance, not an assignment
    state: str  # done | waived | cleared for PHI | certificate valid | certificate revoked
    why: str
    assignment_id: int | None = None
    attempt: int | None = None  # a certificate's: the attempt's number

    def __str__(self) -> str:
        what = (
            f"assignment {self.assignment_id}, {self.module_id}"
            if self.assignment_id
            else f"attempt {self.attempt}"
            if self.attempt is not None
            else "the account"
        )
        return f"{self.email}, {self.module_id or '-'}, {self.state} ({what}): {self.why}"


def _details(text: str) -> dict:
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def disagreements(session: Session, through_seq: int | None = None) -> list[Disagreement]:
    """Every done or waived assignment and every clearance the evidence (up to ``through_seq``,
    the head of a chain just verified) does not bear out, by email then module."""
    completed: dict[int, tuple[int | None, str | None, object]] = {}
    waived: dict[int, tuple[int | None, str | None]] = {}
    signed: set[tuple[int | None, str | None, object]] = set()
    cleared: set[int] = set()
    codes: dict[tuple[int | None, str | None, object], object] = {}  # signed attempt -> its code
    revoked: set[tuple[int | None, str | None, object]] = set()
    query = select(Evidence.user_id, Evidence.module_id, Evidence.event, Evidence.details).where(
        Evidence.event.in_(_EVENTS)
    )
    if through_seq is not None:
        query = query.where(Evidence.seq <= through_seq)
    for user_id, module_id, event, details_text in session.execute(query.execution_options(yield_per=1000)):
        details = _details(details_text)
        if event == "assignment.completed" and isinstance(details.get("assignment"), int):
            completed[details["assignment"]] = (user_id, module_id, details.get("attempt_number"))
        elif event == "assignment.waived" and isinstance(details.get("assignment"), int):
            waived[details["assignment"]] = (user_id, module_id)
        elif event == "acknowledgement.signed":
            signed.add((user_id, module_id, details.get("attempt")))
            if "certificate_code" in details:
                codes[(user_id, module_id, details.get("attempt"))] = details["certificate_code"]
        elif event == "certificate.revoked":
            revoked.add((user_id, module_id, details.get("attempt")))
        elif event == "person.cleared-for-phi" and user_id is not None:
            cleared.add(user_id)

    found: list[Disagreement] = []
    rows = session.execute(
        select(Assignment.id, Assignment.user_id, Assignment.module_id, Assignment.state, User.email)
        .join(User, User.id == Assignment.user_id)
        .where(Assignment.state.in_(("done", "waived")))
        .order_by(User.email, Assignment.module_id, Assignment.id)
    )
    for a_id, user_id, module_id, state, email in rows:
        if state == "done":
            record = completed.get(a_id)
            if record is None or record[:2] != (user_id, module_id):
                why = 'no "Assignment completed" record names this assignment'
            elif (user_id, module_id, record[2]) not in signed:
                why = f'no "Acknowledgement signed" record of the attempt ({record[2]}) that completed it'
            else:
                continue
        else:
            if waived.get(a_id) == (user_id, module_id):
                continue
            why = 'no "Assignment waived" record names this assignment'
        found.append(Disagreement(email, module_id, state, why, a_id))
    for user_id, email in session.execute(
        select(User.id, User.email).where(User.cleared_at.is_not(None)).order_by(User.email)
    ):
        if user_id not in cleared:
            found.append(
                Disagreement(email, None, "cleared for PHI", 'no "Person cleared for PHI" record of this person')
            )
    found += _certificates(session, codes, revoked)
    return sorted(found, key=lambda d: (d.email, d.module_id or "", d.assignment_id or 0, d.attempt or 0))


def _certificates(session: Session, codes: dict, revoked: set) -> list[Disagreement]:
    found = []
    attempts = (
        select(
            Attempt.user_id,
            Attempt.module_id,
            Attempt.number,
            Attempt.certificate_code,
            Attempt.certificate_revoked_at,
            User.email,
        )
        .join(User, User.id == Attempt.user_id)
        .where(Attempt.acknowledged_at.is_not(None))
    )
    for user_id, module_id, number, code, revoked_at, email in session.execute(
        attempts.execution_options(yield_per=1000)
    ):
        key = (user_id, module_id, number)
        if revoked_at is not None and key not in revoked:
            why = 'no "Certificate revoked" record of this certificate'
            found.append(Disagreement(email, module_id, "certificate revoked", why, attempt=number))
        elif revoked_at is None and key in revoked:
            why = 'a "Certificate revoked" record says it was revoked, but it reads valid'
            found.append(Disagreement(email, module_id, "certificate valid", why, attempt=number))
        if key in codes and codes[key] != code:
            why = f'its code is not the one its "Acknowledgement signed" record names ({codes[key]})'
            found.append(
                Disagreement(
                    email,
                    module_id,
                    "certificate valid" if revoked_at is None else "certificate revoked",
                    why,
                    attempt=number,
                )
            )
    return found
