"""Each view declares its unit of work once; this module runs it (docs/architecture.md,
"Transactions").

- ``@reads``: the request is one read-only transaction (a write in it fails at once).
- ``@writes``: one writing transaction (on SQLite it takes the write gate and BEGIN IMMEDIATE
  at its first statement), committed here when the view returns; rolled back if it raises.
- ``@reads_then_writes``: the view reads, then makes its changes inside ``with writing(...)``
  (committed at the block's end). On SQLite the reads are a read transaction and the block a
  short writing one, so a slow read (an Argon2 check, an audit package) never holds the write
  lock; on PostgreSQL it is all one transaction. What is not written in a block is not kept.

A GET or HEAD request is always a read, whatever the view declares for its POST. A view that
declares nothing cannot be sent a POST (tests/test_layers.py checks that every view declares).
In a view, ``done_writing()`` commits the writes so far and reads the rest (a page rendered
after a change); ``reading(..., snapshot=True)`` reads from one snapshot. Views never call
``commit`` or ``rollback`` themselves, and core modules never do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import wraps

from flask import Flask, current_app, g, request

from ..db import (  # noqa: F401  (the views' tools, from this one door)
    READS,
    READS_THEN_WRITES,
    WRITES,
    db,
    enter_unit,
    leave_unit,
    reading,
    write_intent,
    writing,
)
from ..db import done_writing as _done_writing

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _declare(mode: str):
    def declare(view):
        if mode == WRITES:

            @wraps(view)
            def view_then_commit(*args, **kwargs):
                response = view(*args, **kwargs)
                if g.unit == WRITES:  # not for a GET of a view that writes when sent a form
                    db.session.commit()
                return response

            declared = view_then_commit
        else:
            declared = view
        declared.unit = mode
        return declared

    return declare


reads = _declare(READS)
writes = _declare(WRITES)
reads_then_writes = _declare(READS_THEN_WRITES)


def declared_unit(view) -> str | None:
    """What a view function declares (None: nothing)."""
    return getattr(view, "unit", None)


def unit_for(endpoint: str | None, method: str) -> str:
    """The unit a request runs as: a read for GET and HEAD, else what its view declares."""
    view = current_app.view_functions.get(endpoint) if endpoint else None
    if method in SAFE_METHODS or view is None:  # no view: a 404 or 405 page, which only reads
        return READS
    mode = declared_unit(view)
    if mode is None:
        raise RuntimeError(f"view {endpoint} declares no unit of work: @reads, @writes or @reads_then_writes")
    return mode


def done_writing() -> None:
    """The view's writes are over: commit them; the rest of the request only reads."""
    _done_writing(db.session)


@contextmanager
def instead_of_the_view() -> Iterator[None]:
    """A short writing transaction of the layer's own, whatever the view declares (a GET too),
    for a request the layer answers itself before its view runs: a session found ended at the
    idle limit is recorded as it is found. What the unit did so far only read (the account),
    so its transaction is ended first; the view must not run after this."""
    session = db.session
    session.commit()  # the unit's transaction so far: nothing was written in it
    token = write_intent.set(True)
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        write_intent.reset(token)


def _begin_unit() -> None:
    g.unit = unit_for(request.endpoint, request.method)
    g.unit_tokens = enter_unit(db.session, g.unit)


def _end_unit(exc=None) -> None:
    tokens = g.pop("unit_tokens", None)
    if tokens is not None:
        leave_unit(tokens)  # what is still open is rolled back when the app context ends


def init_app(app: Flask) -> None:
    """Run every request as the unit its view declares: registered before any other
    ``before_request`` (the user loader's query is the unit's first statement)."""
    app.before_request(_begin_unit)
    app.teardown_request(_end_unit)
