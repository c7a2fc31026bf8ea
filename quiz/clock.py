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
