"""Counted words: "1 person", "2 people", in every layer, through one mechanism.

Every phrase with a number in it, on a page, in a flash, an email or a command's output, is
written once as gettext's ``ngettext(singular, plural, num)``: the singular and the plural in
full, each with its number (``%(num)d``, or ``%(num)s`` for a number already formatted, such as
``"{:,}".format(n)``), and any other named placeholders (``%(name)s``)::

    ngettext("%(num)d person", "%(num)d people", n)
    ngettext("Assigned %(title)s to %(num)d person", "Assigned %(title)s to %(num)d people", n, title=t)

Which form a count takes comes from a translations provider: English as written by default
(``babel.support.NullTranslations``: the singular for 1, the plural otherwise); the web layer
registers Flask-Babel's catalog at start (``use_translations``), so pages, emails, the core and
the command line read from the same catalog, and a translation later is a catalog, not a code
change. Templates call Jinja's ``ngettext`` (Flask-Babel installs it, newstyle: it formats and
escapes). The name ``ngettext`` is what ``pybabel extract`` looks for, so keep it; and never
build a plural by hand (an "s" added unless the count is 1, or "(s)" after a noun):
``tests/test_words.py`` looks for both.

This module imports nothing from ``quiz``: every layer, the content core too, may import it
(docs/architecture.md, "Layers").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from babel.support import NullTranslations


class Translations(Protocol):
    def ngettext(self, singular: str, plural: str, n: int) -> str: ...


_ENGLISH = NullTranslations()


def english() -> Translations:
    return _ENGLISH


_provider: Callable[[], Translations] = english


def use_translations(provider: Callable[[], Translations] | None) -> None:
    """Where the forms come from from now on: a function returning the translations to use at
    the time of the call (Flask-Babel's ``get_translations``); None: English as written."""
    global _provider
    _provider = provider or english


def ngettext(singular: str, plural: str, num: int, /, **variables: Any) -> str:
    """(The three first arguments are positional only, so that a caller may pass ``num=`` as a
    variable.) The form of a counted phrase for ``num``, formatted: ``num`` fills ``%(num)d`` (or
    ``%(num)s``, if the caller passes ``num="{:,}".format(n)`` as a variable), the other
    variables their own placeholders."""
    form = _provider().ngettext(singular, plural, num)
    variables.setdefault("num", num)
    return form % variables
