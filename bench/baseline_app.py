"""The bare baseline for bench/load.py: Flask + SQLAlchemy, one endpoint, one INSERT, one small
template. It is what "record an answer and show the result" costs with nothing else on top
(no sessions, CSRF, sign-in, ORM identity map, evidence chain or content lookups).

It uses the same database settings as Rounds so the comparison is about the app, not about
durability: on SQLite WAL, synchronous=FULL, busy_timeout and BEGIN IMMEDIATE for the write; on
PostgreSQL psycopg 3. Served by gunicorn exactly like the app (bench/load.py starts it):

    DATABASE_URL=sqlite:////tmp/x.sqlite3 .venv/bin/python bench/baseline_app.py init
    DATABASE_URL=sqlite:////tmp/x.sqlite3 .venv/bin/gunicorn --chdir bench -w 4 --threads 1 baseline_app:app

The engine is created lazily, so no connection exists before gunicorn forks its workers.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

from flask import Flask, render_template, request
from jinja2 import DictLoader
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, insert

metadata = MetaData()
answers = Table(
    "baseline_answer",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("learner", String(40), nullable=False),
    Column("step", Integer, nullable=False),
    Column("choice", Integer, nullable=False),
    Column("recorded_at", String(32), nullable=False),
)

TEMPLATE = """<div id="step" class="step">
  <section id="feedback" class="feedback">
    <h2>Answer recorded</h2>
    <p class="you-chose">You chose: choice {{ choice }} (answer {{ answer_id }}, step {{ step }})</p>
    <p>Recorded at <time>{{ at }}</time>.</p>
  </section>
</div>
"""

_engine = None


def database_url() -> str:
    url = os.environ["DATABASE_URL"]
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_settings(dbapi_connection, record=None) -> None:
    """Rounds' SQLite settings (quiz/db.py): WAL, busy timeout, foreign keys, synchronous=FULL,
    and BEGIN left to the "begin" event."""
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def engine():
    global _engine
    if _engine is None:
        _engine = create_engine(database_url())
        if _engine.dialect.name == "sqlite":
            event.listen(_engine, "connect", sqlite_settings)

            @event.listens_for(_engine, "begin")
            def _on_begin(conn):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

    return _engine


app = Flask(__name__)
app.jinja_loader = DictLoader({"answer.html": TEMPLATE})


@app.get("/")
def ready():
    return "ok"


@app.post("/answer")
def answer():
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    choice = int(request.form.get("choice", 1))
    step = int(request.form.get("step", 0))
    with engine().begin() as conn:
        answer_id = conn.execute(
            insert(answers).values(learner=request.form.get("learner", "?"), step=step, choice=choice, recorded_at=at)
        ).inserted_primary_key[0]
    return render_template("answer.html", choice=choice, answer_id=answer_id, step=step, at=at)


def init() -> None:
    """Create (or empty) the baseline table."""
    eng = engine()
    answers.drop(eng, checkfirst=True)
    metadata.create_all(eng)
    eng.dispose()


if __name__ == "__main__":
    if sys.argv[1:] == ["init"]:
        init()
    else:
        raise SystemExit("usage: DATABASE_URL=... python bench/baseline_app.py init")
