"""An audit package checks itself offline: verify_package.py, standard-library Python written into
every package, checks the Ed25519 signature over SHA256SUMS and the chain's head, every file's
SHA-256, every evidence row's hash and link (through chain.csv in a narrowed package), and names
each file or row at fault. The signing key is outside the database; its public key is on the
Audit package page and in README.txt."""

from __future__ import annotations

import ast
import base64
import csv
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from quiz import audit_package, evidence, package_signing, package_verifier
from quiz.db import db
from quiz.models import Evidence

from .helpers import (
    add_user,
    assign_module,
    close_app,
    csrf_token,
    disable_evidence_triggers,
    make_app,
    page_text,
    pass_and_sign,
    sign_in,
    signed_in_as,
    through_lesson,
)

# --- the pure-Python Ed25519 against cryptography's ------------------------------------------


def test_rfc_8032_test_1_and_cryptography_agree_with_the_verifiers_ed25519():
    secret = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    key = package_signing.SigningKey(Ed25519PrivateKey.from_private_bytes(secret), "test")
    assert key.public_bytes == public and key.sign(b"") == signature  # the RFC's own vector
    assert package_verifier.ed25519_verify(public, b"", signature)
    assert not package_verifier.ed25519_verify(public, b"x", signature)


@pytest.mark.parametrize("message", [b"", b"a", b"Rounds audit package signature\n" * 40, bytes(range(256))])
def test_the_verifiers_ed25519_takes_cryptographys_signatures_and_refuses_bad_ones(message):
    private, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    public = package_signing.SigningKey(private, "test").public_bytes
    signature = private.sign(message)
    verify = package_verifier.ed25519_verify
    assert verify(public, message, signature)
    assert not verify(public, message + b".", signature)  # another message
    assert not verify(public, message, other.sign(message))  # another key's signature
    assert not verify(package_signing.SigningKey(other, "t").public_bytes, message, signature)  # another key
    for at in (0, 31, 32, 63):  # a bit flipped in R, and in S
        bad = bytearray(signature)
        bad[at] ^= 0x01
        assert not verify(public, message, bytes(bad)), at
    s = int.from_bytes(signature[32:], "little") + package_verifier.Q  # S not reduced: malleable, refused
    assert not verify(public, message, signature[:32] + s.to_bytes(32, "little"))
    assert not verify(public, message, signature[:63]) and not verify(public[:31], message, signature)


def test_the_verifier_is_standard_library_python_3_9_and_hashes_records_as_rounds_does():
    source = package_verifier.__file__
    ast.parse(Path(source).read_text(), feature_version=(3, 9))  # no syntax newer than 3.9
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(Path(source).read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    assert package_verifier.HASHED_FIELDS == evidence.HASHED_FIELDS
    assert package_verifier.GENESIS_HASH == evidence.GENESIS_HASH
    fields = {name: None for name in evidence.HASHED_FIELDS}
    fields.update(seq=7, user_id=12, learner_name="Zoë “Z” Ñuñez", details='{"a":1}', prev_hash="ab" * 32)
    as_csv = {name: "" if value is None else str(value) for name, value in fields.items()}
    assert package_verifier.record_hash(as_csv) == evidence.record_hash(fields)


# --- packages made by the app, checked by the verifier as an auditor runs it ------------------


def _passed(app, email="learner@example.org", name="Dana Whitfield", **kw) -> None:
    add_user(app, email=email, name=name, **kw)
    assign_module(app, email, "test-callers", date.today() + timedelta(days=10))
    client = app.test_client()
    assert sign_in(client, email).status_code == 303
    through_lesson(client)
    assert pass_and_sign(client, name).status_code == 303


def _download(client, **fields) -> bytes:
    form = client.get("/audit/package").text
    response = client.post("/audit/package", data={"csrf_token": csrf_token(form), **fields})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    return response.get_data()


def _unzip(data: bytes, folder: Path) -> Path:
    zipfile.ZipFile(io.BytesIO(data)).extractall(folder)
    return folder


def _verify(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """``folder``'s verify_package.py, as an auditor runs it: Python without site-packages (-S),
    in that folder, on it or on what ``args`` name."""
    return subprocess.run(
        [sys.executable, "-S", "verify_package.py", *args], cwd=folder, capture_output=True, text=True, timeout=120
    )


def _failures(result: subprocess.CompletedProcess) -> list[str]:
    return [line[6:] for line in result.stdout.splitlines() if line.startswith("FAIL  ")]


def _rewrite_sums(folder: Path) -> None:
    """What someone who changed a file would do next: write SHA256SUMS again."""
    sums = folder / "SHA256SUMS"
    lines = []
    for line in sums.read_text().splitlines():
        _, name = line.split("  ", 1)
        lines.append(f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n")
    sums.write_text("".join(lines))


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    return header, rows


def _write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([header, *rows])
    path.write_text(out.getvalue(), encoding="utf-8")


def _hash_of(header: list[str], row: list[str]) -> str:
    return package_verifier.record_hash(dict(zip(header, row, strict=True)))


@pytest.fixture
def made(app, tmp_path):
    """A package made through the app, of everything, unzipped; and the app's signing key."""
    _passed(app)
    data = _download(signed_in_as(app, "compliance"))
    (tmp_path / "package.zip").write_bytes(data)
    return _unzip(data, tmp_path / "package"), app.extensions["signing_key"]


def test_a_fresh_package_verifies_in_its_folder_and_as_its_zip_file(app, made, tmp_path):
    folder, key = made
    result = _verify(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    records = len(_rows(folder / "evidence.csv")[1])
    assert "ok    SIGNATURE: a good Ed25519 signature" in out and f"by the public key {key.public_hex}" in out
    assert f"(key id, its SHA-256: {key.fingerprint})" in out
    assert f"evidence.csv: {records} records' hashes computed again; {records} links checked" in out
    with app.app_context():
        [packaged] = db.session.scalars(select(Evidence).where(Evidence.event == "evidence.packaged"))
        details = json.loads(packaged.details)
    sums = hashlib.sha256((folder / "SHA256SUMS").read_bytes()).hexdigest()
    assert details["sha256sums"] == sums and f"its SHA-256 is the one SIGNATURE names ({sums})" in out
    assert f"the chain ends at the head SIGNATURE names: record {records}, hash {details['chain_head']}" in out
    assert details["signing_key"] == key.fingerprint and details["public_key"] == key.public_hex
    assert out.rstrip().endswith("VERIFIED: every check above passed.") and _failures(result) == []
    assert not (folder / "chain.csv").exists()  # the whole chain is in evidence.csv

    zipped = _verify(folder, str(tmp_path / "package.zip"))
    assert zipped.returncode == 0 and "VERIFIED" in zipped.stdout, zipped.stdout
    # The verifier in the package is the one in Rounds, and README.txt names the key and says how to run it.
    assert (folder / "verify_package.py").read_bytes() == Path(package_verifier.__file__).read_bytes()
    readme = " ".join((folder / "README.txt").read_text().split())
    assert key.public_hex in readme and key.fingerprint in readme and "python3 verify_package.py" in readme
    assert "RFC 8032" in readme and "NOT signed" not in readme


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_checks_the_signature_as_readme_says(made):
    folder, _ = made
    readme = (folder / "README.txt").read_text()
    assert all(f"\n    {line}\n" in readme for line in audit_package.OPENSSL_CHECK)
    command = "\n".join(audit_package.OPENSSL_CHECK)
    result = subprocess.run(["sh", "-c", command], cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0 and "Signature Verified Successfully" in result.stdout, result.stderr
    (folder / "SHA256SUMS").write_text("changed\n")
    signed = (folder / "SIGNATURE").read_text().replace("chain-records: ", "chain-records: 1")
    (folder / "SIGNATURE").write_text(signed)
    assert subprocess.run(["sh", "-c", command], cwd=folder, capture_output=True).returncode != 0


def test_an_edited_content_file_fails_naming_the_file(made):
    folder, _ = made
    [content] = [p for p in (folder / "content").rglob("*.md") if "modules" in p.parts]
    content.write_text(content.read_text().replace("a", "e", 1))
    result = _verify(folder)
    name = content.relative_to(folder).as_posix()
    assert result.returncode == 1
    assert _failures(result) == [f"{name}: changed: its SHA-256 is not the one SHA256SUMS lists"]
    assert "NOT VERIFIED: problems above: 1." in result.stdout


def test_an_edited_row_fails_naming_its_record_and_sha256sums_rewritten_fails_the_signature(made):
    folder, _ = made
    header, rows = _rows(folder / "evidence.csv")
    name = header.index("learner_name")
    target = next(row for row in rows if row[name] == "Dana Whitfield")
    target[name] = "Someone Else"
    _write_rows(folder / "evidence.csv", header, rows)
    _rewrite_sums(folder)
    result = _verify(folder)
    line = 1 + rows.index(target) + 1
    assert result.returncode == 1
    assert _failures(result) == [
        "SHA256SUMS: its SHA-256 is not the one SIGNATURE names: a file was changed and SHA256SUMS rewritten",
        f"evidence.csv, record {target[0]} (line {line}): its contents do not match its hash: the record was edited",
    ]

    # Its hash written again too: now the next record's link names it, and the head still does not hold.
    target[-1] = _hash_of(header, target)
    _write_rows(folder / "evidence.csv", header, rows)
    _rewrite_sums(folder)
    failures = _failures(_verify(folder))
    seq = int(target[0])
    assert (
        f"evidence.csv, record {seq + 1} (line {line + 1}): does not link to record {seq} (its prev_hash is not that record's hash)"
        in failures
    )
    assert not any("its contents do not match" in f for f in failures)


def test_a_row_removed_from_the_middle_fails_naming_the_link(made):
    folder, _ = made
    header, rows = _rows(folder / "evidence.csv")
    middle = len(rows) // 2
    gone = rows.pop(middle)
    _write_rows(folder / "evidence.csv", header, rows)
    _rewrite_sums(folder)
    result = _verify(folder)
    seq = int(gone[0])
    assert result.returncode == 1
    assert _failures(result) == [
        "SHA256SUMS: its SHA-256 is not the one SIGNATURE names: a file was changed and SHA256SUMS rewritten",
        f"evidence.csv, record {seq + 1} (line {middle + 2}): records {seq}..{seq} are missing: it follows record {seq - 1}",
    ]


def test_another_keys_signature_fails_and_a_package_signed_again_shows_the_other_key(made):
    folder, key = made
    text = (folder / "SIGNATURE").read_text()
    signed = text[: text.rindex("signature: ")]
    other = Ed25519PrivateKey.generate()
    forged = base64.b64encode(other.sign(signed.encode())).decode()
    (folder / "SIGNATURE").write_text(f"{signed}signature: {forged}\n")
    result = _verify(folder)
    assert result.returncode == 1
    assert _failures(result)[0] == "SIGNATURE: the signature does not match its text and public key: it was changed"
    assert "a good Ed25519 signature" not in result.stdout

    # Someone who signs it all again with a key of their own gets a good signature, by their key:
    # which is why the key it prints is compared with the organization's.
    theirs = package_signing.SigningKey(other, "theirs")
    signed = signed.replace(key.public_hex, theirs.public_hex).replace(key.fingerprint, theirs.fingerprint)
    resigned = base64.b64encode(other.sign(signed.encode())).decode()
    (folder / "SIGNATURE").write_text(f"{signed}signature: {resigned}\n")
    result = _verify(folder)
    assert f"by the public key {theirs.public_hex}" in result.stdout and key.public_hex not in result.stdout
    assert _failures(result) == ["signing-key.pem: it is not the public key SIGNATURE names"]


def test_a_narrowed_package_carries_chain_csv_and_its_rows_links_are_checked_through_it(app, tmp_path):
    _passed(app)
    _passed(app, "ben@example.org", "Ben Brook")
    client = signed_in_as(app, "compliance")
    folder = _unzip(_download(client, email="ben@example.org"), tmp_path / "ben")
    header, rows = _rows(folder / "evidence.csv")
    chain_header, chain = _rows(folder / "chain.csv")
    with app.app_context():
        stored = [tuple(r) for r in db.session.execute(select(Evidence.seq, Evidence.prev_hash, Evidence.hash))]
    assert chain_header == ["seq", "prev_hash", "hash"]
    assert [(int(s), p, h) for s, p, h in chain] == stored[: len(chain)] and len(chain) == len(stored) - 1
    assert {r[header.index("learner_email")] for r in rows} == {"ben@example.org"} and 0 < len(rows) < len(chain)
    readme = " ".join((folder / "README.txt").read_text().split())
    assert f"chain.csv seq, prev_hash and hash of {len(chain)} records, the whole chain" in readme

    result = _verify(folder)
    assert result.returncode == 0, result.stdout
    assert (
        f"ok    chain.csv: {len(chain)} records' links checked from record 1; {len(rows)} of them are in evidence.csv"
        in result.stdout
    )

    # A row edited with its hash written again agrees with itself, not with chain.csv.
    first = rows[0]
    first[header.index("details")] = "{}"
    first[-1] = _hash_of(header, first)
    _write_rows(folder / "evidence.csv", header, rows)
    _rewrite_sums(folder)
    failures = _failures(_verify(folder))
    assert (
        f"evidence.csv, record {first[0]}: its hash or prev_hash is not the one chain.csv has at {first[0]}" in failures
    )

    # A record of someone else's taken out of chain.csv breaks its links there.
    folder = _unzip(_download(client, email="ben@example.org"), tmp_path / "again")
    chain_header, chain = _rows(folder / "chain.csv")
    theirs = {r[0] for r in _rows(folder / "evidence.csv")[1]}
    gone = next(row for row in chain[1:] if row[0] not in theirs)
    chain.remove(gone)
    _write_rows(folder / "chain.csv", chain_header, chain)
    _rewrite_sums(folder)
    seq = int(gone[0])
    assert f"chain.csv: records {seq}..{seq} are missing: record {seq + 1} follows record {seq - 1}" in _failures(
        _verify(folder)
    )


def test_a_package_made_without_a_key_says_it_is_not_signed_and_fails(app, tmp_path):
    _passed(app)
    with app.app_context():
        out = io.BytesIO()
        audit_package.write(db.session, audit_package.Scope(), out, made_by="a test")
    folder = _unzip(out.getvalue(), tmp_path / "unsigned")
    assert not (folder / "SIGNATURE").exists() and "NOT signed" in (folder / "README.txt").read_text()
    result = _verify(folder)
    assert result.returncode == 1
    assert _failures(result) == ["SIGNATURE: not in the package: it is not signed, so nothing shows who made it"]


def test_a_package_of_a_broken_chain_fails(app, tmp_path):
    _passed(app)
    disable_evidence_triggers(app)
    with app.app_context():
        db.session.execute(Evidence.__table__.update().where(Evidence.seq == 2).values(details='{"altered":true}'))
        db.session.commit()
    folder = _unzip(_download(signed_in_as(app, "compliance")), tmp_path / "broken")
    result = _verify(folder)
    assert result.returncode == 1
    failures = _failures(result)
    assert failures[0].startswith("evidence.csv, record 2 (line 3): its contents do not match its hash")
    assert failures[-1].startswith(
        "SIGNATURE: the evidence chain did not verify when the package was made: no: evidence BROKEN at record 2"
    )


def test_what_is_not_a_package_exits_2(tmp_path):
    (tmp_path / "verify_package.py").write_bytes(Path(package_verifier.__file__).read_bytes())
    (tmp_path / "not.zip").write_text("not a zip")
    result = _verify(tmp_path, str(tmp_path / "not.zip"))
    assert result.returncode == 2 and "cannot read" in result.stdout


# --- the key: outside the database, shown in the app, rotated ----------------------------------


def test_the_key_file_is_made_private_on_first_start_and_kept(app):
    path = Path(app.config["SIGNING_KEY_FILE"])
    assert path.parent == Path(app.instance_path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    again = package_signing.load(path, None)
    assert again.public_hex == app.extensions["signing_key"].public_hex


def test_signing_key_from_the_environment_as_hex_or_pem_and_bad_ones_named(tmp_path):
    secret = os.urandom(32)
    from_hex = package_signing.load(tmp_path / "unused", secret.hex())
    assert from_hex.source == "SIGNING_KEY" and not (tmp_path / "unused").exists()
    pem_text = package_signing._pem(Ed25519PrivateKey.from_private_bytes(secret)).decode()
    assert package_signing.load(None, pem_text).public_hex == from_hex.public_hex
    for bad in ("abc", "00" * 31, "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"):
        with pytest.raises(package_signing.SigningKeyError, match="SIGNING_KEY"):
            package_signing.load(None, bad)


def test_the_page_shows_the_public_key_and_rotation_keeps_old_packages_verifying(
    app, made, tmp_path, database_url, monkeypatch
):
    folder, old = made
    client = signed_in_as(app, "admin")
    page = page_text(client.get("/audit/package").text)
    assert old.public_hex in page and old.fingerprint in page and "Earlier keys" not in page
    assert "This key signed 1 package here" in page

    result = app.test_cli_runner().invoke(args=["evidence", "signing-key", "rotate"])
    assert result.exit_code == 0, result.output
    path = Path(app.config["SIGNING_KEY_FILE"])
    new = package_signing.load(path, None)
    assert new.public_hex != old.public_hex and new.public_hex in result.output
    [kept] = path.parent.glob("signing-key.retired-*")
    assert package_signing.load(kept, None).public_hex == old.public_hex
    assert stat.S_IMODE(kept.stat().st_mode) == stat.S_IMODE(path.stat().st_mode) == 0o600
    with app.app_context():
        [rotated] = db.session.scalars(select(Evidence).where(Evidence.event == package_signing.ROTATED))
        assert json.loads(rotated.details)["retired_public_key"] == old.public_hex
        assert evidence.verify(db.session).ok

    # This process signs with the key it started with until restarted; a restarted one shows the
    # new key, and the old one with the package it signed and when it was retired.
    restarted = make_app(database_url, tmp_path, monkeypatch)  # the same instance folder: the same key files
    try:
        assert restarted.extensions["signing_key"].public_hex == new.public_hex
        client = restarted.test_client()
        assert sign_in(client, "admin@example.org").status_code == 303
        page = page_text(client.get("/audit/package").text)
        earlier = page.split("Earlier keys", 1)[1]
        assert new.public_hex in page.split("Earlier keys", 1)[0] and old.public_hex in earlier
        today = date.today().isoformat()
        assert f"{old.public_hex} 1 {today} to {today} {today}" in earlier
    finally:
        close_app(restarted)
    assert _verify(folder).returncode == 0  # the old package, with the key it carries

    made_here = app.test_cli_runner().invoke(args=["evidence", "package", "-o", str(tmp_path / "cli.zip")])
    assert f"signed with the key {old.fingerprint}" in made_here.output  # this process's key, until restarted
    cli_folder = _unzip((tmp_path / "cli.zip").read_bytes(), tmp_path / "cli")
    assert _verify(cli_folder).returncode == 0
    show = app.test_cli_runner().invoke(args=["evidence", "signing-key", "show"])
    assert show.exit_code == 0 and old.public_hex in show.output  # this process's key, until restarted
    app.config["SIGNING_KEY"] = "11" * 32
    refused = app.test_cli_runner().invoke(args=["evidence", "signing-key", "rotate"])
    assert refused.exit_code == 1 and "the key comes from SIGNING_KEY" in refused.output
    assert len(list(path.parent.glob("signing-key.retired-*"))) == 1


def test_garbled_files_are_named_not_a_crash(made):
    folder, _ = made
    (folder / "SIGNATURE").write_bytes(b"\xff\xfe not text\nsignature: !!\n")
    text = (folder / "evidence.csv").read_text()
    header, first, rest = text.split("\n", 2)
    (folder / "evidence.csv").write_text(f"{header}\n{first.split(',')[0]},short\n{rest}")
    result = _verify(folder)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    failures = _failures(result)
    assert failures[0] == "SIGNATURE: the signature does not match its text and public key: it was changed"
    assert "evidence.csv, record 1 (line 2): a cell is missing, or seq or user_id is not a number" in failures
