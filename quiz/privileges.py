"""What the app's PostgreSQL role may do to each table: the one list, and the grants made from it.

On PostgreSQL Rounds runs as two roles (docs/operations.md, "PostgreSQL: two roles"). The owner
(``MIGRATION_DATABASE_URL``) runs the migrations and owns every table, sequence and function.
The app (``DATABASE_URL``) owns nothing, and may only:

- SELECT and INSERT on the append-only tables (``APPEND_ONLY``): the evidence log and the stored
  content versions. No UPDATE, DELETE or TRUNCATE; and, not being their owner and having no
  TRIGGER privilege, it cannot disable, drop or replace the triggers that refuse those either;
- SELECT on ``alembic_version`` (which migration the database is at);
- SELECT, INSERT, UPDATE and DELETE on every other table, and USAGE on the sequences.

``migrations/env.py`` calls ``grant`` at the end of every ``flask db upgrade`` (and downgrade or
stamp), in the migrations' own transaction: a table a migration adds gets its privileges from
this list in the same commit. A new table is ordinary unless it is named here; a new append-only
table goes in ``APPEND_ONLY`` (tests/test_least_privilege.py checks the list against the
triggers in the database). A table made outside the migrations gets SELECT and INSERT only, by
default privileges, until the next upgrade. SQLite has no roles: none of this applies to it.
"""

from __future__ import annotations

import os

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from .words import ngettext

#: Tables the app may read and add to, never change: the database's triggers refuse UPDATE and
#: DELETE on them too (migrations/versions/0001_initial.py).
APPEND_ONLY = ("evidence", "content_versions")
#: Tables the app may only read.
READ_ONLY = ("alembic_version",)

APPEND_ONLY_PRIVILEGES = "SELECT, INSERT"
READ_ONLY_PRIVILEGES = "SELECT"
ORDINARY_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
#: What a table made outside the migrations gets until the next upgrade (default privileges).
DEFAULT_TABLE_PRIVILEGES = APPEND_ONLY_PRIVILEGES


class PrivilegeError(RuntimeError):
    """The roles are set up so that the app's role could change or remove evidence."""


def privileges_for(table: str) -> str:
    if table in APPEND_ONLY:
        return APPEND_ONLY_PRIVILEGES
    if table in READ_ONLY:
        return READ_ONLY_PRIVILEGES
    return ORDINARY_PRIVILEGES


def app_role(database_url: str) -> str:
    """The role the app connects as: the user named in ``DATABASE_URL``."""
    role = make_url(database_url).username
    if not role:
        raise PrivilegeError(
            "DATABASE_URL names no user, so the migrations cannot tell which role to grant the "
            "app's privileges to: name it (postgresql://rounds_app@host/rounds)"
        )
    return role


def _same_place(url: str):
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return backend, os.path.abspath(parsed.database or "")
    return backend, parsed.host or "", parsed.port or 5432, parsed.database


def check_same_database(database_url: str, migration_url: str) -> None:
    """Refuse a ``MIGRATION_DATABASE_URL`` that names another database than ``DATABASE_URL``:
    the migrations would change one database while the app uses another."""
    if _same_place(database_url) != _same_place(migration_url):
        app, owner = make_url(database_url), make_url(migration_url)
        raise PrivilegeError(
            "MIGRATION_DATABASE_URL and DATABASE_URL must name the same database, as two roles: "
            f"{owner.render_as_string(hide_password=True)} is not {app.render_as_string(hide_password=True)}"
        )


def _schema(connection: Connection) -> str:
    return connection.execute(text("SELECT current_schema()")).scalar_one()


def tables(connection: Connection) -> list[str]:
    """The tables in the schema the migrations work in."""
    return list(
        connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        ).scalars()
    )


def weaknesses(connection: Connection, role: str) -> list[str]:
    """Why ``role``, the app's, could change or remove evidence despite the grants: each reason
    as a sentence (none: it cannot). Checked on the connection that runs the migrations."""
    found = connection.execute(
        text("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    if found is None:
        return [
            f'role {role!r} (DATABASE_URL\'s user) does not exist: create it (docs/operations.md, "PostgreSQL: two roles")'
        ]
    reasons = []
    if found.rolsuper:
        reasons.append(f"role {role!r} is a superuser: it may do anything, drop the triggers too")
    if found.rolcreaterole:
        reasons.append(
            f"role {role!r} has CREATEROLE: it could make itself a member of the owner (ALTER ROLE {role} NOCREATEROLE)"
        )
    if connection.execute(text("SELECT pg_has_role(:role, current_user, 'MEMBER')"), {"role": role}).scalar_one():
        reasons.append(
            f"role {role!r} is the role that runs the migrations (MIGRATION_DATABASE_URL's user), or a member of it: "
            "give the app a role of its own"
        )
        return reasons  # what it owns then goes without saying
    owned = (
        connection.execute(
            text(
                """
            SELECT 'schema ' || n.nspname FROM pg_namespace n
             WHERE n.nspname = current_schema() AND pg_has_role(:role, n.nspowner, 'MEMBER')
            UNION ALL
            SELECT 'table ' || c.relname FROM pg_class c
             WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
               AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
               AND pg_has_role(:role, c.relowner, 'MEMBER')
            UNION ALL
            SELECT 'function ' || p.proname FROM pg_proc p
             WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
               AND pg_has_role(:role, p.proowner, 'MEMBER')
            ORDER BY 1
            """
            ),
            {"role": role},
        )
        .scalars()
        .all()
    )
    if owned:
        reasons.append(
            f"role {role!r} owns {', '.join(owned)}: an owner can drop or disable the triggers. "
            f"As a superuser, in this database: REASSIGN OWNED BY {role} TO <the owner role> "
            "(docs/operations.md, \"Moving an existing database to two roles\")"
        )
    return reasons


def check_role(connection: Connection, role: str) -> None:
    """Raise PrivilegeError, naming every reason, if ``role`` could change or remove evidence
    whatever it is granted (``weaknesses``)."""
    reasons = weaknesses(connection, role)
    if reasons:
        raise PrivilegeError("the app's role could change or remove evidence:\n- " + "\n- ".join(reasons))


def grant(connection: Connection, role: str) -> str:
    """Give ``role`` exactly its privileges (see the module's docstring), after taking away any it
    had, on the connection of the role that owns the tables, in its transaction (not committed
    here). Returns a one-line summary. Raises PrivilegeError if ``role`` could change or remove
    evidence all the same (``weaknesses``, checked first, and ``still_allowed``, checked after):
    the caller then rolls back its transaction, migrations and all."""
    check_role(connection, role)
    quote = connection.dialect.identifier_preparer.quote
    who, schema = quote(role), quote(_schema(connection))
    statements = [
        f"GRANT USAGE ON SCHEMA {schema} TO {who}",
        f"REVOKE CREATE ON SCHEMA {schema} FROM {who}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {who}",
    ]
    found = tables(connection)
    statements += [f"GRANT {privileges_for(table)} ON TABLE {schema}.{quote(table)} TO {who}" for table in found]
    statements += [
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {who}",
        # Made later by this role, outside the migrations: no more than the append-only tables.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} REVOKE ALL ON TABLES FROM {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT {DEFAULT_TABLE_PRIVILEGES} ON TABLES TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE ON SEQUENCES TO {who}",
    ]
    for statement in statements:
        connection.execute(text(statement))
    kept = still_allowed(connection, role)
    if kept:
        raise PrivilegeError(
            f"role {role!r} still may {'; '.join(kept)}, through PUBLIC or a role it is a member of "
            "(pg_write_all_data, say): revoke that, then upgrade again"
        )
    append_only = [t for t in found if t in APPEND_ONLY]
    ordinary = [t for t in found if privileges_for(t) == ORDINARY_PRIVILEGES]
    return f"granted {role}: {APPEND_ONLY_PRIVILEGES} on {', '.join(append_only) or 'no table'}; " + ngettext(
        "%(privileges)s on %(num)d other table",
        "%(privileges)s on %(num)d other tables",
        len(ordinary),
        privileges=ORDINARY_PRIVILEGES,
    )


#: What the app must never be able to do to an append-only table.
NEVER_ON_APPEND_ONLY = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")


def still_allowed(connection: Connection, role: str) -> list[str]:
    """What ``role`` may still do to the append-only tables that it must not, whoever granted
    it (PUBLIC, a role it is a member of): "UPDATE, DELETE on evidence" and so on."""
    found = []
    for table in APPEND_ONLY:
        allowed = [
            privilege
            for privilege in NEVER_ON_APPEND_ONLY
            if connection.execute(
                text("SELECT to_regclass(:t) IS NOT NULL AND has_table_privilege(:role, to_regclass(:t), :p)"),
                {"t": table, "role": role, "p": privilege},
            ).scalar_one()
        ]
        if allowed:
            found.append(f"{', '.join(allowed)} on {table}")
    return found
