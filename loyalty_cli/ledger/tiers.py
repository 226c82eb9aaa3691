"""The one tier review: what time alone changed.

A member's tier can fall with no write of theirs, when a tier window lets go
of a purchase (or earning): on 1 January for a calendar-year window, at
midnight 365 days after its day for a rolling one. `time_changes` finds those
changes, each on its own moment, from a member's qualifying total through time
(`rules.TierTracker`); `review_members` records them in the tier log. Writes
(`operations._record_tier`), the daily run (`daily.review_tiers`) and the
import's fast path (`importer._apply_fast`, in memory, then in bulk) all go
through `time_changes`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from loyalty_cli.domain import rules
from loyalty_cli.domain.config import Programme
from loyalty_cli.ledger.posting import record
from loyalty_cli.queries.standing import last_daily_run, review_start, tier_events
from loyalty_cli.store.models import tier_changes


def time_changes(tracker: rules.TierTracker, since: datetime | None, until: datetime,
                 current: str) -> list[tuple[datetime, str, str]]:
    """The tier changes time alone caused in (since, until], as (moment, from,
    to), for a member whose log says `current` at `since`: each moment a
    window let go of something and the tier then differs from the one before.
    Pure: `tracker` holds the member's history."""
    out = []
    for moment in tracker.moments(since, until):
        name = tracker.level(moment).name
        if name != current:
            out.append((moment, current, name))
            current = name
    return out


def review_members(conn: Connection, prog: Programme, member_ids: list[str],
                   until: datetime) -> list[tuple[str, datetime, str, str]]:
    """Record the tier changes that time alone brought each member since
    their log last looked (after their last recorded change by `until`, and
    after the last daily run), each at its moment, so a write never compares
    with a stale tier. Returns them as (member, moment, from, to)."""
    if not prog.downgrade or prog.tier_window == "lifetime":
        return []
    mark = last_daily_run(conn)
    events = tier_events(conn, prog, until, member_ids)
    found: list[tuple[str, datetime, str, str]] = []
    for member_id in member_ids:
        last = conn.execute(
            select(tier_changes.c.at, tier_changes.c.to_tier).where(tier_changes.c.member_id == member_id,
                                                                    tier_changes.c.at <= until)
            .order_by(tier_changes.c.at.desc(), tier_changes.c.id.desc()).limit(1)).first()
        tracker = rules.TierTracker(prog, events.get(member_id, []))
        changes = time_changes(tracker, review_start(last.at if last else None, mark), until,
                               last.to_tier if last else prog.levels[0].name)
        if changes:
            record(conn, tier_changes, [{"member_id": member_id, "at": at, "from_tier": before, "to_tier": after}
                                        for at, before, after in changes])
            found += [(member_id, at, before, after) for at, before, after in changes]
    return found
