"""The audit package: what an auditor asks for about a span of training, in one ZIP file.

45 CFR 164.530(j) asks for training records kept six years and produced on request, and an
OCR inquiry asks for the whole picture at once: who had to be trained, who was and when, on
what content, and proof that nothing was changed since. A package holds:

    README.txt           what it is, its scope, who made it and when, the chain's state, how to check it
    people.csv           the people in scope, as their accounts are now
    training-report.csv  their assignments and how each ended (the training report's CSV)
    evidence.csv         their evidence records (the ``evidence export`` CSV: each row checks on its own)
    chain.csv            a narrowed package's: seq, prev_hash and hash of every record to the head
    statements.json      their learning events as xAPI 1.0.3 statements (quiz/xapi.py), as sent to an LRS
    content/...          the exact source of every content version those records name
    content/index.csv    which file is which version
    certificates/...     the PDF certificate of each signature in scope (``_add_certificates``), unless
                         left out (``certificates=False``: README.txt then says how to get one)
    verify_package.py    the verifier, standard-library Python (quiz/package_verifier.py, verbatim)
    signing-key.pem      the public key that signed it
    SHA256SUMS           the SHA-256 of every file above (``sha256sum -c SHA256SUMS``)
    SIGNATURE            the SHA-256 of SHA256SUMS and the chain's head, signed (quiz/package_signing.py)

The whole chain is verified first, and the evidence in the package stops at the head that was
verified. Making a package is itself evidence (``evidence.packaged``, see ``record``): the
record keeps the scope and the SHA-256 of SHA256SUMS, so a package handed over can be proved
later to be the one Rounds made, unchanged; SIGNATURE proves it without Rounds, to anyone who
has the organization's public key. Reads only; plain Python, no Flask.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import textwrap
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from . import certificate_pdf, clock, csvtext, evidence, state_check, training_report, xapi
from .assignments import org_day
from .content import Library, Module, Scenario
from .content_names import ContentNames
from .models import ContentVersion, Evidence, User
from .package_signing import SigningKey
from .versions import as_row
from .words import ngettext

#: The files every package has, in the order README.txt lists them.
README, PEOPLE, REPORT, EVIDENCE, CONTENT_INDEX, SUMS = (
    "README.txt",
    "people.csv",
    "training-report.csv",
    "evidence.csv",
    "content/index.csv",
    "SHA256SUMS",
)
CHAIN, VERIFIER, PUBLIC_KEY, SIGNATURE = "chain.csv", "verify_package.py", "signing-key.pem", "SIGNATURE"
CHAIN_COLUMNS = ("seq", "prev_hash", "hash")
#: The verifier written into every package, verbatim: standard-library Python, run offline.
VERIFIER_SOURCE = Path(__file__).with_name("package_verifier.py")
#: The learning events of the evidence in the package as xAPI statements (quiz/xapi.py).
STATEMENTS = "statements.json"

PEOPLE_COLUMNS = (
    "person_name",
    "email",
    "employee_id",
    "person_kind",
    "vendor",
    "job_role",
    "specialty",
    "department",
    "work_state",
    "supervisor_email",
    "hire_date",
    "active",
    "account_created_on",
)
CONTENT_COLUMNS = ("version", "kind", "content_id", "specialty", "path", "stored_at", "file")
#: Above this many signatures in scope, the Audit package page asks before drawing each one's
#: PDF certificate (about ``CERTIFICATE_SECONDS`` each: bench/certificate_cost.py).
CERTIFICATES_ASK_ABOVE = 2_000
#: A certificate's time in a package, reading its records included, on a busy 2-core VM.
CERTIFICATE_SECONDS = 0.15


@dataclass(frozen=True)
class Scope:
    """What a package covers. Days are UTC and both included; None is no limit.

    ``person`` or ``department`` narrows the people (everyone when neither); ``module_id`` the
    assignments and records to one module; ``since``/``until`` the evidence to the records made
    in those days and the assignments to those due in them."""

    since: date | None = None
    until: date | None = None
    person: User | None = None
    department: str | None = None
    module_id: str | None = None

    def __post_init__(self):
        # The forms say these in their own words; the core refuses them whoever asks.
        if self.person is not None and self.department:
            raise ValueError("a package covers a person or a department, not both")
        if self.since and self.until and self.until < self.since:
            raise ValueError("a package's last day is before its first")

    def evidence_filters(self, through_seq: int | None) -> evidence.Filters:
        return evidence.Filters(
            user_id=self.person.id if self.person else None,
            module_id=self.module_id,
            since=self.since.isoformat() if self.since else None,
            until=self.until.isoformat() if self.until else None,
            department=self.department,
            through_seq=through_seq,
        )

    def report_filters(self) -> training_report.Filters:
        return training_report.Filters(
            user_id=self.person.id if self.person else None,
            module_id=self.module_id,
            department=self.department,
            due_since=self.since,
            due_until=self.until,
        )

    @property
    def narrowed(self) -> bool:
        """Whether it covers less than every record: then chain.csv carries the whole chain."""
        return any((self.since, self.until, self.person, self.department, self.module_id))

    def as_details(self) -> dict[str, str | None]:
        """The scope as the evidence record keeps it."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "person": self.person.email if self.person else None,
            "department": self.department,
            "module": self.module_id,
        }

    def in_words(self) -> list[str]:
        if self.person:
            people = f"{self.person.name} <{self.person.email}>"
        elif self.department:
            people = (
                f"everyone in the department {self.department!r} now, and every record made " "while someone was in it"
            )
        else:
            people = "everyone, present and past"
        days = f"{_day(self.since, 'the first record')} to {_day(self.until, 'the day it was made')}"
        return [
            f"People: {people}.",
            f"Days (UTC, both included): {days}; evidence recorded in those days, assignments due in them.",
            f"Module: {self.module_id or 'every module'}.",
        ]


def _day(value: date | None, otherwise: str) -> str:
    return value.isoformat() if value else otherwise


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    sha256: str


@dataclass
class Package:
    """What was written: the scope, the chain as verified, each file with its size and SHA-256,
    and the counts README.txt gives."""

    scope: Scope
    made_at: datetime
    made_by: str
    chain: evidence.Verification
    people: int = 0
    assignments: int = 0
    records: int = 0
    versions: int = 0
    missing_versions: list[str] = field(default_factory=list)
    #: PDF certificates in certificates/, and signatures whose PDF the font cannot draw.
    certificates: int = 0
    certificates_not_drawn: int = 0
    #: False: certificates/ was left out on request; ``certificates_left_out`` signatures had one.
    certificates_included: bool = True
    certificates_left_out: int = 0
    #: BASE_URL, for README.txt's address of the public page that checks a certificate.
    base_url: str | None = None
    members: list[Member] = field(default_factory=list)
    #: Assignments done or waived, and people cleared, that the evidence does not bear out
    #: (quiz/state_check.py; checked only when the chain verified).
    disagreements: list[state_check.Disagreement] = field(default_factory=list)
    #: The key that signed it (None: not signed), and chain.csv's records (None: no chain.csv).
    signing_key: SigningKey | None = None
    chain_records: int | None = None

    @property
    def sums_sha256(self) -> str:
        """The SHA-256 of SHA256SUMS: one hash that stands for the whole package."""
        return next(m.sha256 for m in self.members if m.name == SUMS)


class _Writer:
    """Adds files to the ZIP as text arrives, keeping each one's size and SHA-256."""

    def __init__(self, archive: zipfile.ZipFile, made_at: datetime):
        self.archive = archive
        self.members: list[Member] = []
        self.stamp = made_at.astimezone(UTC).timetuple()[:6]

    def add(self, name: str, chunks: Iterable[str | bytes]) -> Member:
        info = zipfile.ZipInfo(name, date_time=self.stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        digest, size = hashlib.sha256(), 0
        with self.archive.open(info, "w", force_zip64=True) as out:
            for chunk in chunks:
                data = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
                digest.update(data)
                size += len(data)
                out.write(data)
        member = Member(name, size, digest.hexdigest())
        self.members.append(member)
        return member


def write(
    session: Session,
    scope: Scope,
    out: BinaryIO,
    *,
    made_by: str,
    library: Library | None = None,
    signing_key: SigningKey | None = None,
    base_url: str | None = None,
    certificates: bool = True,
) -> Package:
    """Verify the chain, then write the package for ``scope`` into ``out`` (a file opened for
    writing bytes). ``made_by`` names who asked, as README.txt says it; ``library``, the content
    being served, gives the source of a version the database never stored; ``signing_key``
    signs it (without one, SIGNATURE is left out and its verifier says so); ``base_url``
    (BASE_URL) gives the certificates' check address and QR code (without it they carry the
    code alone) and roots the IRIs of statements.json. ``certificates`` False leaves out
    certificates/ (a PDF takes ``CERTIFICATE_SECONDS``; README.txt says how to get one instead).
    Writes nothing to
    the database (``record`` does, once the package is complete). The caller runs it in a
    snapshot read (``db.reading(session, snapshot=True)``) so that its parts agree and no writer
    waits on it (docs/architecture.md, "Transactions").
    Its time (in README.txt, on its files, and the day its training report is as of) is the
    real time: no caller picks it."""
    made_at = datetime.now(UTC)
    today = clock.org_today(made_at)
    chain = evidence.verify(session)
    package = Package(
        scope, made_at, made_by, chain, signing_key=signing_key, certificates_included=certificates, base_url=base_url
    )
    if chain.ok:
        package.disagreements = state_check.disagreements(session, chain.count)
    through = chain.count if chain.ok else None  # a broken chain: every record, as stored
    records = scope.evidence_filters(through)
    with zipfile.ZipFile(out, "w") as archive:
        writer = _Writer(archive, made_at)
        versions: set[str] = set()  # every content version the evidence or the report names
        writer.add(EVIDENCE, _evidence_csv(session, records, versions, package))
        if scope.narrowed:  # its rows' links need the records left out: their hashes alone
            writer.add(CHAIN, _chain_csv(session, through, package))
        writer.add(
            STATEMENTS,
            xapi.statements_json(
                session, evidence.export_rows(session, records), library, base_url or xapi.DEFAULT_BASE_URL
            ),
        )
        names = ContentNames(library, session)
        writer.add(REPORT, _report_csv(session, scope.report_filters(), today, names, versions, package))
        writer.add(PEOPLE, _people_csv(session, scope, records, package))
        _add_content(session, library, writer, versions, package)
        # More files go here: each one is listed in SHA256SUMS, and named in README.txt's list.
        if certificates:
            _add_certificates(session, library, base_url, records, writer, package)
        else:
            package.certificates_left_out = evidence.count(session, _signatures(records))
        writer.add(VERIFIER, [VERIFIER_SOURCE.read_text(encoding="utf-8")])
        if signing_key is not None:
            writer.add(PUBLIC_KEY, [signing_key.public_pem()])
        writer.add(README, _readme(package))
        sums = writer.add(SUMS, [_sums(writer.members)])
        if signing_key is not None:
            writer.add(SIGNATURE, [signature_text(package, signing_key, sums.sha256)])
    package.members = writer.members
    return package


def record(session: Session, package: Package, made_by: User | None) -> None:
    """The evidence that this package was made (committed with the caller's transaction)."""
    evidence.append(
        session,
        "evidence.packaged",
        user=made_by,
        details={
            "scope": package.scope.as_details(),
            "by": made_by.email if made_by else package.made_by,
            "sha256sums": package.sums_sha256,
            "records": package.records,
            "assignments": package.assignments,
            "people": package.people,
            "content_versions": package.versions,
            "certificates": package.certificates,
            "certificates_included": package.certificates_included,
            "chain_ok": package.chain.ok,
            "chain_head": package.chain.head_hash,
            "state_disagreements": len(package.disagreements),
            # The key that signed it (quiz/package_signing.py lists the keys from these).
            "signing_key": package.signing_key.fingerprint if package.signing_key else None,
            "public_key": package.signing_key.public_hex if package.signing_key else None,
        },
    )


def signature_text(package: Package, signing_key: SigningKey, sums_sha256: str) -> str:
    """SIGNATURE: what is signed, a line each, then ``signature: `` and the Ed25519 signature
    (base64) of the bytes of every line before it. The package's verify_package.py reads it."""
    chain = package.chain
    verified = "yes" if chain.ok else "no: " + " ".join(str(chain).split())
    signed = (
        "Rounds audit package signature, format 1\n"
        f"sha256sums: {sums_sha256}\n"
        f"chain-records: {chain.count}\n"
        f"chain-head: {chain.head_hash}\n"
        f"chain-verified: {verified}\n"
        f"made-at: {evidence.utc_timestamp(package.made_at)}\n"
        f"key-id: {signing_key.fingerprint}\n"
        f"public-key: {signing_key.public_hex}\n"
    )
    signature = base64.b64encode(signing_key.sign(signed.encode("utf-8"))).decode("ascii")
    return f"{signed}signature: {signature}\n"


# --- the files -------------------------------------------------------------------------------


def _chain_csv(session: Session, through: int | None, package: Package) -> Iterator[str]:
    """seq, prev_hash and hash of every record up to the head verified (every record when the
    chain did not verify): no content, so a narrowed package's rows can be checked as links."""
    query = select(Evidence.seq, Evidence.prev_hash, Evidence.hash).order_by(Evidence.seq)
    if through is not None:
        query = query.where(Evidence.seq <= through)
    package.chain_records = 0

    def rows():
        for row in session.execute(query.execution_options(yield_per=5000)):
            package.chain_records = (package.chain_records or 0) + 1
            yield tuple(row)

    return csvtext.lines(CHAIN_COLUMNS, rows())


_CONTENT_VERSION = evidence.EXPORT_COLUMNS.index("content_version")
_DETAILS = evidence.EXPORT_COLUMNS.index("details")


def _evidence_csv(session: Session, filters: evidence.Filters, versions: set[str], package: Package) -> Iterator[str]:
    def noted(rows):
        for row in rows:
            package.records += 1
            if row[_CONTENT_VERSION]:
                versions.add(row[_CONTENT_VERSION])
            versions.update(_versions_in(row[_DETAILS]))
            yield row

    return csvtext.lines(evidence.EXPORT_COLUMNS, noted(evidence.export_rows(session, filters)))


def _report_csv(
    session: Session,
    filters: training_report.Filters,
    today: date,
    names: ContentNames,
    versions: set[str],
    package: Package,
) -> Iterator[str]:
    """The training report's CSV, counting its rows and noting the versions of the attempts
    that completed them (their days need not be the evidence's)."""

    def noted(rows):
        for row in rows:
            package.assignments += 1
            if row.attempt is not None:
                versions.add(row.attempt.module_version)
                versions.update(_scenario_versions(row.attempt.scenario_versions))
            yield training_report.csv_cells(row, names)

    return csvtext.lines(training_report.COLUMNS, noted(training_report.streamed(session, filters, today)))


def _scenario_versions(stored: str) -> list[str]:
    try:
        parsed = json.loads(stored)
    except (TypeError, ValueError):
        return []
    return [v for v in parsed if isinstance(v, str)] if isinstance(parsed, list) else []


def _versions_in(details: str) -> list[str]:
    """The scenario versions a record's details name (a choice: its scenario; a start: all)."""
    try:
        parsed = json.loads(details)
    except (TypeError, ValueError, RecursionError):  # altered outside Rounds: nothing to follow
        return []
    if not isinstance(parsed, dict):
        return []
    named = [parsed.get("scenario_version")]
    scenarios = parsed.get("scenarios")
    if isinstance(scenarios, list):
        named += [s.get("version") for s in scenarios if isinstance(s, dict)]
    return [v for v in named if isinstance(v, str) and v]


def _people_csv(session: Session, scope: Scope, records: evidence.Filters, package: Package) -> Iterator[str]:
    """The people in scope (the person; everyone in the department now; everyone), and anyone
    else the records found are about (someone who has left the department since)."""
    supervisor = aliased(User)
    query = select(User, supervisor.email).outerjoin(supervisor, User.supervisor_id == supervisor.id)
    if scope.person:
        query = query.where(User.id == scope.person.id)
    elif scope.department:
        query = query.where((User.department == scope.department) | User.id.in_(evidence.people_in(records)))
    query = query.order_by(User.name, User.email)

    def rows():
        for person, supervisor_email in session.execute(query):
            package.people += 1
            yield [
                csvtext.spreadsheet_safe(cell)
                for cell in (
                    person.name,
                    person.email,
                    person.employee_id,
                    person.person_kind,
                    person.vendor,
                    person.job_role,
                    person.specialty,
                    person.department,
                    person.work_state,
                    supervisor_email,
                    person.hire_date.isoformat() if person.hire_date else None,
                    "yes" if person.active else "no",
                    org_day(person.created_at).isoformat(),
                )
            ]

    return csvtext.lines(PEOPLE_COLUMNS, rows())


def _content_file(stored: ContentVersion) -> str:
    """content/modules/<id>@<version>.md, content/scenarios/<id>.<specialty>@<version>.md (the
    whole version: two versions of one file never share a name)."""
    name = stored.content_id + (f".{stored.specialty}" if stored.specialty else "")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return f"content/{stored.kind}s/{name}@{stored.version}.md"


def _add_content(
    session: Session, library: Library | None, writer: _Writer, versions: set[str], package: Package
) -> None:
    """Each content version's exact source (a file's SHA-256 is its version), as stored when it
    was first used, or as served now if it never was; and an index of them. A version found in
    neither is listed as "(not stored)"."""
    found: dict[str, ContentVersion] = {}
    wanted = sorted(versions)
    for start in range(0, len(wanted), 500):
        query = select(ContentVersion).where(ContentVersion.version.in_(wanted[start : start + 500]))
        found.update((stored.version, stored) for stored in session.scalars(query))
    served = _served(library, versions - found.keys())
    index: list[tuple[str, str | None, str | None, str | None, str | None, str | None, str]] = []
    for version in wanted:
        item = found.get(version) or served.get(version)
        if item is None:
            package.missing_versions.append(version)
            index.append((version, None, None, None, None, None, "(not stored)"))
            continue
        name = _content_file(item)
        writer.add(name, [item.source])
        stored_at = training_report.utc_stamp(item.stored_at) if item.stored_at else "(served, not stored)"
        index.append((version, item.kind, item.content_id, item.specialty, item.path, stored_at, name))
    package.versions = len(wanted) - len(package.missing_versions)
    index.sort(key=lambda row: (row[6], row[0]))
    writer.add(CONTENT_INDEX, csvtext.lines(CONTENT_COLUMNS, index))


def _served(library: Library | None, versions: set[str]) -> dict[str, ContentVersion]:
    """Versions the library serves, as rows never added to a session."""
    if library is None or not versions:
        return {}
    items: list[Module | Scenario] = [*library.modules.values(), *library.all_scenarios()]
    return {item.version: as_row(item) for item in items if item.version in versions}


# --- the certificates: a step of its own --------------------------------------------------------


def _add_certificates(
    session: Session,
    library: Library | None,
    base_url: str | None,
    filters: evidence.Filters,
    writer: _Writer,
    package: Package,
) -> None:
    """certificates/...pdf: the PDF certificate of every signature whose record is in the
    package's evidence, drawn and written one at a time (certificate_pdf.for_signatures)."""
    for name, pdf in certificate_pdf.for_signatures(session, filters, library, base_url):
        if pdf is None:
            package.certificates_not_drawn += 1
            continue
        writer.add(f"certificates/{name}", [pdf])
        package.certificates += 1


def _signatures(filters: evidence.Filters) -> evidence.Filters:
    return replace(filters, event="acknowledgement.signed")


def signatures_in(session: Session, scope: Scope) -> int:
    """How many signatures (``acknowledgement.signed`` records) the scope holds: as many PDF
    certificates as a package of it would draw, ``CERTIFICATE_SECONDS`` each."""
    return evidence.count(session, _signatures(scope.evidence_filters(None)))


def certificates_time(count: int) -> str:
    """Roughly how long ``count`` certificates take to draw, in words ("about 25 minutes")."""
    minutes = round(count * CERTIFICATE_SECONDS / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 120:
        return ngettext("about %(num)s minute", "about %(num)s minutes", minutes, num=format(minutes, ","))
    hours = round(minutes / 60)
    return ngettext("about %(num)s hour", "about %(num)s hours", hours, num=format(hours, ","))


def _sums(members: list[Member]) -> str:
    """``sha256sum``'s own format, so ``sha256sum -c SHA256SUMS`` checks every file."""
    return "".join(f"{m.sha256}  {m.name}\n" for m in members)


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(text, width=78, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False)


def _readme(package: Package) -> list[str]:
    chain = package.chain
    if chain.ok:
        state = (
            "The whole evidence chain was verified when this package was made: "
            + ngettext("%(num)s record", "%(num)s records", chain.count, num=format(chain.count, ","))
            + f", intact. The newest record's hash (the head) was {chain.head_hash}. The "
            "evidence below stops at that record."
        )
    else:
        state = (
            f"WARNING: the evidence chain did NOT verify when this package was made: record "
            f"{chain.seq}: {chain.problem}. The records are included as they are stored; tell "
            "the compliance officer and the database administrator."
        )
    if not chain.ok:
        agree = ""
    elif package.disagreements:
        agree = (
            ngettext(
                "WARNING: %(num)s assignment or clearance in Rounds' database did NOT agree with the evidence "
                "behind it when this package was made ",
                "WARNING: %(num)s assignments or clearances in Rounds' database did NOT agree with the evidence "
                "behind them when this package was made ",
                len(package.disagreements),
                num=format(len(package.disagreements), ","),
            )
            + '(every "Done" needs an "Assignment completed" record and a signed acknowledgement of the '
            'attempt it names; every "Waived" an "Assignment waived" record; every clearance for PHI a '
            '"Person cleared for PHI" record). Treat the rows below as unproven, and tell the compliance '
            "officer: the database was changed outside Rounds."
        )
    else:
        agree = (
            "Every assignment done or waived, and every person cleared for PHI, in Rounds' whole database "
            'agreed with the evidence behind it when this package was made (an "Assignment completed" '
            'record and a signed acknowledgement for each done one, an "Assignment waived" record for each '
            'waived one, a "Person cleared for PHI" record for each clearance).'
        )
    missing = ""
    if package.missing_versions:
        missing = " " + ngettext(
            '%(num)d version named by the records was never stored; content/index.csv lists it as "(not stored)".',
            '%(num)d versions named by the records were never stored; content/index.csv lists them as "(not stored)".',
            len(package.missing_versions),
        )
    files = [
        (README, "this file"),
        (
            PEOPLE,
            ngettext(
                "%(num)s person in scope, accounts as they are now",
                "%(num)s people in scope, accounts as they are now",
                package.people,
                num=format(package.people, ","),
            ),
        ),
        (
            REPORT,
            ngettext(
                "%(num)s assignment and how it ended",
                "%(num)s assignments and how each ended",
                package.assignments,
                num=format(package.assignments, ","),
            ),
        ),
        (
            EVIDENCE,
            ngettext(
                "%(num)s evidence record",
                "%(num)s evidence records, in sequence order",
                package.records,
                num=format(package.records, ","),
            ),
        ),
        (STATEMENTS, "their learning events as xAPI 1.0.3 statements (ids made from the records' hashes)"),
        (
            "content/",
            ngettext(
                "the exact source of %(num)s content version",
                "the exact source of %(num)s content versions",
                package.versions,
                num=format(package.versions, ","),
            ),
        ),
        (CONTENT_INDEX, "which content file is which version"),
        *([("certificates/", _certificates_line(package))] if package.certificates_included else []),
        (VERIFIER, "checks this package offline: Python 3.9 or later, nothing to install"),
        *([(PUBLIC_KEY, "the public key that signed this package")] if package.signing_key else []),
        (SUMS, "the SHA-256 of every file above"),
        *([(SIGNATURE, "the SHA-256 of SHA256SUMS and the chain's head, signed")] if package.signing_key else []),
    ]
    if package.chain_records is not None:
        whole = ngettext(
            "%(num)s record", "%(num)s records", package.chain_records, num=format(package.chain_records, ",")
        )
        after_evidence = [name for name, _ in files].index(EVIDENCE) + 1
        files.insert(after_evidence, (CHAIN, f"seq, prev_hash and hash of {whole}, the whole chain"))
    made_at = clock.local_text(package.made_at, clock.time_zone(), seconds=True, with_utc=True)
    parts = [
        "Rounds audit package\n====================\n\n",
        _wrap(
            f"Training records of a HIPAA workforce training program (45 CFR 164.530(b) and "
            f"(j)), made by Rounds on {made_at} for {package.made_by}."
        )
        + "\n\n"
        + _wrap(
            f"Times: the evidence records' times are UTC, as recorded. Days in the report (due, "
            f"completed, created) are the organization's, in its time zone, {clock.time_zone().key}."
        )
        + "\n\n",
        "Scope\n-----\n",
        "".join(_wrap(line, "  ") + "\n" for line in package.scope.in_words()),
        "\nFiles\n-----\n",
        "".join(f"  {name:<21}{what}\n" for name, what in files),
        "\nThe evidence chain\n------------------\n",
        _wrap(state + missing) + "\n\n",
        *(
            [
                "Assignments against the evidence\n--------------------------------\n",
                _wrap(agree) + "\n",
                "".join(_wrap(str(d), "  ") + "\n" for d in package.disagreements),
                "\n",
            ]
            if agree
            else []
        ),
        *(
            []
            if package.certificates_included
            else ["The certificates\n----------------\n", _wrap(_left_out_words(package)) + "\n\n"]
        ),
        "The signature\n-------------\n",
        _signature_words(package),
        "How to check this package\n-------------------------\n",
        _wrap(_CHECKS[0], "  ") + "\n\n",
        "".join(f"    {line}\n" for line in OPENSSL_CHECK) + "\n",
        "".join(_wrap(step, "  ") + "\n\n" for step in _CHECKS[1:-1]),
        *([_wrap(_CHECKS[-1], "  ") + "\n\n"] if package.certificates_included else []),
    ]
    return parts


def _certificates_line(package: Package) -> str:
    line = ngettext(
        "the PDF certificate of %(num)s signature in scope",
        "the PDF certificates of %(num)s signatures in scope",
        package.certificates,
        num=format(package.certificates, ","),
    )
    if package.certificates_not_drawn:
        line += f" (not drawn, with characters the PDF's font lacks: {package.certificates_not_drawn})"
    return line


def _left_out_words(package: Package) -> str:
    """README.txt's words for a package made without certificates/: how to get any one."""
    check = f"{package.base_url.rstrip('/')}/c/CODE" if package.base_url else "/c/CODE at Rounds' address"
    return (
        "The PDF certificates were left out of this package when it was made (on request; "
        + ngettext(
            "%(num)s signature in scope has one",
            "%(num)s signatures in scope have one each",
            package.certificates_left_out,
            num=format(package.certificates_left_out, ","),
        )
        + '). Each signature is an "Acknowledgement signed" record in evidence.csv, whose details name '
        "its certificate's code (certificate_code). Anyone can check a certificate on the public page "
        f"{check}, with its code, which says whether it is still valid. Its PDF is on its certificate "
        "page in Rounds: the learner's own (Download as PDF), or, for a compliance officer or an "
        "admin, the person's page under Manage > People. A package made with the certificates (the "
        '"Include each certificate as a PDF" box on the Audit package page, or `flask evidence package` '
        "without --no-certificates) holds them all, in certificates/."
    )


def _signature_words(package: Package) -> str:
    key = package.signing_key
    if key is None:
        return (
            _wrap(
                "This package is NOT signed: it was made without the organization's signing key, so "
                "nothing in it shows who made it. Its verifier says so and fails."
            )
            + "\n\n"
        )
    return (
        _wrap("This package is signed with the organization's Ed25519 key:")
        + f"\n\n  public key  {key.public_hex}\n  key id      {key.fingerprint}\n"
        + "              (the SHA-256 of the public key's 32 bytes)\n\n"
        + _wrap(
            "SIGNATURE names the SHA-256 of SHA256SUMS, the evidence chain's head (its number of "
            "records and the newest one's hash), the time the package was made and this key, and "
            "holds the signature of those lines. A good signature shows that no file was changed "
            "since. It shows that the package is the organization's once this public key is one "
            "the organization publishes: Rounds lists its keys, the current one and every earlier "
            "one with the days it signed, on its Audit package page. Get them from the organization "
            "by another way than this package."
        )
        + "\n\n"
    )


#: The signature checked with openssl 3 (README.txt gives these lines, each a shell command).
OPENSSL_CHECK = (
    "sed '$d' SIGNATURE > signed.txt",
    "sed -n 's/^signature: //p' SIGNATURE | base64 -d > signature.bin",
    "openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin -in signed.txt -sigfile signature.bin",
)
_CHECKS = (
    "1. Run the verifier: `python3 verify_package.py` in this folder, or `python3 "
    "verify_package.py rounds-audit-package-....zip` on the ZIP file as it was handed over. It "
    "needs Python 3.9 or later and nothing else, and is short enough to read first. It checks "
    "the signature, the SHA-256 of every file, the hash of every evidence record, the links "
    "between records and the chain's head, prints each check, exits 0 when all hold, and "
    "otherwise names each file or record at fault. Python's standard library has no Ed25519, "
    "so the verifier checks the signature with RFC 8032's algorithm written out in plain "
    "Python. openssl 3 checks the signature too, in this folder (the last line of SIGNATURE "
    "is the signature of the lines before it):",
    "2. Nothing in it was changed: `sha256sum -c SHA256SUMS` in this folder checks every file, "
    "and SIGNATURE names the SHA-256 of SHA256SUMS itself. That SHA-256 is also kept in Rounds' "
    'evidence log, in the record of kind "Audit package made" (evidence.packaged) written when '
    'this package was made, under "sha256sums": ask for that record, or find it on Rounds\' '
    "Evidence page, and compare.",
    "3. Each evidence record is unchanged: a row's hash is the SHA-256 (hex) of the UTF-8 JSON "
    "object of its other columns, keys sorted, no spaces, non-ASCII as is, seq and user_id as "
    "numbers and empty cells as null (record_hash in verify_package.py). Each row's prev_hash "
    "is the hash of the record before it. A package narrowed to a person, a department, a "
    "module or some days leaves records out, so it has chain.csv: the seq, prev_hash and hash "
    "of every record in the whole chain up to the head, with which the verifier checks every "
    "link from record 1 and finds each row's hash at its seq. chain.csv shows how many records "
    "the whole log had and their hashes, and nothing of what they say: a hash cannot be turned "
    "back into its record. Anyone can compute these hashes, so they show a record was changed, "
    "not who wrote it: each record in Rounds' database also carries a MAC made with the "
    "evidence key, which is not in the database nor in this package; `evidence verify`, run "
    "where the key is, checks those, and holds the log to the heads kept in the anchor file "
    "outside the database.",
    "4. The content is what learners saw: each file in content/ has as its SHA-256 the version "
    "the records name (content_version; a scenario's in the details).",
    "5. The training report and the people are summaries, as of the day the package was made; "
    "the evidence records are the proof behind them. Cells of those two that a person typed and "
    "that start like a spreadsheet formula (= + - @) begin with an apostrophe. The cells of "
    "evidence.csv are exactly as recorded (their bytes are hashed), so a name typed as a formula "
    "is one there too: open evidence.csv as text, or import it with every column as text, "
    "rather than opening it in a spreadsheet directly.",
    '5. Each PDF in certificates/ is the certificate of an "Acknowledgement signed" record in '
    "evidence.csv, which names its code (certificate_code in the details); the code opens the "
    "public page printed on it, which says whether it is still valid. A revoked one says REVOKED "
    'and has a "Certificate revoked" record saying who revoked it and why.',
)
