"""Request rate limits (Flask-Limiter), counted where every worker and server sees them.

``RATELIMIT_STORAGE_URI`` says where (docs/deploy.md, "Several servers"):

- ``database://`` (the default): the app's own database, table ``rate_limit_counters``. Every
  gunicorn worker and every server behind the load balancer counts one address's failed
  sign-ins together, with no other service to run.
- ``redis://...``: Redis, when one is configured.
- ``memory://``: each process counts for itself, so with N workers a limit is N times looser.
  Only when set explicitly, and refused when ``SERVERS`` is more than 1.

Sign-ins (and choosing a password) are limited, and only failures are counted (web/auth.py):
a counter is read before the form is handled and written after a failure, each in a short
transaction of its own (``db.own_transaction``), never inside the request's unit of work. The
public certificate check (web/check.py) counts every lookup, per address, the same way.
"""

from __future__ import annotations

import time
from typing import cast

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import Storage
from sqlalchemy import Table, case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from ..db import db, own_transaction
from ..models import RateLimitCounter

limiter = Limiter(key_func=get_remote_address, default_limits=[])

DATABASE_STORAGE = "database://"
_COUNTERS = cast(Table, RateLimitCounter.__table__)


class DatabaseStorage(Storage):
    """A fixed-window counter per key in the app's database (limits' storage interface).

    ``incr`` is one upsert (INSERT ... ON CONFLICT DO UPDATE ... RETURNING, on SQLite and on
    PostgreSQL), so two servers counting the same address at once both count."""

    STORAGE_SCHEME = ["database"]

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    @staticmethod
    def _bind():
        return db.engine  # the app of the request being limited (each test app its own)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        engine = self._bind()
        now = time.time()
        insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(_COUNTERS)
        expired = _COUNTERS.c.expires_at <= now
        statement = (
            insert.values(key=key, hits=amount, expires_at=now + expiry)
            .on_conflict_do_update(
                index_elements=[_COUNTERS.c.key],
                set_={
                    "hits": case((expired, amount), else_=_COUNTERS.c.hits + amount),
                    "expires_at": case((expired, now + expiry), else_=_COUNTERS.c.expires_at),
                },
            )
            .returning(_COUNTERS.c.hits)
        )
        with own_transaction(engine, writes=True) as connection:
            return connection.execute(statement).scalar_one()

    def _row(self, key: str):
        with own_transaction(self._bind(), writes=False) as connection:
            return connection.execute(
                select(_COUNTERS.c.hits, _COUNTERS.c.expires_at).where(_COUNTERS.c.key == key)
            ).first()

    def get(self, key: str) -> int:
        row = self._row(key)
        return row.hits if row is not None and row.expires_at > time.time() else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        now = time.time()
        return row.expires_at if row is not None and row.expires_at > now else now

    def check(self) -> bool:
        try:
            with own_transaction(self._bind(), writes=False) as connection:
                connection.execute(select(_COUNTERS.c.key).limit(1))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with own_transaction(self._bind(), writes=True) as connection:
            return connection.execute(delete(_COUNTERS)).rowcount

    def clear(self, key: str) -> None:
        with own_transaction(self._bind(), writes=True) as connection:
            connection.execute(delete(_COUNTERS).where(_COUNTERS.c.key == key))


def init_app(app) -> None:
    """Flask-Limiter with the storage RATELIMIT_STORAGE_URI names (the database one counts in
    the database of the app whose request it limits)."""
    limiter.init_app(app)
