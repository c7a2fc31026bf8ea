"""A hospital system's size: 10,000 staff, 200-odd managers, six years of training history.

    .venv/bin/python bench/org_scale.py                                   # 10,000 people, SQLite
    .venv/bin/python bench/org_scale.py --people 2000
    .venv/bin/python bench/org_scale.py --database-url postgresql://postgres@127.0.0.1:5432/bench

Generates an HR roster of N people (default 10,000) with a realistic manager tree (a chief, a
dozen directors, about 200 managers in all, a few levels deep), work states, departments, job
roles and specialties, and imports it through the roster import path (`flask --app app roster
import FILE --apply`, run in process through Flask's CLI runner), timed. Then it bulk-inserts
six years of history straight into the tables (executemany, not the ORM's unit of work): for
each person, from their hire date, each module of their role's onboarding and refresher plan
taken about once a year (a signed attempt, its first answers, the assignment it closed), some
open and overdue assignments, trigger events and a year of outbox messages. It then measures:

* every admin and manager page (Flask's test client, signed in; an admin, a director and a line
  manager): time (median of `--repeat` runs after one warm-up) and bytes;
* `assignments refresh`: the first run on that history, and a second run with nothing to do;
  `reminders send` (no SMTP: into the outbox); the same roster file imported again
  (`--skip-jobs` leaves these out);
* the longest write transaction each job holds (engine events: from BEGIN to COMMIT of each
  transaction that wrote, per connection; on SQLite each that began as a writer, with BEGIN
  IMMEDIATE, as it holds the write lock from there).

Targets (issue 28, on this machine's size, at 10,000 staff): import < 30 s; refresh with nothing
to do < 5 s; no job holds the write lock > 250 ms; every admin and manager page < 300 ms and
< 150 KB. It prints a table and which targets are met, and exits 1 when one is missed.

Nothing here runs under `make test`. PostgreSQL: pass --database-url (the database is emptied:
its public schema is dropped). The default SQLite file lives in a temp dir removed at the end
(--keep keeps it).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # measure this checkout's quiz

from common import REAL_CONTENT, csrf_token_in, in_process_app, machine_line, rmtree_quiet, say, table  # noqa: E402

PASSWORD = "bench org passphrase 2026"
YEARS = 6
MANAGERS = 200
TARGETS = {"import_s": 30.0, "refresh_idle_s": 5.0, "write_lock_ms": 250.0, "page_ms": 300.0, "page_kb": 150.0}

#: Job roles in roughly a hospital's proportions, with the specialties each may carry.
ROLE_MIX = [
    ("clinical", 40, [None, "medical", "behavioral-health", "dental"]),
    ("front-desk", 18, [None, "medical", "dental"]),
    ("billing", 10, [None]),
    ("case-manager", 8, [None, "behavioral-health"]),
    ("pharmacy", 8, ["pharmacy"]),
    ("it", 6, [None]),
    ("business-associate", 6, [None]),
    ("leadership", 4, [None]),
]
STATES = [("TX", 35), ("CA", 20), ("NY", 15), ("FL", 10), ("IL", 8), ("WA", 6), ("OH", 6)]
DEPARTMENTS = [
    "Cardiology",
    "Oncology",
    "Emergency",
    "Radiology",
    "Pediatrics",
    "Orthopedics",
    "Neurology",
    "Surgery",
    "Intensive Care",
    "Maternity",
    "Pharmacy",
    "Laboratory",
    "Billing Office",
    "Patient Access",
    "Health IT",
    "Behavioral Health",
    "Dental Clinic",
    "Primary Care",
    "Dermatology",
    "Urology",
    "Nephrology",
    "Gastroenterology",
    "Pulmonology",
    "Rehabilitation",
    "Nutrition",
    "Social Work",
    "Case Management",
    "Quality",
    "Compliance",
    "Facilities",
    "Home Health",
    "Hospice",
    "Outpatient Surgery",
    "Endocrinology",
    "Rheumatology",
    "Sleep Center",
    "Wound Care",
    "Infusion",
    "Transplant",
    "Vendor Services",
]
FIRST = [
    "Ana",
    "Ben",
    "Cara",
    "Dev",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivan",
    "Jo",
    "Kai",
    "Lena",
    "Moe",
    "Nia",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sam",
    "Tia",
    "Uma",
    "Vik",
    "Wes",
    "Xia",
    "Yusuf",
    "Zoe",
]
LAST = [
    "Alvarez",
    "Brown",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Huang",
    "Ito",
    "Jones",
    "Kim",
    "Lopez",
    "Miller",
    "Nguyen",
    "Okafor",
    "Patel",
    "Quist",
    "Reyes",
    "Smith",
    "Tran",
    "Usman",
    "Vega",
    "Wong",
    "Young",
]


def weighted(rng: random.Random, pairs):
    items, weights = zip(*[(p[0], p[1]) for p in pairs], strict=False)
    return rng.choices(items, weights=weights)[0]


# --- the roster ----------------------------------------------------------------------------------


def roster_rows(people: int, today: date, seed: int = 7) -> list[dict]:
    """N people: person 0 the chief; 12 directors under them; the rest of ~200 managers under
    the directors (some under other managers: a deeper tree); staff under the managers."""
    rng = random.Random(seed)
    managers = min(MANAGERS, max(2, people // 50))
    directors = max(1, min(12, managers // 15))
    rows = []
    for n in range(people):
        role, _, specialties = rng.choices(ROLE_MIX, weights=[r[1] for r in ROLE_MIX])[0]
        if n < managers:
            role, specialties = "leadership", [None]
        if n == 0:
            boss = None
        elif n <= directors:
            boss = 0
        elif n < managers:
            boss = (
                rng.randrange(1, directors + 1)
                if rng.random() < 0.7
                else rng.randrange(directors + 1, n)
                if n > directors + 1
                else 1
            )
        else:
            boss = rng.randrange(directors + 1, managers) if managers > directors + 1 else 0
        hired = today - timedelta(days=rng.randrange(0, 365 * (YEARS + 4)))
        rows.append(
            {
                "employee_id": f"E{n:06d}",
                "email": f"staff{n:06d}@hospital.example.org",
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {n:05d}",
                "job_role": role,
                "specialty": rng.choice(specialties) or "",
                "department": DEPARTMENTS[(n * 7 + rng.randrange(3)) % len(DEPARTMENTS)]
                if n >= managers
                else DEPARTMENTS[n % len(DEPARTMENTS)],
                "supervisor_email": f"staff{boss:06d}@hospital.example.org" if boss is not None else "",
                "hire_date": hired.isoformat(),
                "work_state": weighted(rng, STATES),
                "kind": "contractor" if rng.random() < 0.05 else "employee",
                "active": "yes",
            }
        )
    return rows


def as_csv(rows: list[dict]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# --- the write-lock meter ------------------------------------------------------------------------


class WriteMeter:
    """Per connection, the time from BEGIN to COMMIT (or ROLLBACK) of each transaction that
    wrote (an INSERT, UPDATE or DELETE) or, on SQLite, began as a writer (BEGIN IMMEDIATE:
    it holds the database's one write lock until it ends)."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.engine, self.event = engine, event
        self.spans: list[float] = []
        self.listeners = [
            ("begin", self._begin),
            ("before_cursor_execute", self._statement),
            ("commit", self._end),
            ("rollback", self._end),
        ]
        for name, fn in self.listeners:
            event.listen(engine, name, fn)

    def _begin(self, conn):
        from quiz.db import write_intent

        # SQLite: a writing transaction holds the write lock from its BEGIN IMMEDIATE (emitted
        # by the app's own "begin" listener, before this one), whether or not it writes.
        conn.info["bench_t0"] = time.perf_counter()
        conn.info["bench_wrote"] = conn.dialect.name == "sqlite" and write_intent.get()

    def _statement(self, conn, cursor, statement, *rest):
        head = statement.lstrip()[:16].upper()
        if head.startswith(("INSERT", "UPDATE", "DELETE")):
            conn.info["bench_wrote"] = True

    def _end(self, conn):
        t0 = conn.info.pop("bench_t0", None)
        if t0 is not None and conn.info.pop("bench_wrote", False):
            self.spans.append((time.perf_counter() - t0) * 1000)

    def take(self) -> tuple[float, int]:
        """(longest write transaction in ms, how many) since the last take."""
        spans, self.spans = self.spans, []
        return (max(spans) if spans else 0.0), len(spans)

    def close(self):
        for name, fn in self.listeners:
            self.event.remove(self.engine, name, fn)


# --- history -------------------------------------------------------------------------------------


def insert_history(app, today: date, seed: int = 11) -> dict:
    """Six years of signed attempts (with first answers), the assignments they closed, open and
    overdue assignments, trigger events and a year of outbox messages, bulk-inserted."""
    from sqlalchemy import insert, select

    from quiz.content.curricula import load_curricula
    from quiz.db import db
    from quiz.models import Answer, Assignment, Attempt, ContentVersion, OutboxMessage, TriggerEvent, User

    rng = random.Random(seed)
    start = today - timedelta(days=365 * YEARS)
    counts: dict[str, int] = defaultdict(int)
    with app.app_context():
        lib = app.extensions["content_store"].library
        curricula, _ = load_curricula(Path(app.config["CONTENT_DIR"]), lib)
        stored = set(db.session.scalars(select(ContentVersion.version)))
        modules = {m.id: m for m in lib.modules.values() if m.version in stored}
        people = db.session.execute(
            select(User.id, User.job_role, User.specialty, User.hire_date, User.supervisor_id).where(
                User.employee_id.is_not(None)
            )
        ).all()
        admin_id = db.session.scalar(select(User.id).where(User.email == "admin@hospital.example.org"))
        first_ids = db.session.scalar(select(Attempt.id).order_by(Attempt.id.desc()).limit(1)) or 0
        next_attempt = first_ids + 1
        attempts, answers, done, open_ = [], [], [], []
        # The import opened onboarding assignments: one open per person and module (the
        # database's rule, migration 0009), so the history adds no second one.
        already_open = set(
            db.session.execute(
                select(Assignment.user_id, Assignment.module_id).where(Assignment.state.in_(("open", "overdue")))
            ).tuples()
        )

        def flush():
            nonlocal attempts, answers, done, open_
            conn = db.session.connection()
            for model, rows in ((Attempt, attempts), (Answer, answers), (Assignment, done + open_)):
                if rows:
                    conn.execute(insert(model.__table__), rows)
                    counts[model.__tablename__] += len(rows)
            attempts, answers, done, open_ = [], [], [], []

        for uid, role, specialty, hired, _boss in people:
            plan = curricula.plan(role)
            wanted = list(
                dict.fromkeys(list(plan.onboarding) + [item.module for item, _ in curricula.refreshers(role)])
            )
            wanted = [modules[m] for m in wanted if m in modules and modules[m].is_for(role, specialty)]
            begin = max(start, hired or start)
            for module in wanted:
                number = 0
                day = begin + timedelta(days=rng.randrange(5, 40))
                while day < today - timedelta(days=20):
                    number += 1
                    signed = datetime(day.year, day.month, day.day, 9 + rng.randrange(8), rng.randrange(60), tzinfo=UTC)
                    aid = next_attempt
                    next_attempt += 1
                    attempts.append(
                        {
                            "id": aid,
                            "user_id": uid,
                            "module_id": module.id,
                            "number": number,
                            "module_version": module.version,
                            "policy_version": module.policy_version,
                            "scenario_versions": "[]",
                            "stage": "finished",
                            "screen": 0,
                            "scenario_index": 0,
                            "step": 20,
                            "score": 80 + rng.randrange(21),
                            "passed": True,
                            "started_at": signed - timedelta(minutes=module.minutes),
                            "finished_at": signed,
                            "acknowledged_at": signed,
                            "acknowledged_name": "bench",
                            "choice_key": "0" * 32,
                        }
                    )
                    if number == 1:
                        for step, (sid, objective) in enumerate(_decisions(lib, module, specialty)[:4]):
                            correct = rng.random() < 0.8
                            answers.append(
                                {
                                    "attempt_id": aid,
                                    "step": step + 1,
                                    "scenario_index": 0,
                                    "scenario_id": sid[0],
                                    "scenario_version": sid[1],
                                    "node_id": sid[2],
                                    "objective": objective,
                                    "choice_number": 1 if correct else 2,
                                    "to_node": "next",
                                    "first_visit": True,
                                    "points": 10 if correct else 0,
                                    "correct": correct,
                                    "critical": False,
                                    "answered_at": signed - timedelta(minutes=2),
                                }
                            )
                    done.append(
                        {
                            "user_id": uid,
                            "module_id": module.id,
                            "due_on": day + timedelta(days=rng.randrange(0, 30)),
                            "reason": "onboarding" if number == 1 else "refresher",
                            "detail": None,
                            "state": "done",
                            "created_at": signed - timedelta(days=20),
                            "closed_at": signed,
                            "closed_by_attempt_id": aid,
                            "assigned_by_id": None,
                        }
                    )
                    day += timedelta(days=330 + rng.randrange(60))
            if wanted and rng.random() < 0.25:  # an open one: some late, some coming up
                module = rng.choice(wanted)
                if (uid, module.id) in already_open:
                    continue
                due = today + timedelta(days=rng.randrange(-60, 45))
                open_.append(
                    {
                        "user_id": uid,
                        "module_id": module.id,
                        "due_on": due,
                        "reason": "manager-choice",
                        "detail": "bench",
                        "state": "overdue" if due < today - timedelta(days=1) else "open",
                        "created_at": datetime.now(UTC) - timedelta(days=30),
                        "closed_at": None,
                        "closed_by_attempt_id": None,
                        "assigned_by_id": None,
                    }
                )
            if len(attempts) > 20000:
                flush()
        flush()
        # Trigger events: about one a week for six years, each for a handful of people.
        conn = db.session.connection()
        ids = [p[0] for p in people]
        some = list(modules)[:3]
        for week in range(YEARS * 52):
            happened = start + timedelta(days=7 * week)
            event_id = conn.execute(
                insert(TriggerEvent.__table__).values(
                    kind=rng.choice(["incident", "near-miss", "audit-finding", "new-system"]),
                    title=f"Event of week {week}",
                    description=None,
                    occurred_on=happened,
                    scope_kind="people",
                    scope_value="[]",
                    module_ids=json.dumps(some[:1]),
                    recorded_by_id=admin_id,
                    created_at=datetime.now(UTC),
                )
            ).inserted_primary_key[0]
            conn.execute(
                insert(Assignment.__table__),
                [
                    {
                        "user_id": uid,
                        "module_id": some[0],
                        "due_on": happened + timedelta(days=14),
                        "reason": "trigger-event",
                        "detail": None,
                        "state": "done",
                        "trigger_event_id": event_id,
                        "created_at": datetime.now(UTC),
                        "closed_at": datetime.now(UTC),
                        "assigned_by_id": admin_id,
                    }
                    for uid in rng.sample(ids, 8)
                ],
            )
            counts["trigger_events"] += 1
        # A year of daily digests for a tenth of the staff.
        messages = []
        for n, uid in enumerate(ids[: len(ids) // 10]):
            for week in range(52):
                day = today - timedelta(days=7 * week + n % 7)
                messages.append(
                    {
                        "to_user_id": uid,
                        "to_address": f"u{uid}@hospital.example.org",
                        "subject": "Training due soon",
                        "body": "You have training due.",
                        "kind": "digest",
                        "digest_day": day,
                        "created_at": datetime(day.year, day.month, day.day, 6, tzinfo=UTC),
                        "transport": "outbox",
                        "sent_at": None,
                        "error": None,
                    }
                )
        conn.execute(insert(OutboxMessage.__table__), messages)
        counts["outbox"] += len(messages)
        db.session.commit()
    return dict(counts)


def _decisions(lib, module, specialty) -> list[tuple[tuple[str, str, str], str | None]]:
    """((scenario id, version, node id), objective) of a module's decision points."""
    found = []
    for sid in module.scenario_ids:
        variants = lib.scenarios.get(sid, {})
        scenario = variants.get(specialty) or variants.get(None) or next(iter(variants.values()), None)
        if scenario is None:
            continue
        for node in scenario.nodes.values():
            if node.objective:
                found.append(((sid, scenario.version, node.id), node.objective))
    return found


# --- the run -------------------------------------------------------------------------------------


def timed_cli(app, meter: WriteMeter, *args: str) -> tuple[float, float, int, str]:
    """(seconds, longest write transaction in ms, transactions that wrote, last output line)."""
    runner = app.test_cli_runner()
    meter.take()
    t0 = time.perf_counter()
    result = runner.invoke(args=list(args), catch_exceptions=False)
    seconds = time.perf_counter() - t0
    if result.exit_code != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.exit_code}): {result.output[-2000:]}")
    longest, count = meter.take()
    lines = [line for line in result.output.splitlines() if line.strip()]
    return seconds, longest, count, (lines[-1] if lines else "")


def signed_in(app, email: str):
    client = app.test_client()
    page = client.get("/auth/login")
    response = client.post(
        "/auth/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token_in(page.text)}
    )
    if response.status_code != 303:
        raise SystemExit(f"could not sign in as {email}: {response.status_code}")
    return client


def measure_page(client, url: str, repeat: int) -> tuple[float, int, int]:
    """(median ms, bytes, status) after one warm-up request."""
    client.get(url)
    times, size, status = [], 0, 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        size, status = len(response.data), response.status_code
    return statistics.median(times), size, status


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL (emptied); default a new SQLite file")
    ap.add_argument("--repeat", type=int, default=5, help="timed requests per page (median)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (the SQLite file, the CSV)")
    ap.add_argument("--skip-jobs", action="store_true", help="import and pages only (no refresh, no reminders)")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="rounds-org-"))
    url = args.database_url
    if url and url.startswith("postgres"):
        from sqlalchemy import create_engine, text

        from quiz.config import normalize_database_url

        engine = create_engine(normalize_database_url(url))
        with engine.begin() as conn:  # emptied, as the tests empty theirs
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    url = url or f"sqlite:///{work / 'org.sqlite3'}"
    kind = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    say(f"{machine_line()}")
    say(f"{kind}, {args.people} people, work dir {work}")
    today = date.today()

    from sqlalchemy import func, select

    from quiz import accounts
    from quiz.db import db
    from quiz.models import RosterUpload, TriggerEvent, User

    app = in_process_app(url, work, content_dir=REAL_CONTENT)
    meter = WriteMeter(_engine(app))
    jobs = []
    try:
        secs, lock, n, out = timed_cli(app, meter, "content", "load")
        say(f"content load: {secs:.1f} s ({out})")
        with app.app_context():
            admin = accounts.create_user(
                db.session,
                email="admin@hospital.example.org",
                name="Avery Admin",
                password=PASSWORD,
                role="admin",
                job_role="leadership",
            )
            db.session.commit()
            password_hash = admin.password_hash
        rows = roster_rows(args.people, today)
        csv_path = work / "hr.csv"
        csv_path.write_text(as_csv(rows), encoding="utf-8")
        say(f"roster: {len(rows)} people, {csv_path.stat().st_size // 1024} KB")

        secs, lock, n, out = timed_cli(app, meter, "roster", "import", str(csv_path), "--apply")
        jobs.append(("roster import --apply (first)", secs, lock, n, out))
        say(f"import: {secs:.1f} s, longest write {lock:.0f} ms ({out})")

        t0 = time.perf_counter()
        counts = insert_history(app, today)
        say(f"history inserted in {time.perf_counter() - t0:.1f} s: {counts}")

        # Who signs in: the admin, a director (a big subtree) and a line manager.
        with app.app_context():
            tree = defaultdict(list)
            for uid, boss in db.session.execute(select(User.id, User.supervisor_id)):
                tree[boss].append(uid)

            def below(uid):
                seen, frontier = 0, [uid]
                while frontier:
                    frontier = [c for f in frontier for c in tree.get(f, [])]
                    seen += len(frontier)
                return seen

            director = db.session.scalar(select(User).where(User.employee_id == "E000001"))
            line = max((u for u in tree if u and below(u) < 120 and tree[u]), key=lambda u: below(u))
            line_manager = db.session.get(User, line)
            sizes = {"director": below(director.id), "line manager": below(line_manager.id)}
            for person in (director, line_manager):
                person.role = "manager"
                person.password_hash = password_hash
            someone = db.session.scalar(select(User.id).where(User.supervisor_id == line_manager.id).limit(1))
            upload = RosterUpload(filename="hr.csv", sha256="bench", content=csv_path.read_text(encoding="utf-8"))
            db.session.add(upload)
            db.session.commit()
            upload_id = upload.id
            emails = {
                "admin": "admin@hospital.example.org",
                "director": director.email,
                "line manager": line_manager.email,
            }
            module_id = next(iter(app.extensions["content_store"].library.modules))
            event_id = db.session.scalar(select(func.max(TriggerEvent.id)))
        say(f"director's team: {sizes['director']}, line manager's team: {sizes['line manager']}")

        pages = [
            ("admin", "/admin/"),
            ("admin", "/admin/roster"),
            ("admin", "/admin/roster?page=100"),
            ("admin", "/admin/roster?q=cardiology"),
            ("admin", "/admin/roster?show=not-cleared&standing=overdue"),
            ("admin", "/admin/roster/import"),
            ("admin", f"/admin/roster/import/{upload_id}"),
            ("admin", "/admin/outbox"),
            ("admin", "/admin/outbox?q=training&page=20"),
            ("admin", "/manage/"),
            ("admin", "/manage/?standing=overdue"),
            ("admin", "/manage/?q=E0099"),
            ("admin", "/manage/?department=Cardiology&job_role=clinical&page=2"),
            ("admin", "/manage/events/"),
            ("admin", f"/manage/events/{event_id}"),
            ("admin", "/manage/modules/"),
            ("admin", f"/manage/modules/{module_id}"),
            ("admin", f"/manage/people/{someone}"),
            ("admin", "/manage/events/new"),
            ("director", "/manage/"),
            ("director", "/manage/?standing=overdue"),
            ("director", "/manage/events/"),
            ("director", "/manage/modules/"),
            ("director", f"/manage/modules/{module_id}"),
            ("line manager", "/manage/"),
            ("line manager", "/manage/events/"),
            ("line manager", "/manage/modules/"),
            ("line manager", f"/manage/modules/{module_id}"),
            ("line manager", f"/manage/people/{someone}"),
        ]
        clients = {who: signed_in(app, email) for who, email in emails.items()}
        page_rows = []
        for who, path in pages:
            ms, size, status = measure_page(clients[who], path, args.repeat)
            page_rows.append((who, path, ms, size, status))
            say(f"  {who:12s} {path:55s} {ms:8.1f} ms {size / 1024:8.1f} KB  {status}")
        say("")
        say(
            table(
                ["as", "page", "ms (median)", "KB", "status"],
                [
                    [who, f"`{path}`", f"{ms:.0f}", f"{size / 1024:.0f}", status]
                    for who, path, ms, size, status in page_rows
                ],
            )
        )
        say("")
        if args.skip_jobs:
            say("jobs skipped (--skip-jobs)")
        else:
            for label, cli in (
                ("assignments refresh (first)", ("assignments", "refresh")),
                ("assignments refresh (nothing to do)", ("assignments", "refresh")),
                ("reminders send", ("reminders", "send")),
                ("roster import --apply (same file again)", ("roster", "import", str(csv_path), "--apply")),
            ):
                secs, lock, n, out = timed_cli(app, meter, *cli)
                jobs.append((label, secs, lock, n, out))
                say(f"{label}: {secs:.1f} s, longest write {lock:.0f} ms in {n} transaction(s) ({out[:100]})")
    finally:
        meter.close()

    say("")
    say(f"## {kind}, {args.people} people ({today.isoformat()})")
    say(machine_line())
    say("")
    say(
        table(
            ["job", "seconds", "longest write transaction (ms)", "transactions that wrote"],
            [[label, f"{secs:.1f}", f"{lock:.0f}", n] for label, secs, lock, n, _ in jobs],
        )
    )
    say("")
    say(
        table(
            ["as", "page", "ms (median)", "KB", "status"],
            [
                [who, f"`{path}`", f"{ms:.0f}", f"{size / 1024:.0f}", status]
                for who, path, ms, size, status in page_rows
            ],
        )
    )
    say("")
    import_s = jobs[0][1]
    idle_s = next((secs for label, secs, *_ in jobs if "nothing to do" in label), float("nan"))
    worst_lock = max(lock for _, _, lock, _, _ in jobs)
    slow = [(who, path, ms) for who, path, ms, _, _ in page_rows if ms >= TARGETS["page_ms"]]
    heavy = [(who, path, size) for who, path, _, size, _ in page_rows if size >= TARGETS["page_kb"] * 1024]
    verdicts = [
        (f"import < {TARGETS['import_s']:.0f} s", import_s < TARGETS["import_s"], f"{import_s:.1f} s"),
        (
            f"refresh with nothing to do < {TARGETS['refresh_idle_s']:.0f} s",
            idle_s < TARGETS["refresh_idle_s"],
            f"{idle_s:.1f} s" if idle_s == idle_s else "not run",
        ),
        (
            f"no job holds the write lock > {TARGETS['write_lock_ms']:.0f} ms",
            worst_lock <= TARGETS["write_lock_ms"],
            f"longest {worst_lock:.0f} ms",
        ),
        (
            f"every page < {TARGETS['page_ms']:.0f} ms",
            not slow,
            f"{len(page_rows) - len(slow)} of {len(page_rows)}"
            + (f"; slowest {max(ms for *_, ms in slow):.0f} ms" if slow else ""),
        ),
        (
            f"every page < {TARGETS['page_kb']:.0f} KB",
            not heavy,
            f"{len(page_rows) - len(heavy)} of {len(page_rows)}"
            + (f"; heaviest {max(s for *_, s in heavy) // 1024} KB" if heavy else ""),
        ),
    ]
    say(table(["target", "met", "figure"], [[t, "yes" if ok else "NO", fig] for t, ok, fig in verdicts]))
    if not args.keep:
        rmtree_quiet(work)
    return 0 if all(ok for _, ok, _ in verdicts) else 1


def _engine(app):
    from quiz.db import db

    with app.app_context():
        return db.engine


if __name__ == "__main__":
    sys.exit(main())
