"""The evidence chain (quiz/evidence.py) on a plain Session: a record is linked to the head of
the chain when its transaction commits, and not at all if it rolls back; verification finds
an edited record. (The models' tables here have no append-only triggers: the test edits a
record as an attacker with the database file would.)"""

from __future__ import annotations

import json

from sqlalchemy import select, update

from quiz import evidence
from quiz.models import Evidence


def _chain(session) -> list[Evidence]:
    return list(session.scalars(select(Evidence).order_by(Evidence.seq)))


def test_each_record_links_to_the_head_of_the_chain_when_it_commits(session, person):
    learner = person(name="Dana Whitfield", department="Patient Access")
    evidence.append(session, "test.first", user=learner, details={"n": 1})
    assert _chain(session) == []  # nothing until the commit
    session.commit()
    evidence.append(session, "test.second", details={"n": 2})
    evidence.append(session, "test.third", details={"text": "naïve café"})
    session.commit()
    first, second, third = _chain(session)
    assert [r.seq for r in (first, second, third)] == [1, 2, 3]
    assert first.prev_hash == evidence.GENESIS_HASH
    assert (second.prev_hash, third.prev_hash) == (first.hash, second.hash)
    assert (first.learner_name, first.department, second.user_id) == ("Dana Whitfield", "Patient Access", None)
    assert json.loads(third.details) == {"text": "naïve café"}
    result = evidence.verify(session)
    assert (result.ok, result.count, result.head_hash) == (True, 3, third.hash)


def test_a_rolled_back_transaction_leaves_no_record(session):
    evidence.append(session, "test.kept")
    session.commit()
    evidence.append(session, "test.dropped")
    session.rollback()
    evidence.append(session, "test.next")
    session.commit()
    assert [(r.seq, r.event) for r in _chain(session)] == [(1, "test.kept"), (2, "test.next")]
    assert evidence.verify(session).ok


def test_verify_finds_an_edited_record(session, person):
    learner = person()
    for n in range(4):
        evidence.append(session, "test.event", user=learner, details={"n": n})
    session.commit()
    session.execute(update(Evidence).where(Evidence.seq == 3).values(details='{"n":99}'))
    session.commit()
    result = evidence.verify(session)
    assert (result.ok, result.seq, result.count) == (False, 3, 2)


def test_verify_finds_a_record_removed_from_the_middle(session):
    for n in range(3):
        evidence.append(session, "test.event", details={"n": n})
    session.commit()
    session.execute(Evidence.__table__.delete().where(Evidence.seq == 2))
    session.commit()
    result = evidence.verify(session)
    assert (result.ok, result.seq) == (False, 2)
