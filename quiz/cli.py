"""Command line: `flask --app app content|evidence|users|demo ...` (and `db` from Flask-Migrate).

Each command declares once whether it reads, writes, or reads then writes (``@reads``,
``@writes``, ``@reads_then_writes``, right above the function), and that declaration alone
begins, commits and rolls back its transactions (docs/architecture.md, "Transactions"): a
writing command is committed when it returns, and nothing of it is kept if it fails or exits;
a command that reads then writes reads first (on SQLite with no write lock held) and keeps only
what it writes inside ``with writing(db.session):``.
"""

from __future__ import annotations

import functools
import os
import pwd
import sys
from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_migrate import Migrate
from flask_migrate.cli import db as migrate_db_cli

from . import (
    accounts,
    anchor,
    assignments,
    audit_package,
    backup,
    chain_check,
    clock,
    csvtext,
    demo,
    evidence,
    evidence_keys,
    jobs,
    mailer,
    mfa,
    package_signing,
    versions,
)
from .config import PROJECT_ROOT
from .content import JOB_ROLES, SPECIALTIES, coverage, load_library, policies
from .content.check import check_content
from .content.curricula import load_curricula
from .db import READS, READS_THEN_WRITES, WRITES, Steps, db, reading, unit_of_work, writing
from .models import ACCOUNT_ROLES, User
from .words import ngettext

migrate = Migrate()


def _declare(mode: str):
    def declare(command):
        @functools.wraps(command)
        def run(*args, **kwargs):
            with unit_of_work(db.session, mode):
                return command(*args, **kwargs)

        run.unit = mode
        return run

    return declare


reads = _declare(READS)
writes = _declare(WRITES)
reads_then_writes = _declare(READS_THEN_WRITES)


def init_app(app: Flask) -> None:
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    if "backup" not in migrate_db_cli.commands:
        migrate_db_cli.add_command(db_backup)
    for group in (
        content_cli,
        evidence_cli,
        users_cli,
        demo_cli,
        assignments_cli,
        roster_cli,
        reminders_cli,
        retention_cli,
    ):
        app.cli.add_command(group)
    app.cli.add_command(xapi_cli)


def _library_and_curricula():
    """The current content and curricula, with any curricula errors reported on stderr."""
    root = Path(current_app.config["CONTENT_DIR"])
    library = load_library(root)
    curricula, errors = load_curricula(root, library)
    for err in errors:
        click.echo(f"curricula: {err}", err=True)
    return library, curricula


# --- content -------------------------------------------------------------------------------

content_cli = AppGroup("content", help="Check and load training content.")


@content_cli.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@reads
def content_check(paths: tuple[Path, ...]) -> None:
    """Validate content. With PATHs, report on those files (checked together with CONTENT_DIR)."""
    checked = check_content(Path(current_app.config["CONTENT_DIR"]), paths)
    for line in checked.lines():
        click.echo(line, err=not checked.ok)
    if not checked.ok:
        sys.exit(1)


@content_cli.command("matrix")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write here instead of stdout.")
@reads
def content_matrix(output: Path | None) -> None:
    """Print the curriculum coverage matrix (docs/curriculum.md is this output)."""
    library = load_library(Path(current_app.config["CONTENT_DIR"]))
    text = coverage.matrix(library)
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@content_cli.command("policies")
@reads
def content_policies() -> None:
    """List every "our policy" sentence of the content, by file and line: the statements the
    privacy officer confirms against the organization's real policies before staff attest."""
    found = policies.statements(load_library(Path(current_app.config["CONTENT_DIR"])))
    for statement in found:
        click.echo(f"{statement.path}:{statement.line}: {statement.text}")
    files = len({statement.path for statement in found})
    click.echo(
        ngettext(
            "%(num)d policy statement in %(files)s",
            "%(num)d policy statements in %(files)s",
            len(found),
            files=ngettext("%(num)d file", "%(num)d files", files),
        )
    )


@content_cli.command("load")
@reads_then_writes
def content_load() -> None:
    """Store the exact source of every current content version in the database, then assign
    retraining where a module's policy version changed (read first, written in short batches;
    one run at a time)."""
    library = load_library(Path(current_app.config["CONTENT_DIR"]))
    for err in library.errors:
        click.echo(f"skipped: {err}", err=True)
    curricula, curricula_errors = load_curricula(Path(current_app.config["CONTENT_DIR"]), library)
    for err in curricula_errors:
        click.echo(f"curricula: {err}", err=True)
    steps = Steps(db.session)
    try:
        with jobs.exclusive_run(db.session, "content-load", "content load", steps):
            with writing(db.session):
                stored = versions.remember_library(db.session, library)
            retrain = assignments.retrain_after_policy_changes(
                db.session, curricula, library, clock.org_today(), steps=steps
            )
    except jobs.AlreadyRunning as exc:
        raise click.ClickException(str(exc)) from None
    modules = ngettext("%(num)d module", "%(num)d modules", len(library.modules))
    scenarios = ngettext("%(num)d scenario", "%(num)d scenarios", len(library.all_scenarios()))
    new = ngettext("%(num)d new version stored", "%(num)d new versions stored", stored)
    errors = ngettext("%(num)d error", "%(num)d errors", len(library.errors))
    retraining = ngettext(
        "%(num)d policy-change retraining assignment", "%(num)d policy-change retraining assignments", len(retrain)
    )
    click.echo(f"content loaded: {modules}, {scenarios} ({new}, {errors}); {retraining}")


def _command_line(command: str) -> str:
    """Who did it, for evidence made on the command line: the command and the system account
    the process runs as (its user id's name, not $USER, which the caller could set)."""
    uid = os.geteuid()
    try:
        who = pwd.getpwuid(uid).pw_name
    except KeyError:  # no name for this user id (a bare container)
        who = f"user id {uid}"
    return f"the command line ({command}, as {who})"


# --- backups -------------------------------------------------------------------------------


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@reads
def db_backup(target: Path) -> None:
    """SQLite: copy the live database to TARGET with SQLite's online backup API, safe while the
    servers run (never copy the file itself). PostgreSQL: use pg_dump (docs/deploy.md, "Backups")."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        click.echo(
            "db backup is for SQLite; on PostgreSQL use pg_dump --format=custom " '(docs/deploy.md, "Backups")',
            err=True,
        )
        sys.exit(2)
    try:
        copied = backup.sqlite_backup(Path(url.database), target)
    except backup.BackupError as exc:
        click.echo(f"db backup: {exc}", err=True)
        sys.exit(1)
    click.echo(
        f"backed up {url.database} to {target} (" + ngettext("%(num)d byte", "%(num)d bytes", copied) + "). Check it: "
        f"DATABASE_URL=sqlite:///{target.resolve()} flask --app app evidence verify --no-anchor"
    )


# --- evidence ------------------------------------------------------------------------------

evidence_cli = AppGroup("evidence", help="The tamper-evident evidence log.")


@evidence_cli.command("verify")
@click.option(
    "--alert",
    is_flag=True,
    help="For cron, daily: append the head of a good check to the anchor file (starting it on the first "
    "run) and send it to every active compliance officer and admin; if the check fails, alert them "
    "instead (once a day each).",
)
@click.option(
    "--no-anchor",
    is_flag=True,
    help="Check a copy (a backup): the chain, its MACs and the assignments alone, not held to the anchor file.",
)
@reads_then_writes
def evidence_verify(alert: bool, no_anchor: bool) -> None:
    """Recompute the hash chain and check each record's MAC with the evidence key, hold the log
    to the anchor file's last head, and hold every done, waived and cleared to its evidence.
    Exit 0 with count and head hash, or 1 naming each thing at fault."""
    if alert and no_anchor:
        raise click.UsageError("--alert is the daily check of the live database: it is always held to the anchor")
    place = None if no_anchor else chain_check.anchor_place(current_app.config, current_app.instance_path)
    with reading(db.session):  # a read of its own: no writer waits for it (20 s a million records)
        checked = chain_check.check(db.session, place)
    result = checked.result
    for said in checked.lines():
        click.echo(said, err=not checked.ok)
    line: anchor.Line | None = None
    if alert and result.ok and place is not None:  # the chain and the anchor are sound: its head goes on the anchor
        try:
            line = chain_check.record_good(db.session, checked, place, steps=Steps(db.session))
            click.echo(f"anchor: line {line.number} ({line.kind}) holds record {line.seq}, hash {line.head}")
        except (anchor.Corrupt, OSError) as exc:  # checked a moment ago: changed meanwhile
            click.echo(f"ANCHOR NOT WRITTEN: {place.path}: {exc}", err=True)
            sys.exit(1)
    if alert:
        try:
            report = chain_check.send(
                db.session,
                result,
                clock.org_today(),
                smtp=mailer.settings_from_config(current_app.config),
                base_url=current_app.config["BASE_URL"],
                at_fault=checked.at_fault,
                disagreements=checked.disagreements,
                anchor_line=line,
                steps=Steps(db.session),
            )
            click.echo(str(report), err=not checked.ok)
        except jobs.AlreadyRunning as exc:
            click.echo(f"alert: {exc}", err=True)
    if not checked.ok:
        sys.exit(1)


@evidence_cli.command("rotate-key")
@reads
def evidence_rotate_key() -> None:
    """Add a new evidence key to the key file: it MACs new records from each process's next
    start (restart the servers); the old keys stay in the file to verify older records."""
    if current_app.config.get("EVIDENCE_KEYS"):
        raise click.ClickException(
            "the keys come from EVIDENCE_KEYS: add the new one there, at the end, as ID:HEX "
            f"(for example {evidence_keys.new_key_line().strip().replace(' ', ':')}), keep the old ones, and restart"
        )
    path = current_app.config["EVIDENCE_KEY_FILE"]
    try:
        key_id = evidence_keys.rotate(path)
    except evidence_keys.EvidenceKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"new evidence key {key_id} added to {path}; restart every Rounds process (and copy the file to "
        "every server) so that it signs; the old keys stay to verify older records"
    )


signing_key_cli = AppGroup("signing-key", help="The key that signs audit packages (Ed25519, outside the database).")
evidence_cli.add_command(signing_key_cli)


@signing_key_cli.command("show")
@reads
def signing_key_show() -> None:
    """The public key that signs audit packages, to publish; and where its private key is."""
    key: package_signing.SigningKey = current_app.extensions["signing_key"]
    click.echo(f"public key  {key.public_hex}\nkey id      {key.fingerprint}\nfrom        {key.source}")
    click.echo(key.public_pem(), nl=False)


@signing_key_cli.command("rotate")
@writes
def signing_key_rotate() -> None:
    """Put a new signing key in the key file, keep the old one beside it, and record the change
    in the evidence. New packages are signed with it from each process's next start (restart
    the servers); packages made before still verify with the public key they carry."""
    if current_app.config.get("SIGNING_KEY"):
        raise click.ClickException(
            "the key comes from SIGNING_KEY: set a new one there (python3 -c 'import secrets; "
            "print(secrets.token_hex(32))') and restart; the page lists the old one from the packages it signed"
        )
    try:
        old, new, kept = package_signing.rotate(current_app.config["SIGNING_KEY_FILE"])
    except package_signing.SigningKeyError as exc:
        raise click.ClickException(str(exc)) from None
    evidence.append(
        db.session,
        package_signing.ROTATED,
        details={
            "retired": old.fingerprint,
            "retired_public_key": old.public_hex,
            "new": new.fingerprint,
            "public_key": new.public_hex,
            "by": _command_line("flask evidence signing-key rotate"),
        },
    )
    click.echo(
        f"new signing key {new.fingerprint} in {new.source}; the old one ({old.fingerprint}) is kept in {kept}. "
        "Restart every Rounds process (and copy the file to every server), and publish the new public key:\n"
        f"{new.public_hex}"
    )


def _day(ctx, param, value: str | None) -> str | None:
    """A UTC day as YYYY-MM-DD (click.DateTime would hand back a datetime, and a vaguer message)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: use YYYY-MM-DD") from None


def _today(ctx, param, value: str | None) -> date:
    """``--today``: the day to run for, the real one if not given. A day the job missed may be
    run again; a day that has not happened anywhere on Earth yet is refused before anything is
    read or written (clock.check_not_future; the core functions refuse it too)."""
    if value is None:
        return clock.org_today()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date: use YYYY-MM-DD") from None
    try:
        return clock.check_not_future(day)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


#: The help of every ``--today``.
TODAY_HELP = (
    "Run for a day the job missed (default: today). A day that has not begun anywhere on Earth "
    "yet, later than the date at UTC+14, is refused and nothing is written."
)


@evidence_cli.command("export")
@click.option("--email", help="Only this person's records (by their account's email).")
@click.option("--module", "module_id", help="Only this module's records (its id).")
@click.option("--event", "event_name", type=click.Choice(tuple(evidence.EVENTS)), help="Only records of this kind.")
@click.option("--since", callback=_day, help="From this UTC day on (YYYY-MM-DD).")
@click.option("--until", callback=_day, help="Up to and including this UTC day (YYYY-MM-DD).")
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8", lazy=False),
    default="-",
    help="The CSV file to write (default: standard output).",
)
@click.option(
    "--spreadsheet-safe",
    "spreadsheet_safe",
    is_flag=True,
    help="A copy to open in a spreadsheet: cells starting with = + - @, a tab or a carriage return "
    "begin with an apostrophe, so those cells no longer match their hashes.",
)
@reads
def evidence_export(email, module_id, event_name, since, until, output, spreadsheet_safe) -> None:
    """Evidence records as CSV for an auditor: every field the hash covers, and the hash. The
    exact bytes by default (to check the hashes); --spreadsheet-safe for opening in Excel."""
    user_id = None
    if email:
        user = accounts.find_by_email(db.session, email)
        if user is None:
            raise click.BadParameter(f"no account with email {email}", param_hint="--email")
        user_id = user.id
    filters = evidence.Filters(user_id=user_id, module_id=module_id, event=event_name, since=since, until=until)
    count = 0

    def counted(rows):
        nonlocal count
        for count, row in enumerate(rows, 1):  # noqa: B007 - count is what is reported after
            yield row

    rows = counted(evidence.export_rows(db.session, filters))
    for chunk in csvtext.lines(evidence.EXPORT_COLUMNS, rows, spreadsheet_safe_copy=spreadsheet_safe):
        output.write(chunk)
    safe = (
        (
            " (spreadsheet-safe copy: cells that start like a formula begin with an apostrophe and no "
            "longer match their hashes)"
        )
        if spreadsheet_safe
        else ""
    )
    click.echo(
        ngettext("%(num)d evidence record exported", "%(num)d evidence records exported", count) + f"{safe}; "
        "`flask --app app evidence verify` checks the whole chain they belong to",
        err=True,
    )


@evidence_cli.command("package")
@click.option(
    "--since", callback=_day, help="Evidence recorded, and assignments due, from this UTC day on (YYYY-MM-DD)."
)
@click.option("--until", callback=_day, help="... up to and including this UTC day (YYYY-MM-DD).")
@click.option("--email", help="Only this person (by their account's email).")
@click.option("--department", help="Only the people in this department now, and records made while someone was in it.")
@click.option("--module", "module_id", help="Only this module (its id).")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True, help="The ZIP file to write."
)
@click.option(
    "--certificates/--no-certificates",
    default=True,
    show_default=True,
    help="The PDF certificate of each signature in scope (about 0.15 s each); without them README.txt "
    "says how to get any one.",
)
@reads_then_writes
def evidence_package(since, until, email, department, module_id, output, certificates) -> None:
    """An audit package: people, training report, evidence and the content it names, as one ZIP
    with README.txt and SHA256SUMS; making it is itself an evidence record."""
    person = None
    if email:
        person = accounts.find_by_email(db.session, email)
        if person is None:
            raise click.BadParameter(f"no account with email {email}", param_hint="--email")
    if email and department:
        raise click.UsageError("give --email or --department, not both")
    if since and until and until < since:
        raise click.BadParameter("the last day is before the first day", param_hint="--until")
    if department and not evidence.department_seen(db.session, department):
        raise click.BadParameter(f"nobody is or was in department {department!r}", param_hint="--department")
    scope = audit_package.Scope(
        since=date.fromisoformat(since) if since else None,
        until=date.fromisoformat(until) if until else None,
        person=person,
        department=department,
        module_id=module_id,
    )
    made_by = _command_line("flask evidence package")
    partial = Path(f"{output}.part")  # the file appears under its name only with its record made
    try:
        with partial.open("wb") as out, reading(db.session, snapshot=True):  # no writer waits on it
            package = audit_package.write(
                db.session,
                scope,
                out,
                made_by=made_by,
                library=load_library(Path(current_app.config["CONTENT_DIR"])),
                signing_key=current_app.extensions["signing_key"],
                base_url=current_app.config["BASE_URL"],
                certificates=certificates,
            )
        with writing(db.session):
            audit_package.record(db.session, package, None)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    click.echo(
        f"{output}: "
        + ", ".join(
            [
                ngettext("%(num)d person", "%(num)d people", package.people),
                ngettext("%(num)d assignment", "%(num)d assignments", package.assignments),
                ngettext("%(num)d evidence record", "%(num)d evidence records", package.records),
                ngettext("%(num)d content version", "%(num)d content versions", package.versions),
                ngettext("%(num)d certificate", "%(num)d certificates", package.certificates)
                if certificates
                else "certificates left out",
            ]
        )
        + f"; SHA256SUMS {package.sums_sha256}; "
        f"signed with the key {package.signing_key.fingerprint if package.signing_key else '(none)'}"
    )
    if not package.chain.ok:
        click.echo(f"WARNING: {package.chain}", err=True)
        sys.exit(1)
    if package.disagreements:
        click.echo(
            ngettext(
                "WARNING: %(num)d assignment or clearance does not agree with the evidence (README.txt lists it):",
                "WARNING: %(num)d assignments or clearances do not agree with the evidence (README.txt lists them):",
                len(package.disagreements),
            ),
            err=True,
        )
        for found in package.disagreements:
            click.echo(f"  {found}", err=True)
        sys.exit(1)


# --- users ---------------------------------------------------------------------------------

users_cli = AppGroup("users", help="Manage accounts.")


@users_cli.command(
    "add", help=f"Add an account. The password is read from standard input (first line; " f"{accounts.PASSWORD_RULE})."
)
@click.argument("email")
@click.option("--name", required=True, help="Full name, as the learner will sign it.")
@click.option("--role", type=click.Choice(ACCOUNT_ROLES), default="learner", show_default=True)
@click.option("--job-role", type=click.Choice(JOB_ROLES), required=True)
@click.option("--specialty", type=click.Choice(SPECIALTIES))
@click.option("--department")
@click.option("--supervisor", "supervisor_email", help="The supervisor's email (an existing account).")
@writes
def users_add(email, name, role, job_role, specialty, department, supervisor_email) -> None:
    """Add an account (the help is above: it names the password rule)."""
    password = _read_password()
    try:
        user = accounts.create_user(
            db.session,
            email=email,
            name=name,
            password=password,
            role=role,
            job_role=job_role,
            specialty=specialty,
            department=department,
            supervisor_email=supervisor_email,
        )
    except accounts.AccountError as exc:
        raise click.ClickException(f"{exc.field}: {exc}") from None
    library, curricula = _library_and_curricula()
    given = assignments.for_person(db.session, user, curricula, library, clock.org_today(), new=True)
    click.echo(
        f"added {user.email} ({user.role}, {user.job_role}); "
        + ngettext("%(num)d assignment", "%(num)d assignments", len(given))
    )


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ACCOUNT_ROLES))
@writes
def users_set_role(email, role) -> None:
    """Give an account a role (what it opens), e.g. a compliance officer imported from HR. The
    change is an evidence record (from, to, by the command line); it applies on their next page."""
    user = accounts.find_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"no account for {email}")
    was = user.role
    changed = accounts.set_role(db.session, user, role, _command_line("flask users set-role"))
    click.echo(f"{email}: {was} -> {role}" if changed else f"{email} is already {role}: nothing changed")


@users_cli.command(
    "set-password",
    help=(
        f"Set (or reset) a password, read from standard input ({accounts.PASSWORD_RULE}). It ends the person's "
        "other sessions, is an evidence record naming the command line, and the person is told by email (or the "
        "outbox). People imported from HR have none until this is done."
    ),
)
@click.argument("email")
@click.option(
    "--permanent/--temporary",
    default=False,
    help="--temporary (the default): they must choose their own at their next sign-in. --permanent: "
    "no change is asked (e.g. your own, typed by you on the server); either way, until they choose "
    "their own in Rounds, what they sign is marked as signed with a password an admin set.",
)
@reads_then_writes
def users_set_password(email, permanent) -> None:
    """(The help is above: it names the password rule.) The password is typed and hashed with
    no write lock held; the account is read again, locked, to change it."""
    user = accounts.find_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"no account for {email}")
    user_id, address = user.id, user.email
    password = _read_password()
    try:
        chosen = accounts.new_password(password, person=user)
    except accounts.AccountError as exc:
        raise click.ClickException(f"{exc.field}: {exc}") from None
    smtp = mailer.settings_from_config(current_app.config)
    with writing(db.session):
        notice = accounts.set_password(
            db.session,
            db.session.get_one(User, user_id, populate_existing=True, with_for_update=True),
            chosen,
            by=_command_line("flask users set-password"),
            temporary=not permanent,
            smtp=smtp,
            base_url=current_app.config["BASE_URL"],
        )
    error = accounts.send_password_notice(db.session, notice, smtp, steps=Steps(db.session))
    then = "no change asked" if permanent else "they choose their own at their next sign-in"
    if smtp is None:
        told = "the email telling them is in the outbox (no SMTP_HOST)"
    else:
        told = f"the email was not sent ({error}): it is in the outbox" if error else "told by email"
    click.echo(f"password set for {address}; {then}; {told}")


@users_cli.command("reset-mfa")
@click.argument("email")
@writes
def users_reset_mfa(email) -> None:
    """Reset a person's second factor (a lost phone), e.g. the only admin's, whom no other admin
    can reset in the browser: their app's codes and recovery codes stop working, every session of
    theirs ends, and they set one up again at their next sign-in with their password. An evidence
    record naming the command line."""
    user = accounts.find_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"no account for {email}")
    cleared = mfa.reset(db.session, user, by=_command_line("flask users reset-mfa"))
    click.echo(
        f"second factor reset for {user.email}; every session of theirs ended; they set it up again at their next sign-in"
        if cleared
        else f"{user.email} has no second factor: nothing changed"
    )


def _read_password() -> str:
    """The password from standard input: prompted twice on a terminal, else the first line.
    Held to accounts.PASSWORD_RULE by the caller."""
    if sys.stdin.isatty():
        return click.prompt(f"Password ({accounts.PASSWORD_RULE})", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


# --- demo ----------------------------------------------------------------------------------

demo_cli = AppGroup("demo", help="A demonstration organization.")


def _flask() -> str:
    """The command to type to run flask again, as this one was run (``.venv/bin/flask`` under
    ``make run``), so that a command printed for copying works where it is shown."""
    invoked = sys.argv[0] if sys.argv else ""
    return invoked if Path(invoked).name == "flask" else "flask"


def _demo_passwords_file() -> Path:
    return Path(current_app.instance_path) / "demo-passwords.txt"


def _getting_back_in() -> list[str]:
    """Where the demo passwords are, and the commands that show them or set a new one."""
    path, flask = _demo_passwords_file(), _flask()
    if path.exists():
        kept = (
            f"The demo passwords are kept in {path} (only you can read it). Show them: {flask} --app app demo passwords"
        )
    else:
        kept = f"No demo passwords file at {path}."
    return [kept, f"Set a new password for an account: {flask} --app app users set-password EMAIL --permanent"]


@demo_cli.command("seed")
@reads_then_writes
def demo_seed() -> None:
    """Create the demo organization if the database has no accounts (quiz/demo.py says who is
    who), run the day's jobs once, keep the passwords in instance/demo-passwords.txt (mode 0600)
    and print them last. Run again, it says where the passwords are and how to get back in."""

    def already() -> None:
        if demo.is_demo(db.session):
            click.echo("The demo organization was made earlier: nothing to do.")
        else:
            click.echo("This database has accounts already: demo organization not created.")
            return
        for line in _getting_back_in():
            click.echo(line)

    if demo.exists(db.session):  # read first: no content loaded, no write lock taken
        return already()
    library, curricula = _library_and_curricula()
    today = clock.org_today()
    with writing(db.session):
        made = demo.seed(db.session, curricula, library, today)
    if made is None:  # made meanwhile
        return already()
    path = _demo_passwords_file()
    try:
        demo.write_passwords(path, made, db.engine.url.render_as_string(hide_password=True))
        kept = f"kept in {path} (only you can read it).\n  Show them again with: {_flask()} --app app demo passwords"
    except OSError as exc:
        kept = f"NOT kept in a file ({path}: {exc}): copy them now."
    try:
        settings = reminders.settings_from_config(current_app.config, curricula.due_soon_days)
        for line in demo.daily_jobs(db.session, curricula, library, today, settings, steps=Steps(db.session)):
            click.echo(f"demo, the day's jobs: {line}")
    except (ValueError, jobs.AlreadyRunning) as exc:
        click.echo(f"demo: the day's jobs were not run ({exc}); cron runs them", err=True)
    for line in made.story:
        click.echo(f"demo: {line}")
    rule = "=" * 78
    click.echo(f"\n{rule}\n  DEMO ORGANIZATION CREATED. Sign in with these accounts:\n")
    for account in made.accounts:
        click.echo(account.line())
    click.echo(f"\n  The passwords are {kept}")
    click.echo(f"  Lost one? Set a new one: {_flask()} --app app users set-password EMAIL --permanent\n{rule}\n")


@demo_cli.command("passwords")
@reads
def demo_passwords() -> None:
    """Show the demo passwords again (instance/demo-passwords.txt), or how to set a new one."""
    path = _demo_passwords_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        for line in _getting_back_in():
            click.echo(line, err=True)
        sys.exit(1)
    click.echo(text, nl=False)


# --- assignments -----------------------------------------------------------------------------

assignments_cli = AppGroup("assignments", help="Training assignments.")


@assignments_cli.command("refresh")
@click.option("--today", "today", callback=_today, metavar="YYYY-MM-DD", help=TODAY_HELP)
@reads_then_writes
def assignments_refresh(today: date) -> None:
    """Daily (timer): missing onboarding, recurring refreshers, policy changes, overdue marks.
    Read first, then written in short batches; safe to run again, and one run at a time (a
    second meanwhile exits 1 having done nothing). --today re-runs a missed day; a day to come
    is refused."""
    library, curricula = _library_and_curricula()
    try:
        report = assignments.refresh(db.session, curricula, library, today, steps=Steps(db.session))
    except jobs.AlreadyRunning as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(report))


# --- roster ----------------------------------------------------------------------------------

roster_cli = AppGroup("roster", help="The roster of people, from an HRIS export.")


def _echo_preview(result) -> None:
    """Created, changed, deactivated (with names) and every bad row with its line."""
    if result.created:
        click.echo(f"to create ({len(result.created)}):")
    for plan in result.created:
        details = ", ".join(v for v in (plan.values.get("job_role"), plan.values.get("department")) if v)
        click.echo(f"  + line {plan.line}: {plan.employee_id} {plan.name} <{plan.email}> ({details})")
    if result.changed:
        click.echo(f"to change ({len(result.changed)}):")
    for plan in result.changed:
        changes = "; ".join(f"{k} '{old}' -> '{new}'" for k, (old, new) in plan.changes.items())
        click.echo(f"  ~ line {plan.line}: {plan.employee_id} {plan.name}: {changes}")
    if result.deactivated:
        click.echo(f"to deactivate ({len(result.deactivated)}; their records are kept):")
    for plan in result.deactivated:
        where = f"line {plan.line}" if plan.line else "absent"
        click.echo(f"  - {where}: {plan.employee_id} {plan.name} <{plan.email}> ({plan.reason})")
    if result.skipped:
        click.echo(f"not created ({len(result.skipped)}; inactive in the file and not in Rounds):")
    for plan in result.skipped:
        click.echo(f"  . line {plan.line}: {plan.employee_id} {plan.name}")
    if result.errors:
        click.echo("bad rows (" + ngettext("%(num)d problem", "%(num)d problems", len(result.errors)) + "):", err=True)
    for err in result.errors:
        click.echo(str(err), err=True)


@roster_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--apply", "do_apply", is_flag=True, help="Make the changes (all or nothing); without it, only preview.")
@reads_then_writes
def roster_import(file: Path, do_apply: bool) -> None:
    """Preview (or with --apply, make) the changes an HRIS export FILE.csv brings. Exit 1 on bad rows."""
    import getpass

    from . import roster

    try:
        text = roster.decode(file.read_bytes())
    except roster.RosterFileError as exc:
        click.echo(f"{file}: {exc}", err=True)
        sys.exit(1)
    result = roster.preview(db.session, text)
    _echo_preview(result)
    if result.errors:
        click.echo(f"{file}: {result.summary()}", err=True)
        sys.exit(1)
    if not do_apply:
        click.echo(f"preview: {result.summary()}")
        if result.has_changes:
            click.echo("nothing changed yet: run again with --apply to make these changes")
        return
    library, curricula = _library_and_curricula()
    try:
        with writing(db.session):
            result = roster.apply(
                db.session,
                text,
                curricula,
                library,
                clock.org_today(),
                None,
                by_label=f"command line ({getpass.getuser()})",
                filename=file.name,
            )
    except roster.RosterError as exc:  # the database changed since the preview above
        click.echo(str(exc), err=True)
        sys.exit(1)
    if result.has_changes:
        given = ngettext("%(num)d assignment given", "%(num)d assignments given", result.assignments)
        click.echo(f"applied: {result.summary()}; {given}")
    else:
        click.echo("no changes")


# --- reminders -------------------------------------------------------------------------------

from . import reminders  # noqa: E402

reminders_cli = AppGroup("reminders", help="Email reminders to learners and escalations to supervisors.")


@reminders_cli.command("send")
@click.option("--today", "today", callback=_today, metavar="YYYY-MM-DD", help=TODAY_HELP)
@reads_then_writes
def reminders_send(today: date) -> None:
    """Daily (cron): one digest per learner with training due soon or overdue, one escalation per
    supervisor of people overdue by REMINDER_ESCALATE_AFTER_DAYS. Safe to run again: nothing is
    sent twice on one day; messages not sent earlier today are retried. Exit 1 if any failed.
    --today re-runs a missed day; a day to come is refused."""
    library, curricula = _library_and_curricula()
    try:
        settings = reminders.settings_from_config(current_app.config, curricula.due_soon_days)
        report = reminders.send_all(db.session, today, library, settings, steps=Steps(db.session))
    except (ValueError, jobs.AlreadyRunning) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(report))
    if settings.smtp is None and report.kept:
        click.echo("no SMTP_HOST set: messages are kept in the outbox (Admin > Outbox)")
    if report.failed:
        click.echo(
            ngettext(
                "%(num)d message not accepted by the SMTP server: kept in the outbox with the error; "
                "the next run today tries it again",
                "%(num)d messages not accepted by the SMTP server: kept in the outbox with the error; "
                "the next run today tries them again",
                report.failed,
            ),
            err=True,
        )
        sys.exit(1)


# --- invitations -----------------------------------------------------------------------------

from . import invitations  # noqa: E402


@users_cli.command("invite")
@click.argument("emails", nargs=-1)
@click.option("--department", help="Everyone in this department who has never signed in.")
@click.option("--all", "everyone", is_flag=True, help="Everyone who has never signed in.")
@reads_then_writes
def users_invite(emails: tuple[str, ...], department: str | None, everyone: bool) -> None:
    """Invite people who have never signed in, by email, to set a password (or to sign in with
    single sign-on where passwords are off for them): the EMAILS named, a --department, or --all.
    People who have signed in or are deactivated are skipped. Each invitation is an evidence
    record naming the command line; the emails are then handed to the SMTP server in batches."""
    if sum(bool(x) for x in (emails, department, everyone)) != 1:
        raise click.ClickException("name people by email, or give --department, or --all (one of them)")
    settings = invitations.settings_from_config(current_app.config)
    ids = []
    for email in emails:
        user = accounts.find_by_email(db.session, email)
        if user is None:
            raise click.ClickException(f"no account for {email}")
        ids.append(user.id)
    try:
        invitations.can_invite(settings)
        selection = invitations.select_people(db.session, ids=ids, department=department, everyone=everyone)
    except invitations.InvitationError as exc:
        raise click.ClickException(str(exc)) from None
    by = _command_line("flask users invite")
    invited = with_link = 0
    for start in range(0, len(selection.to_invite), invitations.BATCH):
        with writing(db.session):
            done = invitations.invite(
                db.session, selection.to_invite[start : start + invitations.BATCH], by=by, settings=settings
            )
        invited, with_link = invited + done.invited, with_link + done.with_link
        selection.signed_in += done.signed_in
        selection.inactive += done.inactive
    click.echo(
        f"invited {invited} ({with_link} with a link to set a password, {invited - with_link} to use single "
        f"sign-on); skipped {selection.signed_in} who have signed in and {selection.inactive} deactivated"
    )
    if invited:
        _send_invitations(settings)


def _send_invitations(settings: invitations.Settings) -> None:
    try:
        result = invitations.send_invitations(db.session, settings, steps=Steps(db.session))
    except jobs.AlreadyRunning as exc:
        click.echo(f"{exc}: it sends these too")
        return
    click.echo(f"invitations: {result}")
    if result.failed:
        click.echo(
            ngettext(
                "%(num)d invitation not accepted by the SMTP server: kept in the outbox with the error; "
                "invite them again to send a new link",
                "%(num)d invitations not accepted by the SMTP server: kept in the outbox with the error; "
                "invite them again to send a new link",
                result.failed,
            ),
            err=True,
        )
        sys.exit(1)


@users_cli.command("send-invitations")
@reads_then_writes
def users_send_invitations() -> None:
    """Every few minutes (a timer): hand the invitations waiting in the outbox to the SMTP
    server, in batches, each with a new single-use link (only its keyed hash is kept). One run
    at a time. Exit 1 if the server refused any."""
    _send_invitations(invitations.settings_from_config(current_app.config))


# --- xAPI ------------------------------------------------------------------------------------

from . import xapi  # noqa: E402

xapi_cli = AppGroup("xapi", help="xAPI statements to a learning record store (XAPI_LRS_URL).")


@xapi_cli.command("send")
@reads_then_writes
def xapi_send() -> None:
    """Every few minutes (cron or a timer): turn the evidence recorded since the last run into
    xAPI statements in the outbox, then send the due ones to the LRS. A statement the LRS
    refuses waits for an admin's Retry (Admin > xAPI); one it could not take now is tried again
    later, the wait doubling each time. Exit 1 if any was refused or the LRS did not answer."""
    settings = xapi.settings_from_config(current_app.config)
    if not settings.url:
        click.echo("XAPI_LRS_URL is not set: nothing queued or sent")
        return
    library = load_library(Path(current_app.config["CONTENT_DIR"]))  # the curricula are not needed
    try:
        report = xapi.send(db.session, library, settings, steps=Steps(db.session))
    except jobs.AlreadyRunning as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(report), err=bool(report.refused or report.waiting))
    if report.refused or report.waiting:
        sys.exit(1)


# --- retention and legal hold ----------------------------------------------------------------

from . import retention  # noqa: E402

retention_cli = AppGroup("retention", help="Retention and legal hold (docs/operations.md).")


def _echo_plan(found: retention.Plan) -> None:
    """What a purge would remove, each thing on a line; what holds keep back; what is kept."""
    from sqlalchemy import select

    from .models import OutboxMessage, RosterUpload

    day = clock.org_day
    click.echo(f"past the keep-until date: {retention.counted('outbox', len(found.outbox))}")
    for start in range(0, len(found.outbox), 1000):
        ids = found.outbox[start : start + 1000]
        for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)):
            click.echo(f"  message {m.id}: {m.kind}, made {day(m.created_at).isoformat()}")
    click.echo(f"past the keep-until date: {retention.counted('roster-upload', len(found.roster_uploads))}")
    for u in db.session.scalars(select(RosterUpload).where(RosterUpload.id.in_(found.roster_uploads))):
        click.echo(f"  upload {u.id}: {u.filename}, uploaded {day(u.uploaded_at).isoformat()}")
    click.echo(f"past the keep-until date: {retention.counted('person', len(found.people))}")
    for start in range(0, len(found.people), 1000):
        for person in db.session.scalars(select(User).where(User.id.in_(found.people[start : start + 1000]))):
            gone = retention.gone_on(db.session, person)
            click.echo(f"  person {person.id}: {person.name} <{person.email}>, gone since {gone}")
    if any(found.held_back.values()):
        held = ", ".join(retention.counted(k, n) for k, n in found.held_back.items() if n)
        click.echo(f"held back by legal holds: {held}")
    kept = ", ".join(retention.counted(k, n) for k, n in found.kept.items())
    click.echo(f"past their keep-until date but kept (required records, never purged here): {kept}")


@retention_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="List what would be purged, and change nothing.")
@reads_then_writes
def retention_purge(dry_run: bool) -> None:
    """Weekly (timer): remove the personal data past its keep-until date (outbox bodies, uploaded
    roster files, the personal fields of people gone longer than RETENTION_YEARS), except what a
    legal hold covers; refused outright (exit 1) under a hold on everything. Evidence is never
    purged. Batched; one run at a time; each run is an evidence record (counts only)."""
    try:
        policy = retention.Policy.from_config(current_app.config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    today = clock.org_today()
    if dry_run:
        with reading(db.session):
            found = retention.plan(db.session, today, policy)
            if found.everything is not None:
                click.echo(str(retention.HeldEverything(found.everything)), err=True)
                sys.exit(1)
            click.echo(f"dry run for {today.isoformat()}: nothing is changed")
            _echo_plan(found)
        return
    try:
        report = retention.purge(
            db.session, today, policy, by=_command_line("flask retention purge"), steps=Steps(db.session)
        )
    except retention.HeldEverything as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except jobs.AlreadyRunning as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(str(report))


@retention_cli.command("holds")
@reads
def retention_holds() -> None:
    """The legal holds in force (Admin > Legal holds places and releases them)."""
    holds = retention.holds_in_force(db.session)
    if not holds:
        click.echo("no legal hold in force")
    for hold in holds:
        click.echo(retention.hold_details(hold))
