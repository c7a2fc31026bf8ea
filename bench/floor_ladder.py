"""Where the floor's cost goes: the pieces of the stack added one at a time, in-process.

bench/load.py shows that the floor (bench/floor_app.py: a signed-in, CSRF-checked form POST
with one ORM insert) reaches about half of the bare baseline (bench/baseline_app.py). This
splits that gap by piece. Each rung below is one POST that inserts one row and renders the same
small template; each adds one piece to the rung before it:

    0 baseline        bench/baseline_app.py's POST /answer (a Core insert in engine.begin())
    1 + extensions    the floor's app: the same Core insert, but through Flask-SQLAlchemy's
                      request-scoped session, with Flask-Login's and CSRFProtect's hooks
                      installed (the route is exempt from CSRF; no cookie is sent)
    2 + signed in     the signed session cookie sent, verified and decoded, and
                      @login_required: the user row loaded by Flask-Login's user_loader
    3 + CSRF          Flask-WTF's CSRFProtect checks the posted token against the session
    4 + FlaskForm     the answer validated by a FlaskForm (step and a radio choice)
    5 + ORM write     the row written as an ORM object (add + commit): the floor itself

The cookie and the user load are one rung because they cannot be had apart: Flask-Login's
template context processor puts ``current_user`` in every template, so once a request carries a
signed-in cookie the user row is loaded by render_template whatever the view does (then in a
second transaction, after the write's commit, which costs more than loading it first).

Flask's test client, in this process, no HTTP: the per-request cost of gunicorn and of parsing
HTTP is the same for every rung and is not in these figures, so the ratios here are lower than
under load.py, where that fixed cost dilutes them. CPU time of this process only (PostgreSQL's
own share is not in it), including the test client's own work, which is the same for every
rung that sends the same cookies; rungs alternate within each round so the VM's drift hits all
alike, and each rung's figure is the least it took over the rounds.

    .venv/bin/python bench/floor_ladder.py                      # SQLite
    .venv/bin/python bench/floor_ladder.py --db both --requests 2000 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

RUNGS = ["baseline", "+ extensions", "+ signed in", "+ CSRF", "+ FlaskForm", "+ ORM write (the floor)"]


def _build():
    """The two apps (from DATABASE_URL) with the ladder's extra routes on the floor's app."""
    import baseline_app
    import floor_app
    from flask import render_template, request
    from flask_login import current_user, login_required
    from flask_wtf.csrf import CSRFProtect
    from sqlalchemy import insert

    app, db = floor_app.app, floor_app.db
    csrf = app.extensions["csrf"] if "csrf" in app.extensions else CSRFProtect(app)
    table = floor_app.Answer.__table__

    def write(user_id: int, step: int, choice: int):
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        result = db.session.execute(insert(table).values(user_id=user_id, step=step, choice=choice, recorded_at=at))
        db.session.commit()
        return render_template("answer.html", choice=choice, answer_id=result.inserted_primary_key[0], step=step, at=at)

    def posted() -> tuple[int, int]:
        return int(request.form.get("step", 0)), int(request.form.get("choice", 1))

    @app.post("/ladder/session")
    @csrf.exempt
    def with_session():
        return write(1, *posted())

    @app.post("/ladder/login")
    @csrf.exempt
    @login_required
    def with_login():
        return write(current_user.id, *posted())

    @app.post("/ladder/csrf")
    @login_required
    def with_csrf():
        return write(current_user.id, *posted())

    @app.post("/ladder/form")
    @login_required
    def with_form():
        form = floor_app.AnswerForm()
        if not form.validate_on_submit():
            return {"errors": form.errors}, 400
        return write(current_user.id, form.step.data, form.choice.data)

    baseline_app.init()
    floor_app.init(5)
    return baseline_app.app, app


def _child(requests: int, rounds: int) -> dict:
    """Run in a process whose DATABASE_URL is set: measure every rung, print JSON."""
    import re

    baseline, floor = _build()
    bare = baseline.test_client()
    anonymous = floor.test_client()
    signed = floor.test_client()
    assert signed.get("/sign-in/1").status_code == 200
    page = signed.get("/form").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = {"csrf_token": token, "step": "1", "choice": "2"}
    calls = [
        lambda: bare.post("/answer", data={"learner": "ladder", "step": "1", "choice": "2"}),
        lambda: anonymous.post("/ladder/session", data=data),
        lambda: signed.post("/ladder/login", data=data),
        lambda: signed.post("/ladder/csrf", data=data),
        lambda: signed.post("/ladder/form", data=data),
        lambda: signed.post("/answer", data=data),
    ]
    for call in calls:  # warm up, and prove each rung works (the same template, one row)
        for _ in range(50):
            response = call()
            assert response.status_code == 200 and "Answer recorded" in response.text, response.text[:300]
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for i, call in enumerate(calls):
            started = time.process_time()
            for _ in range(requests):
                call()
            samples[i].append((time.process_time() - started) / requests * 1e6)
    # The least a rung took over the rounds: what it costs when nothing else got in its way
    # (timeit's rule); the median and the spread are shown beside it.
    return {
        "us": [min(s) for s in samples],
        "median": [statistics.median(s) for s in samples],
        "spread": [[min(s), max(s)] for s in samples],
    }


def _measure(kind: str, requests: int, rounds: int) -> dict:
    from common import fresh_database, rmtree_quiet

    work = Path(tempfile.mkdtemp(prefix="rounds-floor-ladder-"))
    try:
        url = fresh_database(kind, work, name="ladder")
        env = {**os.environ, "DATABASE_URL": url}
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--requests", str(requests), "--rounds", str(rounds)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        rmtree_quiet(work)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--requests", type=int, default=1000, help="requests per rung per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.requests, args.rounds)))
        return 0

    from common import machine_line, table

    print(machine_line())
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        result = _measure(kind, args.requests, args.rounds)
        us = result["us"]
        gap = us[-1] - us[0]
        rows = []
        for i, name in enumerate(RUNGS):
            added = us[i] - us[i - 1] if i else None
            rows.append(
                [
                    f"{i} {name}",
                    f"{us[i]:,.0f}",
                    f"{result['median'][i]:,.0f} / {result['spread'][i][1]:,.0f}",
                    "" if added is None else f"{added:+,.0f}",
                    "" if added is None or gap <= 0 else f"{added / gap:.0%}",
                    f"{us[0] / us[i]:.0%}",
                ]
            )
        print(f"\n{kind}: {args.requests} requests per rung per round, {args.rounds} rounds (least of the rounds)")
        print(
            table(
                ["rung", "CPU µs / request", "median / max", "added", "share of the gap", "baseline / rung"],
                rows,
                "lrrrrr",
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
