"""The daily jobs and the roster import at an organization's size: how long each takes and the
longest write transaction it holds, with a learner's write tried all along.

    .venv/bin/python bench/jobs_scale.py --people 10000 --db sqlite
    .venv/bin/python bench/jobs_scale.py --people 10000 --db postgresql   # database bench_jobs

Steps, each through its real command (``flask roster import --apply``, ``assignments refresh``,
``reminders send``, ``content load``): the import of a generated roster of N people (about 2% of
them managers, in a tree), a first refresh (six years of hire dates: refreshers fall due), a
refresh with nothing to do, a second import of the same file changed for 5% of the people, the
reminders. Meanwhile a "learner" thread makes one short write every 20 ms on a connection of its
own and records how long it waited and whether it failed. Not a test: no target fails it
(bench/org_scale.py holds the page targets).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(os.environ.get("ROUNDS_SOURCE", ROOT)))

import flask_migrate  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402

from quiz import create_app  # noqa: E402
from quiz.config import PROJECT_ROOT  # noqa: E402
from quiz.db import db, write_intent  # noqa: E402

ROLES = ("front-desk", "case-manager", "pharmacy", "front-desk", "case-manager", "front-desk")
SPECIALTIES = {
    "front-desk": ("medical", "dental", "behavioral-health"),
    "pharmacy": ("pharmacy",),
    "case-manager": ("", "behavioral-health"),
}
STATES = ("TX", "CA", "NY", "WA", "FL", "IL", "OH", "CO")
DEPARTMENTS = [f"Dept {i:03d}" for i in range(60)]


def roster_csv(n: int, seed: int = 1, changed: float = 0.0) -> str:
    rng = random.Random(seed)
    managers = max(1, n // 50)
    lines = ["employee_id,email,name,job_role,specialty,department,supervisor_email,hire_date,work_state"]
    change = random.Random(seed + 7)
    for i in range(n):
        role = "leadership" if i < managers else rng.choice(ROLES)
        specialty = rng.choice(SPECIALTIES.get(role, ("",)))
        boss = (
            ""
            if i == 0
            else f"p{(rng.randrange(min(i, managers)) if i >= managers else rng.randrange(i)):05d}@org.example"
        )
        hired = date.today() - timedelta(days=rng.randrange(6 * 365))
        department = rng.choice(DEPARTMENTS)
        if change.random() < changed:
            department = change.choice(DEPARTMENTS) + " (moved)"
        lines.append(
            f"E{i:05d},p{i:05d}@org.example,Person {i:05d},{role},{specialty},{department},{boss},"
            f"{hired.isoformat()},{rng.choice(STATES)}"
        )
    return "\n".join(lines) + "\n"


class WriteWatch:
    """The longest writing transaction on the app's engine (BEGIN IMMEDIATE to COMMIT on SQLite;
    on PostgreSQL, a transaction not READ ONLY), and a learner's writes meanwhile (one UPDATE,
    each on a connection of its own with a 5 s busy timeout, as a request would)."""

    def __init__(self, engine, url: str):
        self.longest = self.longest_cpu = 0.0
        self.count = 0
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)
        self.url = url
        self.waits: list[float] = []
        self.failures = 0
        self._stop = threading.Event()

    def reset(self):
        self.longest, self.longest_cpu, self.count, self.waits, self.failures = 0.0, 0.0, 0, [], 0

    def _begin(self, conn):
        if write_intent.get():  # a writing transaction (on SQLite: the write lock, from BEGIN IMMEDIATE)
            conn.info["bench_began"] = (time.perf_counter(), time.thread_time())

    def _end(self, conn):
        began = conn.info.pop("bench_began", None)
        if began is not None:
            self.count += 1
            self.longest = max(self.longest, time.perf_counter() - began[0])
            # CPU time the job's thread spent inside it: what the lock would be held for on an
            # idle machine, less the disk's fsync (a loaded machine stretches the wall time).
            self.longest_cpu = max(self.longest_cpu, time.thread_time() - began[1])

    def learner(self):
        engine = create_engine(self.url, connect_args={"timeout": 5} if self.url.startswith("sqlite") else {})
        while not self._stop.is_set():
            began = time.perf_counter()
            try:
                with engine.begin() as conn:
                    if self.url.startswith("sqlite"):
                        conn.exec_driver_sql("PRAGMA busy_timeout=5000")
                    conn.execute(text("UPDATE users SET failed_logins = failed_logins WHERE id = 1"))
                self.waits.append(time.perf_counter() - began)
            except Exception:
                self.failures += 1
            time.sleep(0.02)
        engine.dispose()

    def __enter__(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self.learner, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--content", default=str(ROOT / "content"))
    parser.add_argument("--steps", type=int, default=8, help="run only the first N steps")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="jobs-scale-"))
    if args.db == "sqlite":
        url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    else:
        url = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/bench_jobs")
        admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = url.rsplit("/", 1)[1]
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    os.environ["INSTANCE_PATH"] = str(tmp / "instance")
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "CONTENT_DIR": args.content,
            "CONTENT_REFRESH_SECONDS": 0,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        flask_migrate.upgrade(directory=str(PROJECT_ROOT / "migrations"))
        engine = db.engine
    runner = app.test_cli_runner()
    watch = WriteWatch(engine, url.replace("+psycopg", "") if args.db == "sqlite" else url)
    first = tmp / "roster.csv"
    first.write_text(roster_csv(args.people), encoding="utf-8")
    second = tmp / "roster2.csv"
    second.write_text(roster_csv(args.people, changed=0.05), encoding="utf-8")
    print(
        f"{args.people} people, {args.db}, source {sys.modules['quiz'].__file__}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    steps = [
        ("content load", ["content", "load"]),
        ("roster import (new)", ["roster", "import", str(first), "--apply"]),
        ("refresh (first run)", ["assignments", "refresh"]),
        ("refresh (nothing to do)", ["assignments", "refresh"]),
        ("roster import (5% changed)", ["roster", "import", str(second), "--apply"]),
        ("roster import (same again)", ["roster", "import", str(second), "--apply"]),
        ("reminders send", ["reminders", "send"]),
        ("reminders send (again)", ["reminders", "send"]),
    ]
    print(
        f"{'step':<28} {'seconds':>8} {'cpu s':>6} {'longest write':>14} {'(cpu)':>8} {'writes':>7} {'learner max wait':>17} {'learner fails':>14}"
    )
    for label, command in steps[: args.steps]:
        watch.reset()
        with watch:
            began, cpu = time.perf_counter(), time.process_time()
            result = runner.invoke(args=command)
            took, cpu = time.perf_counter() - began, time.process_time() - cpu
        if result.exit_code not in (0,):
            print(f"  {label}: exit {result.exit_code}: {result.output[-500:]}", file=sys.stderr)
        waits = watch.waits or [0.0]
        print(
            f"{label:<28} {took:8.2f} {cpu:6.1f} {watch.longest * 1000:11.0f} ms {watch.longest_cpu * 1000:5.0f} ms {watch.count:7d} "
            f"{max(waits) * 1000:14.0f} ms {watch.failures:14d}"
        )
        out = result.output.strip().splitlines()
        print("    " + (out[-1][:150] if out else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
