"""The evidence key: a secret outside the database that MACs every evidence record.

A hash chain shows that records were changed, removed or reordered, but anyone who can write to
the database can append a record that links correctly: the chain's formula is public. Each record
therefore also carries an HMAC-SHA256 of its hash, made with a key the database never holds, and
the id of that key (``Evidence.key_id``, ``Evidence.mac``), so that a record appended by someone
without the key fails verification at that record. The anchor file's lines are MACed with the
same keys (``quiz/anchor.py``).

Where the keys are (docs/operations.md, "The evidence key"):

- ``EVIDENCE_KEYS`` (environment): ``id:hex,id:hex,...``; or else
- ``EVIDENCE_KEY_FILE`` (default ``<instance>/evidence-keys``): one ``id hex`` a line, created
  with one new key (mode 0600) if it is not there.

The last key listed signs new records; every key listed verifies. Rotation adds a key at the end
(``flask evidence rotate-key``) and keeps the old ones, so old records still verify. Plain Python:
no Flask, no database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .words import ngettext

#: A key id: short, printable, kept on every record.
KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,40}")
#: Bytes of a key made here; a key given must have at least MIN_KEY_BYTES.
KEY_BYTES = 32
MIN_KEY_BYTES = 32
#: What each MAC is of, so that a record's MAC and an anchor line's can never stand for each other.
RECORD_PURPOSE = "rounds-evidence-record"
ANCHOR_PURPOSE = "rounds-evidence-anchor"


class EvidenceKeyError(ValueError):
    """The keys given cannot be used: named with where they came from."""


@dataclass(frozen=True)
class Keyring:
    """Keys by id, in the order given; the last one signs."""

    keys: tuple[tuple[str, bytes], ...]
    source: str  # where they came from, for messages: a file's path, or "EVIDENCE_KEYS"

    def __post_init__(self):
        if not self.keys:
            raise EvidenceKeyError(f"{self.source}: no evidence key in it")
        ids = [key_id for key_id, _ in self.keys]
        if len(set(ids)) != len(ids):
            raise EvidenceKeyError(f"{self.source}: a key id is listed twice")

    @property
    def current_id(self) -> str:
        return self.keys[-1][0]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id for key_id, _ in self.keys)

    def key(self, key_id: str | None) -> bytes | None:
        return next((key for kid, key in self.keys if kid == key_id), None)

    def mac(self, purpose: str, message: str, key_id: str | None = None) -> tuple[str, str]:
        """The key id used and the MAC (hex) of ``message`` for ``purpose``; the current key
        unless ``key_id`` names another."""
        key_id = key_id or self.current_id
        key = self.key(key_id)
        if key is None:
            raise EvidenceKeyError(f"{self.source}: no key {key_id!r}")
        return key_id, _mac(key, purpose, key_id, message)

    def check(self, purpose: str, message: str, key_id: str | None, mac: str | None) -> str | None:
        """None if ``mac`` is ``message``'s under key ``key_id``; else why not, in words."""
        if not mac:
            return "it carries no MAC"
        key = self.key(key_id)
        if key is None:
            return (
                f"its MAC was made with key {key_id!r}, which is not among this server's evidence keys ({self.source})"
            )
        if not hmac.compare_digest(_mac(key, purpose, key_id or "", message), mac):
            return "its MAC does not match: it was written or changed by someone without the evidence key"
        return None


def _mac(key: bytes, purpose: str, key_id: str, message: str) -> str:
    return hmac.new(key, f"{purpose}\n{key_id}\n{message}".encode(), hashlib.sha256).hexdigest()


def record_mac_message(record_hash: str) -> str:
    """What a record's MAC is of: its hash (which covers every field and the previous hash)."""
    return record_hash


def _parse(pairs: list[tuple[str, str]], source: str) -> Keyring:
    keys = []
    for key_id, value in pairs:
        if not KEY_ID.fullmatch(key_id):
            raise EvidenceKeyError(f"{source}: {key_id!r} is not a key id (letters, digits, . _ -; at most 40)")
        try:
            key = bytes.fromhex(value)
        except ValueError:
            raise EvidenceKeyError(f"{source}: key {key_id!r} is not hexadecimal") from None
        if len(key) < MIN_KEY_BYTES:
            raise EvidenceKeyError(
                ngettext(
                    "%(source)s: key %(key)s has %(num)d byte; at least %(least)d are needed",
                    "%(source)s: key %(key)s has %(num)d bytes; at least %(least)d are needed",
                    len(key),
                    source=source,
                    key=repr(key_id),
                    least=MIN_KEY_BYTES,
                )
            )
        keys.append((key_id, key))
    return Keyring(tuple(keys), source)


def from_text(text: str, source: str) -> Keyring:
    """A key file's text: ``id hex`` a line; blank lines and ``#`` comments ignored."""
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise EvidenceKeyError(f"{source}, line {number}: expected 'KEY_ID HEX_KEY'")
        pairs.append((parts[0], parts[1]))
    return _parse(pairs, source)


def from_environment_value(value: str) -> Keyring:
    """``EVIDENCE_KEYS``: ``id:hex`` items separated by commas or spaces, oldest first."""
    pairs = []
    for item in re.split(r"[,\s]+", value.strip()):
        if not item:
            continue
        key_id, sep, hex_key = item.partition(":")
        if not sep:
            raise EvidenceKeyError("EVIDENCE_KEYS: expected 'KEY_ID:HEX_KEY,...'")
        pairs.append((key_id, hex_key))
    return _parse(pairs, "EVIDENCE_KEYS")


def new_key_line(now: datetime | None = None) -> str:
    """A new key as a key file's line: its id is the UTC day it was made and a random part."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d}-{secrets.token_hex(3)} {secrets.token_hex(KEY_BYTES)}\n"


def _create(path: Path) -> None:
    """Write a key file with one new key, whole, readable by its owner only; of several processes
    starting at once exactly one file wins (as for the secret key, quiz/config.py)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".evidence-keys-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write("# Rounds evidence keys: KEY_ID HEX_KEY, oldest first; the last one signs.\n")
            fh.write("# Keep every line: old records are checked with old keys (docs/operations.md).\n")
            fh.write(new_key_line())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temp)


def load(path: Path | str | None, environment_value: str | None) -> Keyring:
    """The keys: from ``EVIDENCE_KEYS`` if set, else from the key file (made if missing)."""
    if environment_value and environment_value.strip():
        return from_environment_value(environment_value)
    if path is None:
        raise EvidenceKeyError("no evidence key: set EVIDENCE_KEYS or EVIDENCE_KEY_FILE")
    path = Path(path)
    if not path.exists():
        _create(path)
    return from_text(path.read_text(encoding="utf-8"), str(path))


def rotate(path: Path | str) -> str:
    """Add a new key at the end of the key file (it signs from the next start of each process);
    the old ones stay, to verify old records. Returns the new key's id."""
    path = Path(path)
    load(path, None)  # the file is there and sound before anything is added to it
    line = new_key_line()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return line.split()[0]
