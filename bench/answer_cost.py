"""CPU per answer, in-process: the cost of the app's busiest request, with little noise.

    .venv/bin/python bench/answer_cost.py --db sqlite
    .venv/bin/python bench/answer_cost.py --db both --answers 600 --rounds 7

`bench/load.py` measures throughput under gunicorn, and its figures move by 15-25% with this
VM's speed from one minute to the next. This script measures one thing, the CPU the app spends
per htmx answer submit, without an HTTP server or locust competing for the two cores: Flask's
test client, one signed-in learner with a supervisor (as roster staff have), answering back and
forth between the two decisions of the test content that loop into each other. It prints the
median, min and max over rounds of CPU milliseconds per answer (this process only: on
PostgreSQL the server's share is not in it), wall milliseconds, and the SQL statements one
answer runs. To compare two versions of the code, run each in turn, alternating, and compare
medians; each run prints the machine it ran on.

Nothing here runs under `make test`. PostgreSQL: the `bench` database is dropped and
re-created (bench/common.py), never `test`.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # measure this checkout's quiz

from common import (  # noqa: E402
    RE_CHOICE,
    ROOT,
    csrf_token_in,
    fresh_database,
    in_process_app,
    machine_line,
    rmtree_quiet,
    say,
    step_in,
    table,
)

MODULE = "/learn/test-callers/"
#: The choices that loop: "Read out the appointment time" -> told; "Say nothing ..." -> call.
LOOPING_CHOICES = ("Read out the appointment time", "Say nothing and take the next call")
RE_DECISION = re.compile(r'name="choice"')


def _token(page: str) -> str:
    token = csrf_token_in(page)
    if token is None:
        raise SystemExit("no CSRF token on the page")
    return token


def _step(page: str) -> int:
    step = step_in(page)
    if step is None:
        raise SystemExit("no step on the page")
    return step


def _app(database_url: str, work: Path):
    """The app on a fresh database with the test content, a learner and their supervisor."""
    from quiz import accounts
    from quiz.db import db

    app = in_process_app(database_url, work)
    with app.app_context():
        for email, name, job_role, boss in (
            ("boss@example.org", "Robin Boss", "leadership", None),
            ("learner@example.org", "Dana Whitfield", "front-desk", "boss@example.org"),
        ):
            accounts.create_user(
                db.session,
                email=email,
                name=name,
                password="bench passphrase 2026",
                job_role=job_role,
                supervisor_email=boss,
            )
        db.session.commit()
    return app


def _at_a_decision(client) -> str:
    """Sign in, start test-callers and page through its lesson; the page at the first decision."""
    page = client.get("/auth/login").text
    client.post(
        "/auth/login",
        data={"email": "learner@example.org", "password": "bench passphrase 2026", "csrf_token": _token(page)},
    )
    page = client.get(MODULE).text
    client.post(MODULE + "start", data={"csrf_token": _token(page), "step": _step(page)})
    for _ in range(50):
        page = client.get(MODULE).text
        if RE_DECISION.search(page):
            return page
        client.post(MODULE + "next", data={"csrf_token": _token(page), "step": _step(page)})
    raise SystemExit("the test content's lesson never reached a decision")


def measure(db_kind: str, answers: int, rounds: int, warmup: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"rounds-answer-cost-{db_kind}-"))
    try:
        app = _app(fresh_database(db_kind, work), work)
        from sqlalchemy import event

        from quiz.db import db

        client = app.test_client()
        page = _at_a_decision(client)
        token, step = _token(page), _step(page)
        htmx = {"HX-Request": "true"}

        def looping(page: str) -> str:
            """The value the page gives the looping choice (each attempt names its own)."""
            return next(value for value, label in RE_CHOICE.findall(page) if label.strip() in LOOPING_CHOICES)

        def answer() -> None:
            nonlocal step, page
            response = client.post(
                MODULE + "answer", headers=htmx, data={"csrf_token": token, "step": step, "choice": looping(page)}
            )
            if response.status_code != 200:
                raise SystemExit(f"answer at step {step} got {response.status_code}")
            page = response.text
            step = _step(page)

        for _ in range(warmup):
            answer()
        statements: list[str] = []
        with app.app_context():
            engine = db.engine
        record = lambda conn, cursor, sql, *rest: statements.append(sql)  # noqa: E731
        event.listen(engine, "before_cursor_execute", record)
        answer()
        event.remove(engine, "before_cursor_execute", record)

        cpu, wall = [], []
        for _ in range(rounds):
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(answers):
                answer()
            cpu.append((time.process_time() - c0) * 1000 / answers)
            wall.append((time.perf_counter() - w0) * 1000 / answers)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        return {"db": db_kind, "cpu": cpu, "wall": wall, "statements": statements}
    finally:
        rmtree_quiet(work)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--answers", type=int, default=300, help="answers per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--show-sql", action="store_true", help="print the statements of one answer")
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    say(f"machine: {machine_line()}")
    import quiz

    say(
        f"code: {Path(quiz.__file__).parent}; {args.rounds} rounds of {args.answers} htmx answers after {args.warmup} to warm up"
    )
    rows = []
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        result = measure(kind, args.answers, args.rounds, args.warmup)
        cpu, wall = result["cpu"], result["wall"]
        rows.append(
            [
                kind,
                f"{statistics.median(cpu):.2f}",
                f"{min(cpu):.2f} - {max(cpu):.2f}",
                f"{statistics.median(wall):.2f}",
                len(result["statements"]),
            ]
        )
        if args.show_sql:
            say(f"\n{kind}: the statements of one answer")
            for sql in result["statements"]:
                say("  " + " ".join(sql.split())[:160])
    say("")
    say(table(["database", "CPU ms / answer (median)", "min - max", "wall ms (median)", "statements"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
