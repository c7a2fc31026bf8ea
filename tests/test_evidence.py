"""The evidence log: hash chain, append-only triggers, verify, and concurrent appends."""

from __future__ import annotations

import csv
import io
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from quiz import evidence
from quiz.db import db
from quiz.models import Evidence, User

from .helpers import add_user, disable_evidence_triggers


def _append(app, count: int, event: str = "test.event", user_id: int | None = None) -> None:
    with app.app_context():
        user = db.session.get(User, user_id) if user_id else None
        for i in range(count):
            evidence.append(db.session, event, user=user, details={"i": i, "text": "naïve café"})
        db.session.commit()


def _sql(app, statement: str) -> None:
    with app.app_context():
        db.session.execute(text(statement))
        db.session.commit()


def _verify_cli(app):
    return app.test_cli_runner().invoke(args=["evidence", "verify"])


def test_chain_links_each_record_to_the_previous_one(app):
    uid = add_user(app, department="Patient Access")
    _append(app, 3, user_id=uid)
    with app.app_context():
        rows = list(db.session.scalars(select(Evidence).order_by(Evidence.seq)))
        assert [r.seq for r in rows] == [1, 2, 3]
        assert rows[0].prev_hash == evidence.GENESIS_HASH
        assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
        assert rows[0].learner_name == "Dana Whitfield" and rows[0].department == "Patient Access"
        assert rows[0].recorded_at.endswith("Z")
        result = evidence.verify(db.session)
    assert result.ok and result.count == 3 and result.head_hash == rows[2].hash


def test_snapshot_keeps_the_name_at_the_time(app):
    uid = add_user(app)
    _append(app, 1, user_id=uid)
    with app.app_context():
        db.session.get(User, uid).name = "Dana Renamed"
        db.session.commit()
        assert db.session.scalar(select(Evidence.learner_name)) == "Dana Whitfield"
        assert evidence.verify(db.session).ok


@pytest.mark.parametrize("statement", ["UPDATE evidence SET event = 'x'", "DELETE FROM evidence"])
def test_database_refuses_update_and_delete(app, statement):
    _append(app, 2)
    with app.app_context():
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Evidence)) == 2


def test_database_refuses_changes_to_stored_content_versions(app):
    from quiz.models import ContentVersion

    with app.app_context():
        db.session.add(ContentVersion(version="a" * 64, kind="module", content_id="m", path="p", source="x"))
        db.session.commit()
        with pytest.raises(DatabaseError, match="append-only"):
            db.session.execute(text("UPDATE content_versions SET source = 'y'"))
        db.session.rollback()


def test_verify_cli_passes_with_count_and_head(app):
    _append(app, 4)
    result = _verify_cli(app)
    assert result.exit_code == 0
    assert "4 records" in result.output
    with app.app_context():
        head = db.session.scalar(select(Evidence.hash).where(Evidence.seq == 4))
    assert head in result.output


def test_verify_names_an_edited_record(app):
    _append(app, 5)
    disable_evidence_triggers(app)
    _sql(app, "UPDATE evidence SET learner_name = 'Someone Else' WHERE seq = 3")
    result = _verify_cli(app)
    assert result.exit_code == 1
    assert "record 3" in result.output and "edited" in result.output


def test_verify_names_an_edited_record_whose_hash_was_rewritten(app):
    _append(app, 5)
    disable_evidence_triggers(app)
    with app.app_context():
        row = db.session.get(Evidence, 2)
        fields = {name: getattr(row, name) for name in evidence.HASHED_FIELDS}
        fields["event"] = "forged"
        db.session.execute(
            text("UPDATE evidence SET event = 'forged', hash = :h WHERE seq = 2"),
            {"h": evidence.record_hash(fields)},
        )
        db.session.commit()
    result = _verify_cli(app)
    assert result.exit_code == 1  # the new hash is not the one the evidence key MACed
    assert "record 2: its MAC does not match" in result.output
    # Without the key (an auditor's check), the hash chain alone names the next record.
    with app.app_context():
        alone = evidence.verify(db.session, keyring=None)
    assert alone.seq == 3 and "does not link to record 2" in alone.problem


def test_verify_names_a_removed_record(app):
    _append(app, 5)
    disable_evidence_triggers(app)
    _sql(app, "DELETE FROM evidence WHERE seq = 4")
    result = _verify_cli(app)
    assert result.exit_code == 1
    assert "record 4" in result.output and "missing" in result.output


def test_verify_names_an_inserted_record(app):
    _append(app, 3)
    disable_evidence_triggers(app)
    with app.app_context():
        # make room at seq 2 and slip a record in: renumber 2,3 -> 3,4
        db.session.execute(text("UPDATE evidence SET seq = seq + 10 WHERE seq >= 2"))
        db.session.execute(text("UPDATE evidence SET seq = seq - 9 WHERE seq >= 12"))
        row = db.session.get(Evidence, 1)
        fake = {name: getattr(row, name) for name in evidence.HASHED_FIELDS}
        fake.update(seq=2, event="inserted", prev_hash=row.hash)
        db.session.add(Evidence(**fake, hash=evidence.record_hash(fake)))
        db.session.commit()
    result = _verify_cli(app)
    assert result.exit_code == 1  # it carries no MAC: named itself
    assert "record 2: it carries no MAC" in result.output
    with app.app_context():  # without the key, the hash chain alone names the record after it
        assert evidence.verify(db.session, keyring=None).seq == 3


def test_concurrent_writers_never_fork_or_break_the_chain(app):
    writers, each = 8, 15
    errors: list[BaseException] = []

    def work():
        try:
            _append(app, each, event="concurrent")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.app_context():
        result = evidence.verify(db.session)
        seqs = list(db.session.scalars(select(Evidence.seq).order_by(Evidence.seq)))
    assert result.ok, str(result)
    assert result.count == writers * each
    assert seqs == list(range(1, writers * each + 1))


def test_a_rolled_back_transaction_leaves_no_evidence_and_no_gap(app):
    _append(app, 2)
    with app.app_context():
        evidence.append(db.session, "never.committed")
        db.session.rollback()
        evidence.append(db.session, "committed")
        db.session.commit()
        rows = list(db.session.scalars(select(Evidence).order_by(Evidence.seq)))
        assert [(r.seq, r.event) for r in rows][-1] == (3, "committed")
        assert "never.committed" not in {r.event for r in rows}
        assert evidence.verify(db.session).ok


def test_evidence_cannot_be_appended_inside_a_savepoint(app):
    with app.app_context():
        with pytest.raises(RuntimeError, match="savepoint"):
            with db.session.begin_nested():
                evidence.append(db.session, "inside")
        db.session.rollback()


# --- export for an auditor ------------------------------------------------------------------


def _export(app, *args: str):
    result = app.test_cli_runner().invoke(args=["evidence", "export", *args])
    rows = list(csv.reader(io.StringIO(result.stdout)))
    return result, rows


def _module_record(app, user_id: int, module_id: str) -> None:
    with app.app_context():
        evidence.append(
            db.session,
            "lesson.viewed",
            user=db.session.get(User, user_id),
            module_id=module_id,
            content_version="v" * 64,
            policy_version="1",
            details={"screen": 1},
        )
        db.session.commit()


def test_an_export_holds_every_hashed_field_so_each_row_and_the_chain_can_be_checked(app):
    ana = add_user(app, email="ana@example.org", name="Ana Alvarez")
    _append(app, 3, user_id=ana)
    _append(app, 2)  # records of no learner: empty cells, not "None"
    result, rows = _export(app)
    assert result.exit_code == 0, result.stderr
    assert "5 evidence records exported" in result.stderr
    header, body = rows[0], rows[1:]
    assert tuple(header) == evidence.EXPORT_COLUMNS and header[-1] == "hash"
    assert len(body) == 5 and [int(r[0]) for r in body] == [1, 2, 3, 4, 5]
    prev = evidence.GENESIS_HASH
    for row in body:
        fields = dict(zip(header, row, strict=False))
        # As docs/operations.md tells an auditor: an empty cell is no value; seq and user_id are numbers.
        typed = {name: value or None for name, value in fields.items()}
        typed.update(seq=int(fields["seq"]), user_id=int(fields["user_id"]) if fields["user_id"] else None)
        assert evidence.record_hash(typed) == fields["hash"]  # the row on its own
        assert fields["prev_hash"] == prev  # and as a chain
        prev = fields["hash"]
    assert body[0][header.index("learner_name")] == "Ana Alvarez"
    assert "naïve café" in body[0][header.index("details")]


def test_an_export_can_be_one_person_one_module_and_a_span_of_days(app):
    ana = add_user(app, email="ana@example.org", name="Ana Alvarez")
    ben = add_user(app, email="ben@example.org", name="Ben Brook")
    _module_record(app, ana, "test-callers")
    _module_record(app, ben, "test-callers")
    _module_record(app, ana, "test-refresher")
    _, rows = _export(app, "--email", "ANA@example.org", "--module", "test-callers")
    email, module = rows[0].index("learner_email"), rows[0].index("module_id")
    assert [(r[email], r[module]) for r in rows[1:]] == [("ana@example.org", "test-callers")]
    today = rows[1][1][:10]
    assert len(_export(app, "--since", today, "--until", today)[1]) == 4  # the header and all three
    assert len(_export(app, "--until", "2000-01-01")[1]) == 1  # the header alone
    assert len(_export(app, "--since", "2999-01-01")[1]) == 1


def test_an_export_refuses_an_unknown_person_or_a_bad_date_and_writes_a_file(app, tmp_path):
    result, _ = _export(app, "--email", "nobody@example.org")
    assert result.exit_code == 2 and "no account with email nobody@example.org" in result.stderr
    result, _ = _export(app, "--since", "04/12/2026")
    assert result.exit_code == 2 and "is not a date: use YYYY-MM-DD" in result.stderr
    _append(app, 1)
    out = tmp_path / "evidence.csv"
    result, _ = _export(app, "-o", str(out))
    assert result.exit_code == 0 and out.read_text(encoding="utf-8").count("\n") == 2
