"""The organization's signing key: an Ed25519 key outside the database that signs audit packages.

SHA256SUMS shows that no file of a package changed since SHA256SUMS was written, but anyone can
write a new SHA256SUMS. A package therefore also holds SIGNATURE: a short text naming the
SHA-256 of SHA256SUMS and the evidence chain's head, signed with this key, and the public key
(in SIGNATURE and in signing-key.pem). Anyone can check the signature with the public key alone
(the package's verify_package.py does, or openssl); the public key is shown on the Audit
package page, so a package can be proved unchanged and the organization's without Rounds.

Where the key is (docs/operations.md, "The signing key"):

- ``SIGNING_KEY`` (environment): the private key, as 64 hex digits (its 32 bytes) or a PEM
  text; or else
- ``SIGNING_KEY_FILE`` (default ``<instance>/signing-key``): a PEM file (PKCS #8, as openssl
  writes it) or 64 hex digits, made with a new key (mode 0600) if it is not there.

Rotation (``flask evidence signing-key rotate``) puts a new key in the file and keeps the old
one beside it as ``signing-key.retired-<time>``; old packages still verify with the public key
they carry, and the keys that signed packages are listed from the evidence (``published_keys``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Evidence

#: The evidence record of a rotation (``flask evidence signing-key rotate``).
ROTATED = "evidence.signing-key-rotated"


class SigningKeyError(ValueError):
    """The signing key given cannot be used: named with where it came from."""


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    source: str  # a file's path, or "SIGNING_KEY"

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def public_hex(self) -> str:
        return self.public_bytes.hex()

    @property
    def fingerprint(self) -> str:
        """The key's id: the SHA-256 (hex) of its public key's 32 bytes."""
        return fingerprint(self.public_bytes)

    def public_pem(self) -> str:
        """The public key as openssl reads it (``openssl pkeyutl -verify -pubin -inkey``)."""
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode("ascii")
        )

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


def fingerprint(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()


def from_text(text: str, source: str) -> SigningKey:
    """A key as 64 hex digits (its 32 private bytes) or a PEM private key (unencrypted)."""
    text = text.strip()
    if "-----BEGIN" in text:
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"{source}: not a PEM private key without a password ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{source}: not an Ed25519 key")
        return SigningKey(key, source)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise SigningKeyError(f"{source}: expected an Ed25519 private key as PEM or as 64 hex digits")
    return SigningKey(Ed25519PrivateKey.from_private_bytes(raw), source)


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_new(path: Path) -> Path:
    """A new key, whole, in a temporary file beside ``path`` (mode 0600); returns its name."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")  # mode 0600
    with os.fdopen(fd, "wb") as fh:
        fh.write(_pem(Ed25519PrivateKey.generate()))
        fh.flush()
        os.fsync(fh.fileno())
    return Path(temp)


def _create(path: Path) -> None:
    """Of several processes starting at once exactly one key file wins (as for the secret key)."""
    temp = _write_new(path)
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink()


def load(path: Path | str | None, environment_value: str | None) -> SigningKey:
    """The key: from ``SIGNING_KEY`` if set, else from the key file (made if missing)."""
    if environment_value and environment_value.strip():
        return from_text(environment_value, "SIGNING_KEY")
    if path is None:
        raise SigningKeyError("no signing key: set SIGNING_KEY or SIGNING_KEY_FILE")
    path = Path(path)
    if not path.exists():
        _create(path)
    return from_text(path.read_text(encoding="ascii", errors="replace"), str(path))


def rotate(path: Path | str, now: datetime | None = None) -> tuple[SigningKey, SigningKey, Path]:
    """Put a new key in the key file, keeping the old one beside it (``<name>.retired-<UTC
    time>``, 0600). Returns the old key, the new one, and where the old one is kept."""
    path = Path(path)
    old = load(path, None)  # there and sound before anything changes
    retired = path.with_name(f"{path.name}.retired-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}")
    os.link(path, retired)
    temp = _write_new(path)
    os.replace(temp, path)
    return old, from_text(path.read_text(encoding="ascii"), str(path)), retired


@dataclass
class PublishedKey:
    """A key that signed packages: from the evidence records of the packages and rotations."""

    fingerprint: str
    public_key: str
    current: bool = False
    first_signed: str | None = None  # UTC times, as recorded
    last_signed: str | None = None
    packages: int = 0
    retired_at: str | None = None


def published_keys(session: Session, current: SigningKey | None) -> list[PublishedKey]:
    """The current key first, then every other key that signed a package or was rotated out,
    newest first, with when it signed and when it was retired (from the evidence)."""
    keys: dict[str, PublishedKey] = {}
    if current is not None:
        keys[current.fingerprint] = PublishedKey(current.fingerprint, current.public_hex, current=True)
    query = (
        select(Evidence.recorded_at, Evidence.event, Evidence.details)
        .where(Evidence.event.in_(("evidence.packaged", ROTATED)))
        .order_by(Evidence.seq)
    )
    for at, kind, text in session.execute(query):
        try:
            details = json.loads(text)
        except ValueError:
            continue
        if kind == ROTATED:
            fp, public = details.get("retired"), details.get("retired_public_key")
        else:
            fp, public = details.get("signing_key"), details.get("public_key")
        if not isinstance(fp, str) or not isinstance(public, str):
            continue
        key = keys.setdefault(fp, PublishedKey(fp, public))
        if kind == ROTATED:
            key.retired_at = at
        else:
            key.packages += 1
            key.first_signed = key.first_signed or at
            key.last_signed = at
    earlier = sorted(
        (k for k in keys.values() if not k.current), key=lambda k: k.last_signed or k.retired_at or "", reverse=True
    )
    return [k for k in keys.values() if k.current] + earlier
