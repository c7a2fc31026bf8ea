"""What day it is, and the one rule for a "today" that work is done for: never a day that has
not happened.

The daily jobs take a day (``assignments refresh --today``, ``reminders send --today``) so that
a day cron missed can be run afterwards. A day still to come is refused: marking training
overdue, writing evidence and sending reminders "as of" next month would put on record what
has not happened. Every core function that writes for a given day (assignments.refresh,
reminders.send_all, chain_check.send, triggers.record, roster.apply...) calls
``check_not_future`` first, so no caller, command or page, can get past it.

Which day is "today" depends on where one is. The rule never refuses a date that is today
somewhere on Earth: a day is accepted up to the latest date in effect anywhere right now, which
is UTC+14 (Kiribati's Line Islands, where each date begins first). That is the UTC date, or the
day after it from 10:00 UTC on. The evidence itself is stamped in UTC (evidence.recorded_at),
always with the real time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .models import as_utc

#: The furthest ahead of UTC any place on Earth keeps its clocks (UTC+14).
AHEAD_OF_UTC = timedelta(hours=14)


def real_today() -> date:
    """The real date in UTC, the time zone the evidence is recorded in."""
    return datetime.now(UTC).date()


def latest_today(now: datetime | None = None) -> date:
    """The latest date that is today somewhere on Earth at ``now`` (default: right now), the
    date at UTC+14."""
    return ((now or datetime.now(UTC)).astimezone(UTC) + AHEAD_OF_UTC).date()


def check_not_future(day: date) -> date:
    """``day`` itself if it has begun somewhere on Earth; else ValueError, naming the day and
    the real date. A missed day may be re-run; a day that has not happened may not."""
    latest = latest_today()
    if day > latest:
        utc = real_today()
        ahead = "" if latest == utc else f", {latest.isoformat()} at the latest anywhere on Earth"
        raise ValueError(
            f"{day.isoformat()} has not happened yet: today is {utc.isoformat()} (UTC){ahead}; "
            "a missed day can be run again, a day to come cannot"
        )
    return day


# --- the organization's clock ------------------------------------------------------------------
#
# The database and the evidence keep UTC. People read their own time: pages, certificates,
# emails and audit packages show dates and times in the organization's time zone (the TIME_ZONE
# setting, an IANA name such as America/Chicago), and "today" (what is due, what is overdue) is
# the organization's today.


def zone(name: str) -> ZoneInfo:
    """The time zone named ``name`` (IANA: ``America/Chicago``, ``UTC``); ValueError, saying
    what is wanted, for a name that is not one."""
    try:
        if not name or name != name.strip():
            raise ValueError(name)
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(
            f"TIME_ZONE must be a time zone name such as America/New_York, America/Chicago or UTC: not {name!r}"
        ) from None


_zone = ZoneInfo("UTC")


def use_zone(tz: ZoneInfo) -> None:
    """The organization's time zone from now on. ``create_app`` calls this with the TIME_ZONE
    setting (one process serves one app; a test process builds many, each of which sets it), so
    that the core counts days as the organization does without passing the zone everywhere."""
    global _zone
    _zone = tz


def time_zone() -> ZoneInfo:
    """The organization's time zone (UTC until ``use_zone``)."""
    return _zone


def org_today(now: datetime | None = None) -> date:
    """The organization's today: what is due, what is overdue, and the day a daily job runs for."""
    return today_in(_zone, now)


def org_day(moment: datetime) -> date:
    """The organization's date of a stored time (UTC, or read without a zone and taken as UTC):
    training signed at 20:00 in New York on its due date is on time, though it is the next day
    in UTC."""
    return local(moment, _zone).date()


def today_in(tz: ZoneInfo, now: datetime | None = None) -> date:
    """The date where the organization is, at ``now`` (default: right now)."""
    return (now or datetime.now(UTC)).astimezone(tz).date()


def local(moment: datetime, tz: ZoneInfo) -> datetime:
    """A stored time (UTC; one read without a zone is taken as UTC) in the organization's zone."""
    return as_utc(moment).astimezone(tz)


def local_text(
    moment: datetime | str, tz: ZoneInfo, *, seconds: bool = False, with_utc: bool = False, long: bool = False
) -> str:
    """A stored time (a datetime, or an evidence record's ISO 8601 text) where the organization
    is: ``2026-12-05 09:03 EST``, or with ``long`` ``05 December 2026, 09:03 EST`` (certificates);
    ``with_utc`` adds the UTC time when the zone is not UTC (``2026-12-05 09:03 EST (14:03 UTC)``),
    for what an auditor anywhere reads."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    fmt = "%H:%M:%S" if seconds else "%H:%M"
    here = local(moment, tz)
    text = (
        f"{here:%d %B %Y}, {here.strftime(fmt)} {here.tzname()}"
        if long
        else f"{here:%Y-%m-%d} {here.strftime(fmt)} {here.tzname()}"
    )
    if with_utc and here.tzname() != "UTC":
        utc = here.astimezone(UTC)
        same_day = utc.date() == here.date()
        text += f" ({'' if same_day else f'{utc:%Y-%m-%d} '}{utc.strftime(fmt)} UTC)"
    return text
