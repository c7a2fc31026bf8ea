"""The organization's clock (TIME_ZONE): days and times as people there read them, "today" and
"late" counted where they are; UTC stays in the database and the evidence.

The scene: a New York front desk's training due on Sunday 1 March 2026, signed that evening at
20:30 EST, which is already 2 March in UTC. Counted in UTC it would be late and completed on the
2nd; in New York it was done on time on the 1st.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import select

from quiz import clock
from quiz.db import db
from quiz.models import Evidence

from .helpers import (
    MODULE,
    add_user,
    assign_module,
    close_app,
    make_app,
    pass_and_sign,
    sign_in,
    through_lesson,
)

DUE = date(2026, 3, 1)
EVENING = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 20:30 EST on 1 March


def _signed_in_the_evening(database_url, tmp_path, monkeypatch, zone: str):
    monkeypatch.setenv("TIME_ZONE", zone)
    with time_machine.travel(EVENING, tick=False):
        app = make_app(database_url, tmp_path, monkeypatch)
        add_user(app)
        add_user(app, email="officer@example.org", name="Casey Officer", role="compliance")
        assign_module(app, "learner@example.org", "test-callers", DUE)
        learner = app.test_client()
        sign_in(learner)
        due_line = learner.get("/learn/").text
        through_lesson(learner)
        assert pass_and_sign(learner).status_code == 303
        officer = app.test_client()
        sign_in(officer, email="officer@example.org")
        report = list(csv.DictReader(io.StringIO(officer.get("/audit/training.csv").text.lstrip("\ufeff"))))
        certificate = learner.get(MODULE + "certificate/1").text
    return app, due_line, report, certificate


def test_new_york_evening_training_is_on_time_and_dated_there(database_url, tmp_path, monkeypatch):
    app, due_line, report, certificate = _signed_in_the_evening(database_url, tmp_path, monkeypatch, "America/New_York")
    try:
        # still 1 March in New York: due today, not overdue (in UTC it was already the 2nd)
        assert "Due <time" in due_line and "Overdue" not in due_line
        [row] = [r for r in report if r["module_id"] == "test-callers"]
        assert (row["state"], row["completed_on"], row["late"]) == ("done", "2026-03-01", "no")
        assert row["signed_at"].startswith("2026-03-02T01:30")  # the CSV's signed_at stays UTC, as recorded
        assert "01 March 2026, 20:30 EST" in certificate
        with app.app_context():
            stamps = [e.recorded_at for e in db.session.scalars(select(Evidence).order_by(Evidence.seq))]
        assert stamps and all(s.endswith("Z") for s in stamps)  # the evidence keeps UTC
        assert any(s.startswith("2026-03-02T01:30") for s in stamps)
    finally:
        close_app(app)


def test_the_same_evening_counted_in_utc_is_late(database_url, tmp_path, monkeypatch):
    app, due_line, report, certificate = _signed_in_the_evening(database_url, tmp_path, monkeypatch, "UTC")
    try:
        assert "Overdue" in due_line
        [row] = [r for r in report if r["module_id"] == "test-callers"]
        assert (row["state"], row["completed_on"], row["late"]) == ("done", "2026-03-02", "yes")
        assert "02 March 2026, 01:30 UTC" in certificate
    finally:
        close_app(app)


def test_a_time_zone_that_is_not_one_stops_the_start_with_its_name(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TIME_ZONE", "Eastern")
    with pytest.raises(ValueError, match="TIME_ZONE must be a time zone name such as America/New_York"):
        make_app(database_url, tmp_path, monkeypatch)


def test_local_text_names_the_zone_and_says_utc_beside_it_for_auditors():
    new_york = clock.zone("America/New_York")
    assert clock.local_text(EVENING, new_york) == "2026-03-01 20:30 EST"
    assert clock.local_text(EVENING, new_york, with_utc=True) == "2026-03-01 20:30 EST (2026-03-02 01:30 UTC)"
    assert clock.local_text("2026-07-04T16:00:00.000000Z", new_york) == "2026-07-04 12:00 EDT"  # an evidence stamp
    assert clock.local_text(EVENING, clock.zone("UTC"), with_utc=True) == "2026-03-02 01:30 UTC"
    assert clock.today_in(new_york, EVENING) == DUE
