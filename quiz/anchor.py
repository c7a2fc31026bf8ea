"""The anchor file: the chain's heads, written where the database cannot reach.

A hash chain whose newest records were removed still verifies, and so does one rewritten whole
by someone who can write to the database. Each good daily check (``flask evidence verify
--alert``) therefore appends the chain's head to the anchor file (``EVIDENCE_ANCHOR_PATH``;
meant for other storage, shared by the servers), and every check holds the log to its last
line: that record must still be there with that hash, and the chain keyed from the same record.

One line per head, JSON, never rewritten: ``{"at", "head", "keyed_from", "kind", "prev", "seq",
"key_id", "mac"}``. ``prev`` is the SHA-256 of the line before (empty on the first), and ``mac``
an HMAC-SHA256 with the evidence key of the other fields: a line removed, changed, reordered or
written by someone without the key is found (``read`` raises ``Corrupt``, naming the line).
Appends take an exclusive ``flock`` on the file, so several servers may share it.

Plain Python: no Flask, no database (quiz/chain_check.py decides what a missing file means).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .evidence_keys import ANCHOR_PURPOSE, Keyring

#: The fields a line's MAC covers, and the two that are not covered.
SIGNED = ("at", "head", "keyed_from", "kind", "prev", "seq")
KINDS = ("start", "daily")


class Corrupt(ValueError):
    """The anchor file is not one Rounds wrote, line by line: named by line."""


@dataclass(frozen=True)
class Line:
    number: int  # 1 for the file's first line
    kind: str  # "start" (the first, when the anchor was started) | "daily"
    seq: int  # the head's sequence number: the records the chain had (0: none)
    head: str
    keyed_from: int | None  # the chain's first keyed record then
    at: str  # UTC, ISO 8601
    prev: str
    key_id: str
    mac: str


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _line_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse(text: str, keyring: Keyring) -> list[Line]:
    """Every line of an anchor file's text, each checked: its form, its MAC, its link to the
    line before, and that heads never go back. Corrupt names the first line at fault."""
    if text and not text.endswith("\n"):
        raise Corrupt(f"line {text.count(chr(10)) + 1} is cut short (no end of line): written in part, or cut")
    lines: list[Line] = []
    prev = ""
    for number, raw in enumerate(text.splitlines(), 1):
        try:
            found = json.loads(raw)
        except ValueError:
            raise Corrupt(f"line {number} is not JSON") from None
        if not isinstance(found, dict) or set(found) != {*SIGNED, "key_id", "mac"}:
            raise Corrupt(f"line {number} does not have the fields of an anchor line")
        signed = {name: found[name] for name in SIGNED}
        seq, keyed_from = found["seq"], found["keyed_from"]
        if (
            type(seq) is not int
            or seq < 0
            or found["kind"] not in KINDS
            or not isinstance(found["head"], str)
            or not (keyed_from is None or type(keyed_from) is int)
            or not isinstance(found["at"], str)
        ):
            raise Corrupt(f"line {number} does not have the fields of an anchor line")
        why = keyring.check(ANCHOR_PURPOSE, _canonical(signed), found["key_id"], found["mac"])
        if why is not None:
            raise Corrupt(f"line {number}: {why}")
        if found["prev"] != prev:
            raise Corrupt(f"line {number} does not follow line {number - 1}: a line was removed, changed or moved")
        if lines and seq < lines[-1].seq:
            raise Corrupt(f"line {number} has a head ({seq}) older than line {number - 1}'s ({lines[-1].seq})")
        lines.append(
            Line(
                number,
                found["kind"],
                seq,
                found["head"],
                keyed_from,
                found["at"],
                found["prev"],
                found["key_id"],
                found["mac"],
            )
        )
        prev = _line_hash(raw)
    return lines


def read(path: str | Path, keyring: Keyring) -> list[Line] | None:
    """The anchor's lines; None if there is no such file. Corrupt if it is not one Rounds wrote;
    OSError if it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise Corrupt("it is not UTF-8 text") from None
    return parse(text, keyring)


def append(
    path: str | Path,
    keyring: Keyring,
    *,
    kind: str,
    seq: int,
    head: str,
    keyed_from: int | None,
    at: datetime | None = None,
) -> Line:
    """Add a head at the end (made 0600 if not there), under an exclusive lock, after checking
    every line already there (never append to a file that is not sound: Corrupt)."""
    if kind not in KINDS:
        raise ValueError(f"anchor line kind {kind!r}")
    stamp = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        chunks: list[bytes] = []
        while chunk := os.pread(fd, 1 << 16, sum(len(c) for c in chunks)):
            chunks.append(chunk)
        try:
            text = b"".join(chunks).decode("utf-8")
        except UnicodeDecodeError:
            raise Corrupt("it is not UTF-8 text") from None
        lines = parse(text, keyring)
        prev = _line_hash(text.splitlines()[-1]) if lines else ""
        signed = {"at": stamp, "head": head, "keyed_from": keyed_from, "kind": kind, "prev": prev, "seq": seq}
        key_id, mac = keyring.mac(ANCHOR_PURPOSE, _canonical(signed))
        os.write(fd, (_canonical({**signed, "key_id": key_id, "mac": mac}) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)  # and the lock with it
    return Line(len(lines) + 1, kind, seq, head, keyed_from, stamp, prev, key_id, mac)
