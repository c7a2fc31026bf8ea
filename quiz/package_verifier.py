#!/usr/bin/env python3
"""Check a Rounds audit package offline, with Python 3.9 or later and nothing else installed.

In the unzipped package's folder:         python3 verify_package.py
Or on the ZIP file as it was handed over: python3 verify_package.py rounds-audit-package-....zip

What it checks, in this order, printing each check as it goes:

1. SIGNATURE: its Ed25519 signature (RFC 8032, computed below in plain Python) over its own
   text, with the public key it names; and that signing-key.pem is that same key.
2. SHA256SUMS: its SHA-256 is the one SIGNATURE names; every file it lists has that SHA-256;
   no file in the package is left out of it.
3. evidence.csv: every row's hash, computed again from its other cells (``record_hash``); and
   each row's link (its prev_hash) to the row before it wherever their seq numbers follow on.
4. The chain: with chain.csv (a package narrowed to a person, a department, a module or some
   days), every record's link from record 1 to the chain's head, and each evidence row's hash
   at its seq; without it, evidence.csv is the whole chain, from record 1. Its last record must
   be the head SIGNATURE names.

It exits 0 when everything holds, 1 naming each file or row that does not, 2 when it cannot
read the package at all. A good signature proves the package is unchanged since it was signed;
that it is the organization's, only once the public key it prints is one the organization
publishes (Rounds shows its keys on its Audit package page). This file is itself listed in
SHA256SUMS: run a copy you trust if the package could have been changed.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import sys
import zipfile

# --- the evidence record's hash: the same as Rounds' quiz/evidence.py -------------------------

#: The fields a record's hash covers (evidence.csv has these columns, then "hash").
HASHED_FIELDS = (
    "seq",
    "recorded_at",
    "user_id",
    "learner_email",
    "learner_name",
    "job_role",
    "department",
    "supervisor",
    "module_id",
    "content_version",
    "policy_version",
    "event",
    "details",
    "prev_hash",
)
#: What the first record's prev_hash is.
GENESIS_HASH = "0" * 64


def record_hash(row: dict) -> str:
    """A record's hash: the SHA-256 (hex) of the UTF-8 bytes of the JSON object of its hashed
    fields, keys sorted, no spaces, non-ASCII characters as they are; seq and user_id are
    numbers, every other field a string, and an empty cell is null."""
    fields: dict = {}
    for name in HASHED_FIELDS:
        cell = row[name]
        if cell == "":
            fields[name] = None
        elif name in ("seq", "user_id"):
            fields[name] = int(cell)
        else:
            fields[name] = cell
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --- Ed25519 signature verification, from RFC 8032 section 6 --------------------------------

P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493  # the group's order
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):  # points in extended coordinates (X, Y, Z, T)
    e, f = (a[1] - a[0]) * (b[1] - b[0]) % P, (a[1] + a[0]) * (b[1] + b[0]) % P
    g, h = 2 * a[3] * b[3] * D % P, 2 * a[2] * b[2] % P
    e, f, g, h = f - e, h - g, h + g, f + e
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, point):
    result = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            result = _add(result, point)
        point = _add(point, point)
        s >>= 1
    return result


def _same(a, b) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _x(y: int, sign: int):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 % P == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    return P - x if (x & 1) != sign else x


def _point(data: bytes):
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


_BY = 4 * pow(5, P - 2, P) % P
BASE = (_x(_BY, 0), _BY, 1, _x(_BY, 0) * _BY % P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a, r = _point(public_key), _point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % Q
    return _same(_mul(s, BASE), _add(r, _mul(h, a)))


#: An Ed25519 public key in a PEM file is this DER prefix, then the key's 32 bytes.
PEM_PREFIX = bytes.fromhex("302a300506032b6570032100")


# --- reading the package: a folder or a ZIP file ----------------------------------------------

SUMS, SIGNATURE, PEM, EVIDENCE, CHAIN = "SHA256SUMS", "SIGNATURE", "signing-key.pem", "evidence.csv", "chain.csv"
#: At most this many problems are printed for each check (then how many more there were).
SHOWN = 20


class Package:
    def __init__(self, where: str):
        self.zip = zipfile.ZipFile(where) if os.path.isfile(where) else None
        self.root = where
        if self.zip is not None:
            self.names = {n for n in self.zip.namelist() if not n.endswith("/")}
        elif os.path.isdir(where):
            self.names = {
                os.path.relpath(os.path.join(folder, name), where).replace(os.sep, "/")
                for folder, _, files in os.walk(where)
                for name in files
            }
        else:
            raise OSError("no such file or folder")

    def open(self, name: str):
        """The file's bytes as a stream; None if it is not in the package."""
        if name not in self.names:
            return None
        if self.zip is not None:
            return self.zip.open(name)
        return open(os.path.join(self.root, *name.split("/")), "rb")

    def read(self, name: str):
        stream = self.open(name)
        if stream is None:
            return None
        with stream:
            return stream.read()

    def csv(self, name: str):
        """A CSV file's rows as dicts (the reader's line_num is the line a row ends on)."""
        return csv.DictReader(io.TextIOWrapper(self.open(name), encoding="utf-8", newline=""))


class Report:
    """Prints each check; counts the problems."""

    def __init__(self):
        self.problems = 0
        self.shown = 0

    def ok(self, text: str) -> None:
        print(f"ok    {text}")

    def fail(self, text: str) -> None:
        self.problems += 1
        self.shown += 1
        if self.shown <= SHOWN:
            print(f"FAIL  {text}")

    def done(self, text: str) -> None:
        """The end of one check: what it covered, ok if it found nothing."""
        if self.shown > SHOWN:
            print(f"FAIL  ... and {self.shown - SHOWN} more like these")
        print(f"{'ok' if self.shown == 0 else '':6}{text}")
        self.shown = 0


# --- the checks -----------------------------------------------------------------------------


def check_signature(package: Package, report: Report) -> dict:
    """Check SIGNATURE; return what it says (empty if it says nothing trustworthy)."""
    data = package.read(SIGNATURE)
    if data is None:
        report.fail(f"{SIGNATURE}: not in the package: it is not signed, so nothing shows who made it")
        return {}
    at = data.rfind(b"\nsignature: ")
    signed, said = data[: at + 1], {}
    try:
        for line in signed.decode("utf-8").splitlines()[1:]:
            key, _, value = line.partition(": ")
            said[key] = value
        public_key = bytes.fromhex(said.get("public-key", ""))
        signature = base64.b64decode(data[at + len(b"\nsignature: ") :].strip(), validate=True)
    except ValueError:
        public_key, signature = b"", b""
    if at < 0 or not ed25519_verify(public_key, signed, signature):
        report.fail(f"{SIGNATURE}: the signature does not match its text and public key: it was changed")
        return {}
    if said.get("key-id") != hashlib.sha256(public_key).hexdigest():
        report.fail(f"{SIGNATURE}: its key-id is not the SHA-256 of its public key")
    report.ok(f"{SIGNATURE}: a good Ed25519 signature, made {said.get('made-at')}")
    print(f"      by the public key {public_key.hex()}")
    print(f"      (key id, its SHA-256: {said.get('key-id')})")
    print("      Compare that key with the ones the organization publishes: it proves who signed.")
    pem = package.read(PEM)
    if pem is not None:
        lines = [line for line in pem.decode("ascii", "replace").splitlines() if line and "-----" not in line]
        try:
            der = base64.b64decode("".join(lines), validate=True)
        except ValueError:
            der = b""
        if der != PEM_PREFIX + public_key:
            report.fail(f"{PEM}: it is not the public key SIGNATURE names")
    return said


def check_files(package: Package, report: Report, signed: dict) -> None:
    sums = package.read(SUMS)
    if sums is None:
        report.fail(f"{SUMS}: not in the package")
        return
    digest = hashlib.sha256(sums).hexdigest()
    if signed and signed.get("sha256sums") != digest:
        report.fail(f"{SUMS}: its SHA-256 is not the one SIGNATURE names: a file was changed and {SUMS} rewritten")
    elif signed:
        report.ok(f"{SUMS}: its SHA-256 is the one SIGNATURE names ({digest})")
    listed = set()
    for number, line in enumerate(sums.decode("utf-8").splitlines(), 1):
        expected, _, name = line.partition("  ")
        listed.add(name)
        if name.startswith("/") or ".." in name.split("/"):
            report.fail(f"{SUMS}, line {number}: {name!r} is not a file inside the package")
            continue
        stream = package.open(name)
        if stream is None:
            report.fail(f"{name}: missing (listed in {SUMS})")
            continue
        found = hashlib.sha256()
        with stream:
            while block := stream.read(1 << 20):
                found.update(block)
        if found.hexdigest() != expected:
            report.fail(f"{name}: changed: its SHA-256 is not the one {SUMS} lists")
    for name in sorted(package.names - listed - {SUMS, SIGNATURE}):
        if package.zip is not None:
            report.fail(f"{name}: in the ZIP file but not in {SUMS}")
        else:
            print(f"note  {name}: not in {SUMS} (not part of the package as made)")
    report.done(f"{SUMS}: {len(listed)} files checked")


def check_evidence(package: Package, report: Report, whole: bool):
    """Each row's hash; each row's link to the row before it where their seq numbers follow on
    (record 1's to the genesis hash). ``whole``: there is no chain.csv, so the rows must be the
    whole chain, from record 1, none missing. Returns seq -> (prev_hash, hash) of every row
    (kept only when not ``whole``), and the last row's (seq, hash)."""
    if EVIDENCE not in package.names:
        report.fail(f"{EVIDENCE}: not in the package")
        return {}, None
    reader = package.csv(EVIDENCE)
    if tuple(reader.fieldnames or ()) != (*HASHED_FIELDS, "hash"):
        report.fail(f"{EVIDENCE}: its columns are not {', '.join(HASHED_FIELDS)}, hash")
        return {}, None
    rows, previous, count, links = {}, (0, GENESIS_HASH), 0, 0
    for row in reader:
        where = f"{EVIDENCE}, record {row['seq']} (line {reader.line_num})"
        try:
            computed, seq = record_hash(row), int(row["seq"])
        except (ValueError, TypeError):
            report.fail(f"{where}: a cell is missing, or seq or user_id is not a number")
            continue
        count += 1
        if computed != row["hash"]:
            report.fail(f"{where}: its contents do not match its hash: the record was edited")
        if seq <= previous[0]:
            report.fail(f"{where}: out of order (after record {previous[0]})")
            continue
        if seq == previous[0] + 1:
            links += 1
            if row["prev_hash"] != previous[1]:
                report.fail(f"{where}: does not link to record {previous[0]} (its prev_hash is not that record's hash)")
        elif whole:
            report.fail(f"{where}: records {previous[0] + 1}..{seq - 1} are missing: it follows record {previous[0]}")
        if not whole:
            rows[seq] = (row["prev_hash"], row["hash"])
        previous = (seq, row["hash"])
    report.done(f"{EVIDENCE}: {count} records' hashes computed again; {links} links checked")
    return rows, previous


def check_chain(package: Package, report: Report, rows: dict):
    """chain.csv: every record's link from record 1 on, and each evidence row at its seq.
    Returns the last record's (seq, hash)."""
    reader = package.csv(CHAIN)
    if tuple(reader.fieldnames or ()) != ("seq", "prev_hash", "hash"):
        report.fail(f"{CHAIN}: its columns are not seq, prev_hash, hash")
        return None
    expected, prev_hash, seen = 1, GENESIS_HASH, 0
    for record in reader:
        seq = int(record["seq"])
        if seq != expected:
            report.fail(
                f"{CHAIN}: records {expected}..{seq - 1} are missing: record {seq} follows record {expected - 1}"
            )
        elif record["prev_hash"] != prev_hash:
            report.fail(f"{CHAIN}, record {seq}: does not link to record {seq - 1}")
        if seq in rows:
            seen += 1
            if rows.pop(seq) != (record["prev_hash"], record["hash"]):
                report.fail(f"{EVIDENCE}, record {seq}: its hash or prev_hash is not the one {CHAIN} has at {seq}")
        expected, prev_hash = seq + 1, record["hash"]
    for seq in sorted(rows):
        report.fail(f"{EVIDENCE}, record {seq}: not in {CHAIN}")
    report.done(f"{CHAIN}: {expected - 1} records' links checked from record 1; {seen} of them are in {EVIDENCE}")
    return expected - 1, prev_hash


def check_head(report: Report, last, signed: dict) -> None:
    """The chain's last record is the head SIGNATURE names."""
    last = last or (0, GENESIS_HASH)
    head = f"record {last[0]}, hash {last[1]}"
    if not signed:
        print(f"      the chain ends at {head}")
    elif (str(last[0]), last[1]) != (signed.get("chain-records"), signed.get("chain-head")):
        report.fail(
            f"the chain ends at {head}, not at the head SIGNATURE names "
            f"(record {signed.get('chain-records')}, hash {signed.get('chain-head')})"
        )
    else:
        report.ok(f"the chain ends at the head SIGNATURE names: {head}")
    if signed.get("chain-verified", "yes") != "yes":
        report.fail(
            f"SIGNATURE: the evidence chain did not verify when the package was made: {signed['chain-verified']}"
        )


def main(argv: list) -> int:
    where = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    try:
        package = Package(where)
    except (OSError, zipfile.BadZipFile) as error:
        print(f"cannot read {where}: {error}")
        return 2
    print(f"Checking the Rounds audit package in {where}")
    report = Report()
    try:
        signed = check_signature(package, report)
        check_files(package, report, signed)
        whole = CHAIN not in package.names  # without chain.csv, evidence.csv is the whole chain
        rows, last = check_evidence(package, report, whole)
        if not whole:
            last = check_chain(package, report, rows)
        check_head(report, last, signed)
    except (ValueError, TypeError, KeyError, csv.Error) as error:  # a file that is not what it should be
        report.fail(f"a file cannot be read as it should be ({type(error).__name__}: {error})")
    if report.problems:
        print(f"NOT VERIFIED: problems above: {report.problems}.")
        return 1
    print("VERIFIED: every check above passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
