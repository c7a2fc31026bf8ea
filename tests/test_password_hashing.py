"""Password hashing: production's Argon2id parameters meet OWASP's minimum, and only the app's
ARGON2 setting (which only the tests set, to cheap ones) changes them."""

from __future__ import annotations

from argon2 import PasswordHasher, Type, profiles

from quiz import accounts, create_app
from quiz.models import User

from .helpers import CHEAP_ARGON2, DATA_CONTENT, PASSWORD, make_app

#: OWASP Password Storage Cheat Sheet, Argon2id: any one of these (memory in KiB, passes),
#: all with parallelism 1, gives the minimum protection.
OWASP_ARGON2ID_MINIMUMS = [(47_104, 1), (19_456, 2), (12_288, 3), (9_216, 4), (7_168, 5)]


def test_production_parameters_are_argon2id_at_or_above_owasps_minimum():
    p = accounts.PRODUCTION_ARGON2
    assert p.type is Type.ID
    assert p.parallelism >= 1 and p.salt_len >= 16 and p.hash_len >= 32
    assert any(p.memory_cost >= memory and p.time_cost >= passes for memory, passes in OWASP_ARGON2ID_MINIMUMS), p


def test_production_parameters_are_unchanged_rfc_9106_low_memory():
    """t=3, m=64 MiB, p=4: what Rounds has always hashed with (argon2-cffi's default)."""
    assert accounts.PRODUCTION_ARGON2 == profiles.RFC_9106_LOW_MEMORY
    assert (
        accounts.PRODUCTION_ARGON2.time_cost,
        accounts.PRODUCTION_ARGON2.memory_cost,
        accounts.PRODUCTION_ARGON2.parallelism,
    ) == (3, 65_536, 4)


def test_an_app_without_the_setting_hashes_with_production_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "k",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.sqlite3'}",
            "CONTENT_DIR": str(DATA_CONTENT),
            "CONTENT_REFRESH_SECONDS": 0,
        }
    )
    assert accounts.argon2_parameters() == accounts.PRODUCTION_ARGON2
    assert accounts.hash_password(PASSWORD).startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_the_tests_cheap_setting_applies_and_a_production_hash_still_verifies(tmp_path, monkeypatch):
    production_hash = PasswordHasher.from_parameters(accounts.PRODUCTION_ARGON2).hash(PASSWORD)
    make_app(f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path, monkeypatch)
    assert accounts.argon2_parameters() == CHEAP_ARGON2
    assert accounts.hash_password(PASSWORD).startswith("$argon2id$v=19$m=8,t=1,p=1$")
    person = User(password_hash=production_hash)
    assert accounts.password_matches(person, PASSWORD) and not accounts.password_matches(person, "wrong " + PASSWORD)
