"""The migrations build exactly the schema the models describe, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from quiz.db import db


def test_migrated_schema_matches_the_models(migrated_app):
    app = migrated_app  # the real migrations, run from nothing (not the copied template)
    with app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
    assert diff == [], "\n".join(map(str, diff))
