"""Six years of evidence: the audit pages, the CSV download and the chain check at that size.

    .venv/bin/python bench/evidence_scale.py                          # 1,000,000 records, SQLite
    .venv/bin/python bench/evidence_scale.py --records 3000000 --db both

A hospital keeps its training evidence for six years (45 CFR 164.530(j)): about 180 records a
person a year (a module is an attempt, its lesson screens, its answers, a score, a result and a
signature, plus assignments and reminders), so about a million for 1,000 staff. This fills a
fresh database with that many valid, chained records spread over six years and N people, in
the proportions learners write them (lesson views and answers most, module failures rarest),
then times, in-process (Flask's test client, a compliance officer signed in, wall time):
the Evidence page as it first opens, filtered by one person, by a rare kind of record, by one
month, and 1,000 pages deep; one record's page; downloading one person's records and every
record as CSV; the whole-chain check (the page, and ``evidence.verify``), in records per
second; and an audit package of one department's last year and of everything. There are no
targets: the figures say what a compliance officer waits for.

Nothing here runs under `make test`. PostgreSQL: the `bench` database is dropped and
re-created (bench/common.py), never `test`.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # measure this checkout's quiz

from common import (  # noqa: E402
    ROOT,
    csrf_token_in,
    fresh_database,
    in_process_app,
    machine_line,
    rmtree_quiet,
    say,
    table,
)

#: The share of each kind of record, roughly as a year of learners writes them.
MIX = {
    "lesson.viewed": 40,
    "choice.made": 30,
    "attempt.started": 7,
    "scenario.finished": 7,
    "module.passed": 6,
    "acknowledgement.signed": 6,
    "assignment.created": 6,
    "assignment.completed": 6,
    "reminder.sent": 3,
    "module.failed": 1,
    "assignment.overdue": 1,
}
YEARS = 6
PASSWORD = "bench passphrase 2026"


def _app(database_url: str, work: Path):
    """The app on a fresh database with the test content, a compliance officer, and the one
    person the filters look for (found by email, as on the page); the others' records name
    people who are not in this database, which changes nothing."""
    from quiz import accounts
    from quiz.db import db

    app = in_process_app(database_url, work)
    with app.app_context():
        accounts.create_user(
            db.session,
            email="officer@example.org",
            name="Casey Officer",
            password=PASSWORD,
            role="compliance",
            job_role="leadership",
        )
        person = accounts.create_user(
            db.session, email="person7@example.org", name="Person 7", password=PASSWORD, job_role="front-desk"
        )
        db.session.commit()
        app.config["BENCH_PERSON_7"] = person.id
    return app


def fill(app, records: int, people: int, batch: int = 5000) -> None:
    """``records`` chained records over six years, ending now, written straight into the table
    (as the app's chain would have: each hash covers the one before)."""
    from sqlalchemy import insert

    from quiz import evidence
    from quiz.db import db
    from quiz.models import Evidence

    rng = random.Random(2026)
    kinds, weights = zip(*MIX.items(), strict=False)
    modules = ["test-callers", "test-refresher"]
    end = datetime.now(UTC)
    start = end - timedelta(days=365 * YEARS)
    step = (end - start) / records
    prev = evidence.GENESIS_HASH
    rows: list[dict] = []
    with app.app_context():
        statement = insert(Evidence.__table__)
        for seq in range(1, records + 1):
            person = rng.randrange(1, people + 1)
            record = {
                "seq": seq,
                "recorded_at": evidence.utc_timestamp(start + step * seq),
                "user_id": app.config["BENCH_PERSON_7"] if person == 7 else 100_000 + person,
                "learner_email": f"person{person}@example.org",
                "learner_name": f"Person {person}",
                "job_role": "front-desk",
                "department": f"Ward {person % 40}",
                "supervisor": "Robin Boss <boss@example.org>",
                "module_id": rng.choice(modules),
                "content_version": "c" * 64,
                "policy_version": "1.0",
                "event": rng.choices(kinds, weights)[0],
                "details": evidence.canonical_json({"attempt": 1, "node": "call", "choice": 1, "points": 2}),
                "prev_hash": prev,
            }
            prev = record["hash"] = evidence.record_hash(record)
            rows.append(record)
            if len(rows) == batch:
                db.session.execute(statement, rows)
                db.session.commit()
                rows = []
        if rows:
            db.session.execute(statement, rows)
            db.session.commit()


def fill_assignments(app, people: int, per_person: int, batch: int = 5000) -> int:
    """``people`` accounts (a twentieth of them gone) with ``per_person`` assignments each, due
    across the six years: past ones done a few days before they were due (a fiftieth waived, a
    thirtieth left open: overdue), the rest open. Written straight into the tables."""
    from sqlalchemy import insert, select

    from quiz.db import db
    from quiz.models import NO_PASSWORD, Assignment, User

    rng = random.Random(2027)
    today = datetime.now(UTC).date()
    first = today - timedelta(days=365 * YEARS)
    with app.app_context():
        db.session.execute(
            insert(User.__table__),
            [
                {
                    "email": f"staff{n}@example.org",
                    "name": f"Staff {n:05d}",
                    "password_hash": NO_PASSWORD,
                    "role": "learner",
                    "job_role": "front-desk",
                    "department": f"Ward {n % 40}",
                    "active": n % 20 != 0,
                    "session_version": 1,
                    "failed_logins": 0,
                    "person_kind": "employee",
                }
                for n in range(1, people + 1)
            ],
        )
        ids = list(db.session.scalars(select(User.id).where(User.email.like("staff%"))))
        rows, count = [], 0
        for uid in ids:
            for _ in range(per_person):
                due = first + timedelta(days=rng.randrange(0, 365 * YEARS + 60))
                past, roll = due < today, rng.random()
                state = ("waived" if roll < 0.02 else "open" if roll < 0.053 else "done") if past else "open"
                closed = datetime.combine(due - timedelta(days=rng.randrange(0, 20)), datetime.min.time(), UTC)
                rows.append(
                    {
                        "user_id": uid,
                        "module_id": rng.choice(["test-callers", "test-refresher"]),
                        "due_on": due,
                        "reason": "annual-refresher",
                        "state": state,
                        "waived_reason": "Bench" if state == "waived" else None,
                        "closed_at": closed if state in ("done", "waived") else None,
                    }
                )
                if len(rows) == batch:
                    db.session.execute(insert(Assignment.__table__), rows)
                    count, rows = count + len(rows), []
        if rows:
            db.session.execute(insert(Assignment.__table__), rows)
            count += len(rows)
        db.session.commit()
    return count


def _timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(kind: str, records: int, people: int, per_person: int, repeat: int) -> list[list]:
    work = Path(tempfile.mkdtemp(prefix=f"rounds-evidence-scale-{kind}-"))
    try:
        app = _app(fresh_database(kind, work), work)
        t0 = time.perf_counter()
        fill(app, records, people)
        say(f"{kind}: {records:,} records for {people:,} people written in {time.perf_counter() - t0:.0f} s")
        assigned = fill_assignments(app, people, per_person)
        say(f"{kind}: {assigned:,} assignments for {people:,} people written")
        client = app.test_client()
        page = client.get("/auth/login").text
        client.post(
            "/auth/login",
            data={"email": "officer@example.org", "password": PASSWORD, "csrf_token": csrf_token_in(page)},
        )
        month = (datetime.now(UTC) - timedelta(days=400)).date().replace(day=1)
        month_end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)

        def get(url: str, expect: str | None = None) -> int:
            response = client.get(url)
            if response.status_code != 200 or (expect and expect not in response.get_data(as_text=True)):
                raise SystemExit(f"{url}: {response.status_code}, expected {expect!r}")
            return len(response.get_data())

        rows: list[list] = []

        def row(what: str, url: str, expect: str | None = None) -> None:
            get(url, expect)  # warm
            seconds = _timed(lambda: get(url, expect), repeat)
            rows.append([kind, what, f"{seconds * 1000:,.0f} ms"])

        row("Evidence page, as it opens (newest 50, count of all)", "/audit/", f"{records:,} records")
        row("filtered by one person", "/audit/?email=person7@example.org", "records found")
        row("filtered by a rare kind (module failed, ~1%)", "/audit/?event=module.failed", "records found")
        row(f"filtered by one month ({month:%Y-%m})", f"/audit/?since={month}&until={month_end}", "records found")
        deep = max(records - 50_000, records // 2)
        row(
            f"{(records - deep) // 50:,} pages deep (older than record {deep:,})",
            f"/audit/?before={deep}",
            "Older records",
        )
        row("one record, checked against its hash", f"/audit/records/{records // 2}", "matches its hash")
        row("CSV of one person's records", "/audit/evidence.csv?email=person7@example.org")

        row(f"Training report, as it opens (first 100 of {assigned:,}, counts)", "/audit/training", "assignments")
        row("training report, overdue only", "/audit/training?state=overdue", "assignments found")
        row("training report, one department", "/audit/training?department=Ward+7", "assignments found")
        t0 = time.perf_counter()
        size = get("/audit/training.csv")
        seconds = time.perf_counter() - t0
        rows.append([kind, f"training report CSV, every assignment ({size / 1e6:,.1f} MB)", f"{seconds:,.1f} s"])

        t0 = time.perf_counter()
        size = get("/audit/evidence.csv")
        seconds = time.perf_counter() - t0
        rows.append(
            [
                kind,
                f"CSV of every record ({size / 1e6:,.0f} MB)",
                f"{seconds:,.1f} s ({records / seconds:,.0f} records/s)",
            ]
        )
        t0 = time.perf_counter()
        get("/audit/chain", "Every record is intact")
        seconds = time.perf_counter() - t0
        rows.append(
            [kind, "Check the whole chain (the page)", f"{seconds:,.1f} s ({records / seconds:,.0f} records/s)"]
        )
        from quiz import evidence
        from quiz.db import db

        with app.app_context():
            t0 = time.perf_counter()
            result = evidence.verify(db.session)
            seconds = time.perf_counter() - t0
            assert result.ok and result.count == records, result
            db.session.remove()
            db.engine.dispose()
        rows.append(
            [
                kind,
                "evidence.verify (as `flask evidence verify`)",
                f"{seconds:,.1f} s ({records / seconds:,.0f} records/s)",
            ]
        )

        def package(what: str, **scope: str) -> None:
            token = csrf_token_in(client.get("/audit/package").get_data(as_text=True))
            t0 = time.perf_counter()
            response = client.post("/audit/package", data={"csrf_token": token, **scope})
            seconds = time.perf_counter() - t0
            if response.status_code != 200 or response.mimetype != "application/zip":
                raise SystemExit(f"audit package {scope}: {response.status_code}")
            size = len(response.get_data())
            shown = f"{size / 1e6:,.1f} MB" if size >= 1e6 else f"{size / 1e3:,.0f} KB"
            rows.append([kind, f"Audit package, {what} ({shown} zipped)", f"{seconds:,.1f} s"])

        year_ago = (datetime.now(UTC) - timedelta(days=365)).date()
        package("one department, the last year", department="Ward 7", since=str(year_ago))
        package("everything (six years, everyone)")
        return rows
    finally:
        rmtree_quiet(work)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--people", type=int, default=1_000)
    ap.add_argument("--assignments", type=int, default=30, help="assignments per person (six years)")
    ap.add_argument("--repeat", type=int, default=5, help="timings per page (the median is shown)")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    say(f"machine: {machine_line()}")
    rows = []
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        rows += measure(kind, args.records, args.people, args.assignments, args.repeat)
    say("")
    say(table(["database", "what", "wall time (median)"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
