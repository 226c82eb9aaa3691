"""Dates and times in the programme's timezone.

Everything stored is a naive local date-time in the programme's timezone, at
whole seconds; an input with an explicit offset is converted into it (and must
still fall within 1900-9998 after the conversion). A local time that the
clocks skipped (a daylight-saving gap) is refused; one they passed twice (a
fold) means its first occurrence, as Python's fold=0 does.
A bare date given to ``--date`` means the start of that day; a bare date given
to ``--as-of`` means the end of it (everything recorded that day counts).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from loyalty_cli.errors import LoyaltyError

# Dates outside this range are refused: far beyond any shop's records, and far
# enough from datetime's limits that windows and offsets never overflow.
FIRST_YEAR, LAST_YEAR = 1900, 9998

_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)? ?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)


@lru_cache(maxsize=None)
def zone(name: str):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LoyaltyError(f"unknown timezone {name!r} (expected an IANA name such as Europe/Tallinn)") from None


def now(tz: str) -> datetime:
    return datetime.now(zone(tz)).replace(tzinfo=None, microsecond=0)


def parse_datetime(text: str, tz: str, what: str, *, end_of_day: bool = False) -> datetime:
    """Parse an ISO date or date-time into a naive local datetime."""
    s = str(text).strip()
    if not _ISO.fullmatch(s):
        raise LoyaltyError(f"{what} {text!r} is not an ISO date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)")
    try:
        if len(s) == 10:
            d = date.fromisoformat(s)
            _in_range(d, text, what)
            return datetime.combine(d, time(23, 59, 59) if end_of_day else time(0, 0))
        # "2026-02-01 10:00:00 +0200", as web shops write it: the offset joins the time
        dt = datetime.fromisoformat(re.sub(r" (?=[+-][0-9]{2}:?[0-9]{2}$)", "", s).replace("Z", "+00:00"))
    except ValueError:
        raise LoyaltyError(f"{what} {text!r} is not a valid date") from None
    return localise(dt, tz, text, what)


def localise(dt: datetime, tz: str, text: str, what: str, *, check_gap: bool = True) -> datetime:
    """A parsed date-time as the naive local time it is stored as: one with an
    offset converted into the programme's timezone, a local one checked to
    exist there. Either must fall within FIRST_YEAR..LAST_YEAR."""
    _in_range(dt.date(), text, what)
    if dt.tzinfo is not None:
        try:
            dt = dt.astimezone(zone(tz)).replace(tzinfo=None)
        except OverflowError:
            raise LoyaltyError(f"{what} {text!r} is out of range") from None
        _in_range(dt.date(), text, what, converted=True)
    elif check_gap:
        _exists(dt, tz, text, what)
    return dt.replace(microsecond=0)


def from_object(value: date, tz: str, what: str, *, end_of_day: bool = False) -> datetime:
    """A `date` or `datetime` object (the library's callers pass them) as the
    naive local datetime it is stored as, checked as its ISO string would be
    by `parse_datetime`: 1900-9998, before and after a conversion into the
    programme's timezone, and no local time inside a daylight-saving gap.
    The refusals are the string's, with the value shown as ISO."""
    text = value.isoformat()
    if isinstance(value, datetime):
        return localise(value, tz, text, what)
    _in_range(value, text, what)
    return datetime.combine(value, time(23, 59, 59) if end_of_day else time(0, 0))


def check_day(value: date, what: str) -> date:
    """A calendar day given as an object (a datetime's day, for a datetime):
    within 1900-9998, as `parse_date` holds a typed one."""
    day = value.date() if isinstance(value, datetime) else value
    _in_range(day, day.isoformat(), what)
    return day


def _exists(dt: datetime, tz: str, text: str, what: str) -> None:
    """Refuse a local time inside a daylight-saving gap, naming the jump."""
    from datetime import timezone as _tz

    z = zone(tz)
    before, after = dt.replace(tzinfo=z, fold=0), dt.replace(tzinfo=z, fold=1)
    if before.utcoffset() == after.utcoffset():
        return  # a gap has two offsets; a fold too, but its times exist
    # read with the offset after the jump (fold=1) a gap's time falls before
    # the jump, read with the one before (fold=0) after it; a fold's the other way
    early, late = after.astimezone(_tz.utc), before.astimezone(_tz.utc)
    if early >= late:
        return  # a fold: both readings exist; the first (fold=0) is the one meant
    while late - early > timedelta(seconds=1):  # find the moment of the jump, to say it
        mid = early + (late - early) / 2
        if mid.astimezone(z).utcoffset() == before.utcoffset():
            early = mid
        else:
            late = mid
    offset = before.utcoffset()
    assert offset is not None  # `before` has a zone
    old = (late + offset).replace(tzinfo=None)
    new = late.astimezone(z).replace(tzinfo=None)
    raise LoyaltyError(f"{what} {text!r} does not exist in {tz}: clocks moved forward from "
                       f"{old:%H:%M} to {new:%H:%M} on {new:%Y-%m-%d}")


def _in_range(d: date, text: str, what: str, converted: bool = False) -> None:
    there = " in the programme's timezone" if converted else ""
    if d.year < FIRST_YEAR:
        raise LoyaltyError(f"{what} {text!r} is before {FIRST_YEAR}{there}")
    if d.year > LAST_YEAR:
        raise LoyaltyError(f"{what} {text!r} is after {LAST_YEAR}{there}")


def parse_date(text: str, what: str) -> date:
    s = str(text).strip()
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", s):
        raise LoyaltyError(f"{what} {text!r} is not an ISO date (YYYY-MM-DD)")
    try:
        d = date.fromisoformat(s)
    except ValueError:
        raise LoyaltyError(f"{what} {text!r} is not a valid date") from None
    _in_range(d, text, what)
    return d


def end_of(d: date) -> datetime:
    return datetime.combine(d, time(23, 59, 59))


def days_after(d: date, days: int) -> date:
    """d + days, stopping at the last representable day (a window of up to
    MAX_DAYS after a date near year 9998 must not overflow)."""
    return d + timedelta(days=days) if (date.max - d).days > days else date.max
