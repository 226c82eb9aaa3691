"""The time-driven rules: expire, birthdays, daily."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from loyalty_cli.cli.app import _plural, _shared, cli, cli_ledger, examples, format_option, ledger_options
from loyalty_cli.cli.render import Col, View, echo, emit_result

if TYPE_CHECKING:
    from loyalty_cli.api.daily import DailyRun

# ---------------------------------------------------------------------------
# time: expire, birthdays, daily
# ---------------------------------------------------------------------------


SHOWN = 20  # rows of a long list a summary table shows


def run_as_of_option(f):
    return click.option("--as-of", "as_of", metavar="DATE", callback=_shared,
                        help="Run as of this date or date-time: a past day means its end; "
                             "not in the future [default: now].")(f)


def dry_run_option(f):
    return click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")(f)


def _said(dry_run: bool, done: str, would: str) -> str:
    return would if dry_run else done


@cli.command()
@run_as_of_option
@dry_run_option
@format_option
@ledger_options
@examples("loyalty expire", "loyalty expire --dry-run", "loyalty expire --as-of 2026-06-30 --format json")
def expire(as_of, dry_run, fmt, config, db):
    """Post the expiry of points whose time has come: points earned on day D
    with [expiry] days = N can be spent up to day D+N-1 and are gone on day
    D+N. Each expiry is dated on its own day, so a late run writes what
    daily runs would have; running it again writes nothing."""
    with cli_ledger(config, db) as ledger:
        r = ledger.expire(as_of=as_of, dry_run=dry_run)
    cols = [Col("member", "Member"), Col("date", "Expired on"), Col("points", "Points", "right")]
    emit_result(fmt, r, lambda doc: [View("Expired" + (" (dry run)" if dry_run else ""), cols, doc["expired"],
                                          empty="nothing to expire")])
    if fmt == "table":
        echo(f"{_said(dry_run, 'Expired', 'Would expire')} {_plural(r.points, 'point')} of "
             f"{_plural(r.members, 'member')} as of {r.as_of:%Y-%m-%d}.", err=True)


@cli.command()
@run_as_of_option
@dry_run_option
@format_option
@ledger_options
@examples("loyalty birthdays", "loyalty birthdays --dry-run --format csv")
def birthdays(as_of, dry_run, fmt, config, db):
    """Credit the birthday bonus ([earning] birthday_bonus) to members whose
    birthday has come: once per member per year, dated on the birthday, by a
    run on the day or up to 30 days later. 29 February counts as 28 February
    in other years. Running it again writes nothing."""
    with cli_ledger(config, db) as ledger:
        r = ledger.birthdays(as_of=as_of, dry_run=dry_run)
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("birthday", "Birthday"),
            Col("points", "Points", "right")]
    emit_result(fmt, r, lambda doc: [View("Birthday bonuses" + (" (dry run)" if dry_run else ""), cols,
                                          doc["granted"], empty="no birthday bonuses due")])
    if fmt == "table":
        if not r.bonus:
            echo("The programme has no birthday bonus ([earning] birthday_bonus = 0).", err=True)
        else:
            echo(f"{_said(dry_run, 'Credited', 'Would credit')} {_plural(r.points, 'point')} to "
                 f"{_plural(r.members, 'member')}.", err=True)


@cli.command()
@run_as_of_option
@dry_run_option
@format_option
@ledger_options
@examples("loyalty daily", "loyalty daily --as-of 2026-06-30 --format json",
          "15 3 * * *  cd /srv/shop && loyalty daily >> daily.log 2>&1   # crontab")
def daily(as_of, dry_run, fmt, config, db):
    """Everything time-driven, in one transaction, for cron: birthday bonuses,
    expiry, pending points that became spendable, and the tier review (tier
    changes that time alone brought, e.g. a rolling window letting go of a
    purchase, recorded on the day they happened). Idempotent: a second run
    writes nothing; a run after missed days catches up as if none were
    missed, but pays a birthday bonus at most 30 days late (as `birthdays`)."""
    with cli_ledger(config, db) as ledger:
        r = ledger.daily(as_of=as_of, dry_run=dry_run)
    emit_result(fmt, r, lambda doc: _daily_views(r, doc))


def _daily_views(r: DailyRun, doc: dict) -> list[View]:
    """The run's summary (the CSV), and its tier changes (the first SHOWN)."""
    b, e = r.birthdays, r.expired
    summary: list[dict[str, Any]] = [
        {"field": "birthday bonuses", "value": f"{_plural(b.points, 'point')} to {_plural(b.members, 'member')}"},
        {"field": "expired", "value": f"{_plural(e.points, 'point')} of {_plural(e.members, 'member')}"},
        {"field": "became spendable", "value": _plural(r.released_points, "pending point")},
        {"field": "tier changes", "value": str(len(r.tier_changes))},
        {"field": "previous run", "value": r.previous_run or "none"},
    ]
    changes = doc["tier_changes"]
    return [View(f"Daily run as of {r.as_of:%Y-%m-%d %H:%M}" + (" (dry run)" if r.dry_run else ""),
                 [Col("field", "Field"), Col("value", "Value")], summary, kv=True),
            View("Tier changes", [Col("member", "Member"), Col("date", "On"), Col("from", "From"), Col("to", "To")],
                 changes[:SHOWN], empty="none",
                 caption=f"... and {len(changes) - SHOWN} more (--format json lists them all)"
                 if len(changes) > SHOWN else None)]
