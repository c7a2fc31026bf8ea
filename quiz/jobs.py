"""Daily jobs: one run at a time.

``assignments refresh``, ``reminders send``, ``content load`` and ``evidence verify --alert``
each run from a timer, perhaps on several servers at once, and a slow run may still be going
when a manual one starts: two overlapping runs could send the same message twice or do the same
work twice. Each holds its own named lock for the whole run (``exclusive_run``); a second run
meanwhile stops with AlreadyRunning and does nothing. The lock is a row in the database
(``job_locks``, ``db.job_lock``), the same on SQLite and PostgreSQL, taken and given back each
in a short transaction of its own: docs/architecture.md, "Daily jobs".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from .db import Steps


class AlreadyRunning(RuntimeError):
    pass


@contextmanager
def exclusive_run(session: Session, name: str, command: str, steps: Steps | None = None) -> Iterator[None]:
    """Hold the run lock called ``name`` for the block, or raise AlreadyRunning (``command``
    names the job in the message). Given back when the block ends, whether it ends well or
    raises. ``steps``: the job's steps, as its layer runs them (by default ``db.Steps``)."""
    with (steps or Steps(session)).hold(name) as held:
        if not held:
            raise AlreadyRunning(f"another `{command}` is running; nothing done")
        yield
