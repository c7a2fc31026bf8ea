"""The "floor" for bench/load.py: the baseline endpoint built the way every authenticated form
POST in Rounds must be built, with the same libraries (and pinned versions) as the app, and
nothing else. Its throughput is what any signed-in form submission can reach on this stack
before any domain logic; the gap between it and bench/baseline_app.py is the cost of the stack.

What one ``POST /answer`` includes, and why:

- **Flask's signed cookie session** (itsdangerous): the session cookie is verified and decoded
  on every request, as in the app (same cookie settings: HttpOnly, SameSite=Lax,
  SESSION_REFRESH_EACH_REQUEST off, so a POST does not re-send the cookie).
- **Flask-Login**: ``@login_required``; the ``user_loader`` loads the user row on every request
  with the **Flask-SQLAlchemy** ORM session, ``db.session.get(User, id)``, exactly what the
  app's loader does (the app's loader also compares a session version; that is one integer
  comparison and is left out). Session protection "basic", as in the app.
- **Flask-WTF CSRFProtect**: the token is posted as a form field and checked against the
  session before the view runs.
- **A Flask-WTF FlaskForm** validating the posted fields: ``step`` (IntegerField) and ``choice``
  (RadioField, coerce=int, three choices), like the app's AnswerForm.
- **The write as an ORM object**: ``db.session.add(Answer(...)); db.session.commit()``, the row
  referencing the signed-in user (a foreign key, as the app's rows do).
- **The same small template** as the baseline (imported from baseline_app), rendered with
  Flask's ``render_template`` (Jinja, autoescaped).

Left out on purpose: the evidence chain, attempts, content, idle-session sign-out, security
headers, rate limiting, htmx: everything that is Rounds' own logic rather than the stack.

Database settings are the baseline's, so the floor and the baseline differ only in the stack:
SQLite with WAL, synchronous=FULL, busy_timeout=10 s and foreign keys on, every transaction of a
POST started with BEGIN IMMEDIATE (a POST writes; GETs use a plain BEGIN, as in the app);
PostgreSQL through psycopg 3 (``postgresql+psycopg://``). A POST is one transaction, from the
user load to the commit, so on SQLite the write lock is held for the user SELECT, the form
validation, the INSERT and the COMMIT (the plain pattern; the app's answer path now reads in a
plain transaction first and queues SQLite writers at a write gate, which the baseline does not
do either). The session does not expire objects on commit (the app's ``writing()`` block does
the same), so rendering ``answer.id`` after the commit does not read the row back.

Sign-in is ``GET /sign-in/<user id>``: it loads the user and calls ``login_user``, with no
password. Checking an Argon2id hash costs ~100 ms once per session; the floor measures the cost
every later request pays, so sign-in is only a way to get a signed-in session cookie.

    DATABASE_URL=sqlite:////tmp/x.sqlite3 .venv/bin/python bench/floor_app.py init 50
    DATABASE_URL=sqlite:////tmp/x.sqlite3 .venv/bin/gunicorn --chdir bench -w 4 --threads 1 floor_app:app

Flask-SQLAlchemy creates the engine object at import, but no connection is opened before the
first request, so nothing is shared across gunicorn's fork (load.py serves it with --preload,
as it serves Rounds).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

from flask import Flask, abort, has_request_context, render_template, request
from flask_login import LoginManager, current_user, login_required, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from jinja2 import DictLoader
from sqlalchemy import Boolean, ForeignKey, Integer, String, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from wtforms import IntegerField, RadioField
from wtforms.validators import InputRequired
from wtforms.widgets import HiddenInput

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from baseline_app import (  # noqa: E402  (the same template, URL rules, SQLite settings)
    TEMPLATE,
    database_url,
    sqlite_settings,
)

# ------------------------------------------------------------------------------------ models


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


class User(db.Model):
    __tablename__ = "floor_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    # Flask-Login's UserMixin, spelled out (it is four one-liners).
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)


class Answer(db.Model):
    __tablename__ = "floor_answer"

    # The baseline's columns, with the signed-in user instead of a posted learner string.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("floor_user.id"))
    step: Mapped[int] = mapped_column(Integer)
    choice: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[str] = mapped_column(String(32))


# ------------------------------------------------------------------------------------- forms


class AnswerForm(FlaskForm):
    """Like the app's AnswerForm: a hidden step and one radio choice (CSRF field from FlaskForm)."""

    step = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    choice = RadioField(
        "Your choice",
        coerce=int,
        choices=[(1, "One"), (2, "Two"), (3, "Three")],
        validators=[InputRequired("Choose one answer.")],
    )


FORM_PAGE = """<!doctype html>
<title>Floor</title>
<form method="post" action="/answer">
  {{ form.csrf_token }}
  {{ form.step(value=1) }}
  {{ form.choice }}
  <button>Submit</button>
</form>
"""

# ---------------------------------------------------------------------------------- the app

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("SECRET_KEY", "bench-floor-secret-key-not-for-production"),
    SQLALCHEMY_DATABASE_URI=database_url(),
    # The app's session and CSRF settings (quiz/config.py).
    SESSION_REFRESH_EACH_REQUEST=False,
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SAMESITE="Lax",
    WTF_CSRF_TIME_LIMIT=None,
)
app.jinja_loader = DictLoader({"answer.html": TEMPLATE, "form.html": FORM_PAGE})

db.init_app(app)
CSRFProtect(app)
login_manager = LoginManager(app)
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    try:
        return db.session.get(User, int(user_id))
    except ValueError:
        return None


with app.app_context():
    if db.engine.dialect.name == "sqlite":
        # The baseline's SQLite settings (baseline_app.engine()).

        event.listen(db.engine, "connect", sqlite_settings)

        @event.listens_for(db.engine, "begin")
        def _on_begin(conn):
            # A POST writes: take the write lock at BEGIN, so a transaction that read first
            # never fails with SQLITE_BUSY when it writes. Reads (GET) use a plain BEGIN.
            writes = not has_request_context() or request.method == "POST"
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


@app.get("/")
def ready():
    return "ok"


@app.get("/sign-in/<int:user_id>")
def sign_in(user_id: int):
    """Sign in as this user, no password (see the module docstring)."""
    user = db.session.get(User, user_id)
    if user is None or not login_user(user):
        abort(404)
    return "signed in"


@app.get("/form")
@login_required
def form_page():
    return render_template("form.html", form=AnswerForm())


@app.post("/answer")
@login_required
def answer():
    form = AnswerForm()
    if not form.validate_on_submit():
        return {"errors": form.errors}, 400
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    row = Answer(user_id=current_user.id, step=form.step.data, choice=form.choice.data, recorded_at=at)
    db.session.add(row)
    db.session.commit()
    return render_template("answer.html", choice=row.choice, answer_id=row.id, step=row.step, at=at)


def init(users: int) -> None:
    """Create (or empty) the floor's tables and insert ``users`` users with ids 1..users."""
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add_all(
            User(id=i, email=f"floor-{i:04d}@example.org", name=f"Floor User {i:04d}", active=True)
            for i in range(1, users + 1)
        )
        db.session.commit()
        db.engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "init" and sys.argv[2].isdigit():
        init(int(sys.argv[2]))
    else:
        raise SystemExit("usage: DATABASE_URL=... python bench/floor_app.py init USERS")
