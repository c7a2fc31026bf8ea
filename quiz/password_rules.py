"""What makes a new password too easy to guess, beyond its length (no Flask, no network).

``problem(password, email=..., name=...)`` says what is wrong with a password in words for the
person choosing it, or None. ``accounts.check_password_rule`` calls it wherever a password is
set: choosing your own, an admin setting one, a link from an invitation or a reset, the command
line. It refuses:

- one of the 20,000 passwords seen most often in breaches (``data/common-passwords.txt.gz``:
  Royce Williams's list as Django ships it, lowercased; data/README.md says where it comes from),
  in any mix of capitals, and such a password with digits or symbols added before or after it
  (``password1234``, ``Summer2024!``);
- a password made of a few characters (``aaaaaaaaaaaa``), of one part repeated
  (``abcabcabcabc``), or a run along the keyboard or the alphabet (``qwertyuiopas``,
  ``123456789012``);
- a password containing the person's email address, the part before its ``@``, their full name
  or one of their names of four letters or more, in any mix of capitals.

The list is read once per process (about 20,000 lines, 2 ms) and held as a frozenset.
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from importlib import resources

#: Fewer different characters than this and a password is refused, whatever its length.
MIN_DIFFERENT_CHARACTERS = 5
#: A name shorter than this is not looked for (``Li``, ``Ann``: they turn up inside words).
MIN_NAME_PART = 4
#: Runs along a keyboard or an alphabet: a password that is a piece of one (either way) is refused.
_RUNS = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "!@#$%^&*()_+",
)
_AFFIXES = re.compile(r"^[\d\W_]*(.*?)[\d\W_]*$")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common and breached passwords, lowercased."""
    data = resources.files("quiz").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode().splitlines() if line.strip())


def _is_common(lowered: str) -> bool:
    common = common_passwords()
    if lowered in common:
        return True
    core = _AFFIXES.match(lowered)
    stripped = core.group(1) if core else lowered
    return bool(stripped) and stripped != lowered and stripped in common


def _repeats_a_part(password: str) -> bool:
    n = len(password)
    return any(n % size == 0 and password[:size] * (n // size) == password for size in range(1, n // 2 + 1))


def _is_a_run(lowered: str) -> bool:
    return any(lowered in run or lowered in run[::-1] for run in _RUNS)


def _squashed(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def problem(password: str, *, email: str | None = None, name: str | None = None) -> str | None:
    """What is wrong with ``password`` (words that finish "the password ..."), or None."""
    lowered = password.lower()
    if _is_common(lowered):
        return (
            "is one of the passwords most often tried by attackers (it is on a list of common and breached passwords)"
        )
    if len(set(lowered)) < MIN_DIFFERENT_CHARACTERS:
        return f"needs at least {MIN_DIFFERENT_CHARACTERS} different characters"
    if _repeats_a_part(lowered) or _is_a_run(lowered):
        return "is a pattern that is easy to guess (a part repeated, or a run of keys or letters)"
    squashed = _squashed(password)
    if email:
        address = email.strip().lower()
        local = address.partition("@")[0]
        if address in lowered or (len(_squashed(local)) >= MIN_NAME_PART - 1 and _squashed(local) in squashed):
            return "may not contain your email address"
    if name:
        parts = [_squashed(part) for part in name.split()]
        whole = "".join(parts)
        if (len(whole) >= MIN_NAME_PART and whole in squashed) or any(
            len(part) >= MIN_NAME_PART and part in squashed for part in parts
        ):
            return "may not contain your name"
    return None
