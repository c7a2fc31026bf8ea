"""Records no one can forge: the keyed chain, the anchor file, and derived state held to the
evidence. Each test plays an attacker with full database access but not the evidence key nor
the instance folder, and checks that what they did is found and named."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from sqlalchemy import select, text

from quiz import chain_check, evidence
from quiz.db import db
from quiz.models import Evidence, OutboxMessage

from .helpers import (
    add_user,
    close_app,
    disable_evidence_triggers,
    make_app,
    page_text,
    sign_in,
    signed_in_as,
    workforce,
)


def _append(app, n: int) -> None:
    add_user(app, email="officer@example.org", name="Olu Officer", role="compliance", job_role="leadership")
    with app.app_context():
        for i in range(n):
            evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={"i": i})
        db.session.commit()


def _head(app) -> Evidence:
    with app.app_context():
        row = db.session.scalar(select(Evidence).order_by(Evidence.seq.desc()).limit(1))
        db.session.expunge_all()
        return row


def _forge(
    app,
    *,
    key_id: str | None = None,
    mac: str | None = None,
    event: str = "acknowledgement.signed",
    seq: int | None = None,
    prev_hash: str | None = None,
) -> int:
    """What someone who can write to the database but has no key can do: a record that links to
    the head and hashes correctly (the formula is public), with whatever MAC they care to make."""
    head = _head(app)
    if seq is None:
        seq, prev_hash = head.seq + 1, head.hash
    fields = {name: getattr(head, name) for name in evidence.HASHED_FIELDS}
    fields.update(
        seq=seq,
        prev_hash=prev_hash,
        event=event,
        learner_email="never@example.org",
        learner_name="Never Trained",
        details=evidence.canonical_json({"attempt": 1, "typed_name": "Never Trained"}),
    )
    with app.app_context():
        db.session.execute(
            Evidence.__table__.insert().values(**fields, hash=evidence.record_hash(fields), key_id=key_id, mac=mac)
        )
        db.session.commit()
    return seq


def _verify(app, *args):
    return app.test_cli_runner().invoke(args=["evidence", "verify", *args])


def _anchor(app) -> Path:
    return Path(app.config["EVIDENCE_ANCHOR_PATH"])


def _kinds(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))


# --- the keyed chain ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "forged, named",
    [
        ({}, "it carries no MAC, though every record from 1 on is keyed"),
        ({"key_id": "20261205-abcdef", "mac": "0" * 64}, "which is not among this server's evidence keys"),
        ({"mac": secrets.token_hex(32)}, "its MAC does not match"),
    ],
)
def test_a_record_appended_without_the_key_fails_at_that_record(app, forged, named):
    _append(app, 3)
    if "mac" in forged and "key_id" not in forged:  # the real key id, a MAC made up
        forged = {**forged, "key_id": app.extensions["evidence_keys"].current_id}
    seq = _forge(app, **forged)
    with app.app_context():  # the premise: the hash chain alone is fooled
        assert evidence.verify(db.session, keyring=None).ok
    result = _verify(app)
    assert result.exit_code == 1 and f"evidence BROKEN at record {seq}: " in result.output and named in result.output
    alert = _verify(app, "--alert")
    assert alert.exit_code == 1 and f"record {seq}" in alert.output and "alert: 1 new" in alert.output
    assert not _anchor(app).exists()  # a broken chain is never anchored
    officer = app.test_client()
    assert sign_in(officer, "officer@example.org").status_code == 303
    page = page_text(officer.get(f"/audit/records/{seq}").text)
    if forged:
        assert "Its MAC, made with the evidence key, is not good" in page and "not good" in page
    else:
        assert "none: written before the evidence key, or appended by someone without it" in page
    genuine = page_text(officer.get("/audit/records/1").text).split("MAC (evidence key)")
    assert "This record matches its hash" in genuine[0] and " good" in genuine[1][:200] and "not good" not in genuine[1]


def test_records_the_app_writes_carry_the_current_key_and_verify(app):
    _append(app, 3)
    keyring = app.extensions["evidence_keys"]
    with app.app_context():
        rows = list(db.session.execute(select(Evidence.key_id, Evidence.mac)))
    assert rows and all(key_id == keyring.current_id and len(mac) == 64 for key_id, mac in rows)
    result = _verify(app)
    assert result.exit_code == 0 and "every record's MAC checked" in result.output
    key_file = Path(app.config["EVIDENCE_KEY_FILE"])
    assert key_file.parent == Path(app.instance_path) and key_file.stat().st_mode & 0o777 == 0o600


def test_truncate_then_append_is_caught(app):
    _append(app, 5)
    assert _verify(app, "--alert").exit_code == 0  # anchors record 5, then 6 (the anchor's start)
    disable_evidence_triggers(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM evidence WHERE seq >= 4"))
        db.session.commit()
    head = _head(app)
    seq = _forge(app)  # record 4 again, linked to record 3, without the key
    assert seq == 4 and _head(app).prev_hash == head.hash
    result = _verify(app, "--no-anchor")  # even on a copy with no anchor to hold it to
    assert result.exit_code == 1 and "evidence BROKEN at record 4: it carries no MAC" in result.output
    # Truncated and then appended to by Rounds itself (with the key): the anchor's head is gone.
    with app.app_context():
        db.session.execute(text("DELETE FROM evidence WHERE seq = 4"))
        db.session.commit()
        evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={"after": "truncation"})
        db.session.commit()
    assert _verify(app, "--no-anchor").exit_code == 0  # the premise: the chain alone verifies
    result = _verify(app)
    assert result.exit_code == 1 and "the log has 4 records, fewer than the 6 of the last good check" in result.output


def test_a_whole_chain_rewritten_without_the_key_is_caught_by_the_anchor(app):
    _append(app, 3)
    assert _verify(app, "--alert").exit_code == 0
    disable_evidence_triggers(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM evidence"))
        db.session.commit()
    prev = evidence.GENESIS_HASH
    for seq in range(1, 5):  # a new chain, as long, correctly hashed, no MAC: "written before keys"
        with app.app_context():
            db.session.execute(
                Evidence.__table__.insert().values(
                    seq=seq,
                    recorded_at="2026-12-01T00:00:00.000000Z",
                    event="lesson.viewed",
                    details="{}",
                    prev_hash=prev,
                    **{
                        name: None
                        for name in (
                            "user_id",
                            "learner_email",
                            "learner_name",
                            "job_role",
                            "department",
                            "supervisor",
                            "module_id",
                            "content_version",
                            "policy_version",
                        )
                    },
                    hash=(
                        prev := evidence.record_hash(
                            {
                                **dict.fromkeys(evidence.HASHED_FIELDS),
                                "seq": seq,
                                "recorded_at": "2026-12-01T00:00:00.000000Z",
                                "event": "lesson.viewed",
                                "details": "{}",
                                "prev_hash": prev,
                            }
                        )
                    ),
                )
            )
            db.session.commit()
    alone = _verify(app, "--no-anchor")
    assert alone.exit_code == 0 and "no record carries a MAC" in alone.output  # what the chain alone can say
    result = _verify(app)
    assert (
        result.exit_code == 1 and "record 4, the newest at the last good check, no longer has the hash" in result.output
    )


def test_a_chain_begun_before_keys_is_keyed_from_a_marked_record(app):
    _append(app, 3)  # the officer, then three records
    disable_evidence_triggers(app)
    with app.app_context():  # as a database written before migration 0007 has them
        db.session.execute(text("UPDATE evidence SET key_id = NULL, mac = NULL"))
        db.session.commit()
    result = _verify(app)
    assert (
        result.exit_code == 0 and "no record carries a MAC: all were written before the evidence key" in result.output
    )
    with app.app_context():
        evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={"after": "keys"})
        db.session.commit()
        marker = db.session.get(Evidence, 4)
        assert marker.event == evidence.KEYED and json.loads(marker.details)["unkeyed_records"] == 3
        assert db.session.get(Evidence, 5).mac is not None
    result = _verify(app)
    assert result.exit_code == 0 and "MACs checked from record 4 on; records 1..3 were written before" in result.output
    seq = _forge(app)
    result = _verify(app)
    assert (
        result.exit_code == 1
        and f"record {seq}: it carries no MAC, though every record from 4 on is keyed" in result.output
    )


def test_key_rotation_keeps_old_records_verifying_and_signs_new_ones_with_the_new_key(
    database_url, tmp_path, monkeypatch
):
    app = make_app(database_url, tmp_path, monkeypatch)
    old = app.extensions["evidence_keys"].current_id
    _append(app, 2)
    rotated = app.test_cli_runner().invoke(args=["evidence", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.split("new evidence key ")[1].split()[0]
    assert new != old
    close_app(app)

    app = make_app(database_url, tmp_path, monkeypatch)  # the next start of the processes
    assert app.extensions["evidence_keys"].ids == (old, new)
    with app.app_context():
        evidence.append(db.session, "lesson.viewed", module_id="test-callers", details={"after": "rotation"})
        db.session.commit()
        used = list(db.session.scalars(select(Evidence.key_id).order_by(Evidence.seq)))
    assert set(used[:-1]) == {old} and used[-1] == new
    result = _verify(app)
    assert result.exit_code == 0 and "every record's MAC checked" in result.output
    key_file = Path(app.config["EVIDENCE_KEY_FILE"])
    close_app(app)

    # An old key dropped (against the documented steps): its records can no longer be shown genuine.
    lines = key_file.read_text().splitlines()
    key_file.write_text("\n".join(line for line in lines if not line.startswith(old)) + "\n")
    app = make_app(database_url, tmp_path, monkeypatch)
    result = _verify(app)
    assert result.exit_code == 1 and f"record 1: its MAC was made with key '{old}', which is not among" in result.output
    close_app(app)


def test_keys_can_come_from_the_environment(database_url, tmp_path, monkeypatch):
    first, second = secrets.token_hex(32), secrets.token_hex(32)
    monkeypatch.setenv("EVIDENCE_KEYS", f"old:{first}")
    app = make_app(database_url, tmp_path, monkeypatch)
    _append(app, 1)
    assert "EVIDENCE_KEYS" in app.test_cli_runner().invoke(args=["evidence", "rotate-key"]).output
    assert not Path(app.config["EVIDENCE_KEY_FILE"]).exists()
    close_app(app)
    monkeypatch.setenv("EVIDENCE_KEYS", f"old:{first},new:{second}")
    app = make_app(database_url, tmp_path, monkeypatch)
    with app.app_context():
        evidence.append(db.session, "lesson.viewed", details={})
        db.session.commit()
        assert list(db.session.scalars(select(Evidence.key_id).order_by(Evidence.seq))) == ["old", "new"]
    assert _verify(app).exit_code == 0
    close_app(app)
    monkeypatch.setenv("EVIDENCE_KEYS", "new:abcd")
    with pytest.raises(ValueError, match="EVIDENCE_KEYS: key 'new' has 2 bytes; at least 32"):
        make_app(database_url, tmp_path, monkeypatch)


# --- the anchor ----------------------------------------------------------------------------------


def test_the_first_run_starts_the_anchor_and_a_deleted_anchor_is_an_alarm(app):
    _append(app, 3)
    first = _verify(app)
    assert first.exit_code == 0 and "anchor not started yet" in first.output
    started = _verify(app, "--alert")
    assert started.exit_code == 0, started.output
    lines = _anchor(app).read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["start", "daily"]
    assert [json.loads(line)["seq"] for line in lines] == [3, 4]
    with app.app_context():
        assert db.session.get(Evidence, 4).event == chain_check.ANCHOR_STARTED
    assert _kinds(app) == ["chain-head"]  # the day's head, to the compliance officer

    _anchor(app).unlink()
    result = _verify(app)
    assert result.exit_code == 1
    assert (
        f"ANCHOR MISSING: the anchor file {_anchor(app)} is missing, but record 4 says it was started" in result.output
    )
    alert = _verify(app, "--alert")
    assert alert.exit_code == 1 and "ANCHOR MISSING" in alert.output and "alert: 1 new" in alert.output
    assert not _anchor(app).exists()  # never started again over the alarm
    with app.app_context():
        body = db.session.scalar(select(OutboxMessage.body).where(OutboxMessage.kind == "chain-alert"))
    assert "the anchor: ANCHOR MISSING" in body

    # The start record truncated away too: this server's marker still says it was started.
    disable_evidence_triggers(app)
    with app.app_context():
        db.session.execute(text("DELETE FROM evidence WHERE seq >= 4"))
        db.session.commit()
    result = _verify(app)
    assert result.exit_code == 1 and "but this server's evidence-anchor-started says it started it" in result.output

    _anchor(app).write_text("")  # emptied rather than deleted
    assert "ANCHOR MISSING" in _verify(app).output and "is empty" in _verify(app).output


def _rewrite_last_head(lines: list[str]) -> list[str]:
    last = json.loads(lines[-1])
    last["head"] = "f" * 64
    return [*lines[:-1], json.dumps(last)]


def _re_mac_with_a_key_of_ones_own(lines: list[str]) -> list[str]:
    from quiz import evidence_keys

    last = json.loads(lines[-1])
    signed = {k: last[k] for k in ("at", "head", "keyed_from", "kind", "prev", "seq")}
    signed["head"] = "f" * 64
    mine = evidence_keys.Keyring((("mine", b"k" * 32),), "attacker")
    key_id, mac = mine.mac(evidence_keys.ANCHOR_PURPOSE, json.dumps(signed, sort_keys=True, separators=(",", ":")))
    return [*lines[:-1], json.dumps({**signed, "key_id": key_id, "mac": mac})]


@pytest.mark.parametrize(
    "corrupt, named",
    [
        (lambda lines: [*lines, "not json at all"], "line 4 is not JSON"),
        (_rewrite_last_head, "line 3: its MAC does not match"),
        (_re_mac_with_a_key_of_ones_own, "line 3: its MAC was made with key 'mine'"),
        (lambda lines: [lines[0], lines[2]], "line 2 does not follow line 1"),
        (lambda lines: [lines[1], lines[0], lines[2]], "line 1 does not follow line 0"),
        (lambda lines: [*lines, '{"seq": 1'], "line 4 is cut short"),
    ],
)
def test_a_corrupt_or_rewritten_anchor_is_an_alarm(app, corrupt, named):
    _append(app, 2)
    assert _verify(app, "--alert").exit_code == 0  # lines 1 and 2
    assert _verify(app, "--alert").exit_code == 0  # line 3
    path = _anchor(app)
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    text_ = "\n".join(corrupt(lines)) + "\n"
    if "cut short" in named:
        text_ = text_[:-1]
    path.write_text(text_)
    result = _verify(app)
    assert result.exit_code == 1 and "ANCHOR CORRUPT" in result.output and named in result.output, result.output
    assert _verify(app, "--alert").exit_code == 1
    assert path.read_text() == text_  # nothing appended to a file that is not sound


# --- derived state held to the evidence ----------------------------------------------------------


def test_assignments_flipped_to_done_or_waived_and_clearances_without_evidence_are_named(app, tmp_path):
    workforce(app)  # Dana done (signed), Ben overdue and waived, Cy open
    ok = _verify(app)
    assert ok.exit_code == 0 and "assignments ok" in ok.output
    with app.app_context():
        db.session.execute(
            text(
                "UPDATE assignments SET state = 'done' WHERE user_id = "
                "(SELECT id FROM users WHERE email = 'cy@example.org')"
            )
        )
        db.session.execute(
            text(
                "UPDATE assignments SET state = 'waived' WHERE module_id = 'test-callers' AND user_id = "
                "(SELECT id FROM users WHERE email = 'ben@example.org')"
            )
        )
        db.session.execute(text("UPDATE users SET cleared_at = CURRENT_TIMESTAMP WHERE email = 'ben@example.org'"))
        db.session.commit()
    result = _verify(app)
    assert result.exit_code == 1 and "ASSIGNMENTS DISAGREE WITH THE EVIDENCE: 3" in result.output
    named = [line.strip() for line in result.output.splitlines() if line.startswith("  ")]
    assert len(named) == 3
    assert named[0].startswith("ben@example.org, -, cleared for PHI")
    assert named[1].startswith("ben@example.org, test-callers, waived") and 'no "Assignment waived" record' in named[1]
    assert named[2].startswith("cy@example.org, test-callers, done") and 'no "Assignment completed" record' in named[2]
    assert "dana@example.org" not in result.output and "evidence ok" in result.output  # the chain itself is intact

    # The audit package says so, and the command that makes it fails.
    out = tmp_path / "package.zip"
    made = app.test_cli_runner().invoke(args=["evidence", "package", "-o", str(out)])
    assert made.exit_code == 1 and "cy@example.org, test-callers, done" in made.output
    import zipfile

    readme = " ".join(zipfile.ZipFile(out).read("README.txt").decode().split())
    assert "did NOT agree with the evidence" in readme and "cy@example.org, test-callers, done" in " ".join(
        readme.split()
    )
    # The chain page names them, and the daily check alerts.
    page = page_text(signed_in_as(app, "compliance").get("/audit/chain").text)
    assert "cy@example.org test-callers done" in page
    alert = _verify(app, "--alert")
    assert alert.exit_code == 1 and "chain-alert" in _kinds(app)


def test_a_done_assignment_whose_signature_record_is_missing_is_named(app):
    """A done assignment and its completion record copied from someone else's are not enough:
    the signed acknowledgement of the attempt is the evidence."""
    workforce(app)
    with app.app_context():
        signed = db.session.scalar(select(Evidence.seq).where(Evidence.event == "acknowledgement.signed"))
    disable_evidence_triggers(app)
    with app.app_context():  # the signature alone removed (the chain breaks there too: verify names it)
        db.session.execute(text("DELETE FROM evidence WHERE seq = :s"), {"s": signed})
        db.session.commit()
    with app.app_context():
        from quiz import state_check

        found = state_check.disagreements(db.session)
    assert [(d.email, d.module_id, d.state) for d in found] == [("dana@example.org", "test-callers", "done")]
    assert 'no "Acknowledgement signed" record of the attempt (1)' in found[0].why


def test_a_legitimate_waiver_and_clearance_agree(app):
    from quiz import assignments
    from quiz.models import User

    workforce(app)
    add_user(app, email="boss@example.org", name="Mo Manager", role="manager", job_role="leadership")
    with app.app_context():
        dana = db.session.scalar(select(User).where(User.email == "dana@example.org"))
        boss = db.session.scalar(select(User).where(User.email == "boss@example.org"))
        assignments.clear_for_phi(db.session, dana, boss)
        db.session.commit()
    client = app.test_client()
    assert sign_in(client, "dana@example.org").status_code == 303
    result = _verify(app)
    assert result.exit_code == 0 and "assignments ok" in result.output, result.output
