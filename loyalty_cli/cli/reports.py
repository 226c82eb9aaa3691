"""Reports: balance, history, tiers, report, expiring, lapsed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from loyalty_cli.cli.app import (
    _history_cols,
    _plural,
    as_of_option,
    cli,
    cli_ledger,
    examples,
    format_option,
    ledger_options,
)
from loyalty_cli.cli.render import Col, View, bar, emit_result

if TYPE_CHECKING:
    from decimal import Decimal

    from loyalty_cli.api.reports import Report, StoreReport, StoresReport, Tiers

# ---------------------------------------------------------------------------
# reports: balance, history, tiers
# ---------------------------------------------------------------------------


@cli.command()
@click.argument("member", nargs=-1)
@click.option("--store", metavar="STORE", help="Every member who bought at this store (points earned anywhere).")
@as_of_option
@format_option
@ledger_options
@examples("loyalty balance", "loyalty balance anna bob --format json",
          "loyalty balance --as-of 2026-06-30 --format csv", "loyalty balance --store Kesklinn")
def balance(member, store, as_of, fmt, config, db):
    """Points and tier of the named members, or of every member."""
    with cli_ledger(config, db) as ledger:
        r = ledger.balances(*member, as_of=as_of, store=store)
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("points", "Points", "right"),
            Col("tier", "Tier")]
    emit_result(fmt, r, lambda rows: [View("Balances", cols, rows, empty="no members")])


@cli.command()
@click.argument("member")
@click.option("--since", metavar="DATE", help="Only entries from this date on (the running balance still counts all).")
@as_of_option
@format_option
@ledger_options
@examples("loyalty history anna", "loyalty history anna --since 2026-01-01 --format csv")
def history(member, since, as_of, fmt, config, db):
    """A member's ledger entries, oldest first, with the running balance."""
    with cli_ledger(config, db) as ledger:
        r = ledger.history(member, since=since, as_of=as_of)
    emit_result(fmt, r, lambda rows: [View("History", _history_cols(), rows, empty="no entries")])


@cli.command()
@as_of_option
@format_option
@ledger_options
@examples("loyalty tiers", "loyalty tiers --as-of 2026-12-31 --format json")
def tiers(as_of, fmt, config, db):
    """Tier report: members and qualifying total per tier, with a bar each,
    and the members closest to their next tier."""
    with cli_ledger(config, db) as ledger:
        r = ledger.tiers(as_of=as_of)
    emit_result(fmt, r, lambda doc: _tiers_views(r, doc))


def _tiers_views(r: Tiers, doc: dict) -> list[View]:
    """The tier table (the CSV) with a bar per tier, and the closest to their next tier."""
    spend = r.basis == "spend"
    unit = r.currency if spend else "points"
    total_label = "Spend" if spend else "Points"
    largest = max((t.members for t in r.tiers), default=0)
    levels = [{**t, "bar": bar(t["members"], largest), "share": f"{t['share_percent']}%"} for t in doc["tiers"]]
    return [
        View(f"Tiers as of {r.as_of:%Y-%m-%d} ({_plural(r.members, 'member')}; {r.basis}, {r.window})",
             [Col("tier", "Tier"), Col("min", f"From ({unit})", "right"), Col("members", "Members", "right"),
              Col("share", "Share", "right"), Col("total", f"{total_label} ({unit})", "right"), Col("bar", "", drop=1)],
             levels),
        View("Closest to the next tier", [Col("member", "Member"), Col("name", "Name", wrap=True), Col("tier", "Tier"),
                                          Col("next_tier", "Next"), Col("to_next_tier", f"To go ({unit})", "right")],
             doc["closest"], empty="nobody below the top tier"),
    ]


# ---------------------------------------------------------------------------
# programme figures: report, expiring, lapsed
# ---------------------------------------------------------------------------


def _rate(value) -> str:
    """A rate (an exact Decimal) as a percentage with one decimal, half-up."""
    from decimal import ROUND_HALF_UP, Decimal

    return "" if value is None else f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


@cli.command()
@click.option("--since", metavar="DATE", help="First day of the period [default: the ledger's beginning].")
@click.option("--until", metavar="DATE", help="Last day of the period [default: --as-of].")
@click.option("--lapsed-days", default=90, show_default=True, type=click.IntRange(1, 36500),
              help="Lapsed: no purchase for this many days.")
@click.option("--shop-sales", metavar="AMOUNT", help="All the shop's sales in the period, for the members' share.")
@click.option("--store", metavar="STORE", help="Only the figures of one store's purchases (see below).")
@click.option("--by", type=click.Choice(["store"]), help="One row per store (with --store: that store's row).")
@as_of_option
@format_option
@ledger_options
@examples("loyalty report", "loyalty report --since 2026-01-01 --until 2026-03-31",
          "loyalty report --since 2026-10-01 --shop-sales 48250.00 --format json",
          "loyalty report --by store --since 2026-10-01", "loyalty report --store Kesklinn --format json")
def report(since, until, lapsed_days, shop_sales, store, by, as_of, fmt, config, db):
    """Programme figures for a period: members (total, new, active), purchases
    (first-time and repeat) and sales, repeat-purchase rate, points issued,
    redeemed and expired, redemption rate, outstanding points and their value
    (the liability), points expiring soon, lapsed members and the top 20% of
    members by spend. Stocks (outstanding, tiers, lapsed) are as of the period's end.

    With --store or --by store, only what belongs to a store's purchases:
    purchases, sales after their refunds (a refund counts at the purchase's
    store), discounts, paid with points, the members who bought there, the
    points its purchases issued and redeemed and its refunds took back, and
    its share of sales. Members, outstanding points, liability, expiry,
    lapses and tiers are the programme's: see `loyalty report` without them."""
    if store is not None or by is not None:
        _store_report(store, by, since, until, lapsed_days, shop_sales, as_of, fmt, config, db)
        return
    with cli_ledger(config, db) as ledger:
        r = ledger.report(since=since, until=until, lapsed_days=lapsed_days, shop_sales=shop_sales, as_of=as_of)
    emit_result(fmt, r, lambda doc: _report_views(r, doc, fmt))


def _store_report(store, by, since, until, lapsed_days, shop_sales, as_of, fmt, config, db) -> None:
    """`report --store S` (one store's figures and months) or `report --by store` (a row per store)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    for name, given in (("--shop-sales", shop_sales is not None),
                        ("--lapsed-days", ctx.get_parameter_source("lapsed_days") is ParameterSource.COMMANDLINE)):
        if given:
            raise click.UsageError(f"{name} goes with the programme's report, not with --store or --by store")
    with cli_ledger(config, db) as ledger:
        if by is None:
            one = ledger.store_report(store, since=since, until=until, as_of=as_of)
            emit_result(fmt, one, lambda doc: _one_store_views(one, doc, fmt))
            return
        rows = ledger.report_by_store(since=since, until=until, as_of=as_of, store=store)
    emit_result(fmt, rows, lambda doc: [View(f"Stores: {_period(rows.since, rows.until)}", _store_cols(rows.currency),
                                             _store_rows(rows, doc, fmt), empty="no purchase at any store")])


def _period(since, until) -> str:
    return (f"{since:%Y-%m-%d}" if since else "the beginning") + f" to {until:%Y-%m-%d}"


def _store_cols(cur: str) -> list[Col]:
    return [Col("store", "Store", wrap=True), Col("purchases", "Purchases", "right"),
            Col("sales", f"Sales ({cur})", "right"), Col("share", "Share", "right"),
            Col("active_members", "Members", "right", drop=2), Col("repeat_members", "Repeat", "right", drop=3),
            Col("discounts", "Discounts", "right", drop=4), Col("points_issued", "Points issued", "right", drop=1),
            Col("points_redeemed", "Redeemed", "right", drop=5),
            Col("points_taken_back", "Taken back", "right", drop=6)]


def _store_rows(rows: StoresReport, doc: list[dict], fmt: str) -> list[dict]:
    """A table names the purchases without a store "(none)"; CSV leaves the cell empty, as JSON says null."""
    if fmt == "csv":
        return [{**x, "share": x["sales_share"]} for x in doc]
    return [{**x, "store": "(none)" if x["store"] is None else x["store"], "share": _rate(row.sales_share)}
            for row, x in zip(rows, doc, strict=True)]


def _one_store_views(r: StoreReport, doc: dict, fmt: str) -> list[View]:
    """CSV: the figures one per row; a table: in words, and the store's months with bars."""
    if fmt == "csv":
        keys = [k for k, v in doc.items() if not isinstance(v, (list, dict))]
        return [View("", [Col("figure", ""), Col("value", "")], [{"figure": k, "value": getattr(r, k)} for k in keys])]
    cur = r.currency
    units = [_minor(x.sales) for x in r.months]
    top_sales = max(units, default=0)
    lines = [
        ("purchases", r.purchases),
        ("sales", f"{r.sales} {cur} (after refunds; discounts {r.discounts}, paid with points {r.paid_with_points})"),
        ("share of sales", _rate(r.sales_share) or "n/a"),
        ("members who bought", f"{r.active_members} ({r.repeat_members} twice or more: "
                               f"{_rate(r.repeat_rate) or 'n/a'})"),
        ("points issued", f"{r.points_issued} (earned, promo and referral points of its purchases)"),
        ("points redeemed", f"{r.points_redeemed} (paying for its purchases)"),
        ("points taken back by refunds", r.points_taken_back),
        ("programme-wide", "members, outstanding points, liability, expiry, lapses, tiers: `loyalty report`"),
    ]
    return [
        View(f"{r.programme}, store {r.store}: {_period(r.since, r.until)}", [Col("field", "Field"),
             Col("value", "Value")], [{"field": k, "value": v} for k, v in lines], kv=True),
        View("Sales by month", [Col("month", "Month"), Col("purchases", "Purchases", "right"),
                                Col("sales", f"Sales ({cur})", "right"), Col("bar", "", drop=1)],
             [{**x, "bar": bar(u, top_sales)} for x, u in zip(doc["months"], units, strict=True)],
             empty="no sales in the period"),
    ]


def _report_views(r: Report, doc: dict, fmt: str) -> list[View]:
    """CSV: every figure that is not a list, one per row (as the result holds
    it: a period's ends as days); a table: the figures in words, the tier mix,
    sales by month, points issued vs redeemed by month, with bars."""
    if fmt == "csv":
        keys = [k for k, v in doc.items() if not isinstance(v, (list, dict))]
        return [View("", [Col("figure", ""), Col("value", "")], [{"figure": k, "value": getattr(r, k)} for k in keys])]
    cur = r.currency
    period = (f"{r.since:%Y-%m-%d}" if r.since else "the beginning") + f" to {r.until:%Y-%m-%d}"
    most = max((t.members for t in r.tiers), default=0)
    units = [_minor(x.sales) for x in r.months]  # bars scale by whole minor units, as the figures are kept
    top_sales = max(units, default=0)
    top_points = max((max(x.points_issued, x.points_redeemed) for x in r.months), default=0)
    return [
        View(f"{r.programme}: {period}", [Col("field", "Field"), Col("value", "Value")], _report_figures(r), kv=True),
        View("Tier mix", [Col("tier", "Tier"), Col("members", "Members", "right"), Col("bar", "", drop=1)],
             [{**t, "bar": bar(t["members"], most)} for t in doc["tiers"]]),
        View("Sales by month", [Col("month", "Month"), Col("purchases", "Purchases", "right"),
                                Col("sales", f"Sales ({cur})", "right"), Col("bar", "", drop=1)],
             [{**x, "bar": bar(u, top_sales)} for x, u in zip(doc["months"], units, strict=True)],
             empty="no sales in the period"),
        View("Points issued vs redeemed", [Col("month", "Month"), Col("points_issued", "Issued", "right"),
                                           Col("issued_bar", "", drop=1),
                                           Col("points_redeemed", "Redeemed", "right"),
                                           Col("redeemed_bar", "", drop=1)],
             [{**x, "issued_bar": bar(x["points_issued"], top_points),
               "redeemed_bar": bar(x["points_redeemed"], top_points)} for x in doc["months"]],
             empty="no points moved in the period"),
    ]


def _minor(amount: Decimal) -> int:
    """An amount of the result (exactly the currency's places) in minor units."""
    exponent = amount.as_tuple().exponent
    return int(amount.scaleb(-exponent)) if isinstance(exponent, int) else 0


def _report_figures(r: Report) -> list[dict]:
    """The report's figures as field / value lines, in words."""
    cur = r.currency
    rows: list[tuple[str, object]] = [
        ("members", f"{r.members} ({r.new_members} new, {r.active_members} active in the period)"),
        ("purchases", f"{r.purchases} ({r.first_time_purchases} first-time, {r.repeat_purchases} repeat)"),
        ("sales", f"{r.sales} {cur} (after refunds; discounts {r.discounts}, paid with points {r.paid_with_points})"),
        ("repeat-purchase rate", f"{_rate(r.repeat_rate) or 'n/a'} ({r.repeat_members} of "
                                 f"{r.active_members} active members bought twice or more)"),
    ]
    if r.shop_sales is not None:
        rows.append(("members' share of sales", f"{_rate(r.member_share)} of {r.shop_sales} {cur}"))
    rows += [
        ("points issued", r.points_issued), ("points redeemed", r.points_redeemed),
        ("points expired", r.points_expired), ("points taken back by refunds", r.points_taken_back),
        ("points adjusted", r.points_adjusted),
        ("redemption rate", _rate(r.redemption_rate) or "n/a"),
        ("outstanding points", f"{r.outstanding_points} (worth {r.liability} {cur}: the liability)"),
        ("expiring soon", f"{r.expiring_points} points of {_plural(r.expiring_members, 'member')} "
                          f"within {r.warn_days} days"),
        ("lapsed", f"{_plural(r.lapsed_members, 'member')} with no purchase for {r.lapsed_days} days"),
        (f"top {r.top_percent}%", f"{_plural(r.top_members, 'member')} bought {r.top_sales} {cur}"
                                  + (f", {_rate(r.top_share)} of sales" if r.top_share is not None else "")),
    ]
    return [{"field": k, "value": v} for k, v in rows]


def marketing_only_option(f):
    return click.option("--marketing-only", is_flag=True,
                        help="Only members who consented to marketing.")(f)


@cli.command()
@click.option("--within", metavar="DAYS", type=click.IntRange(0, 36500),
              help="Points that expire within this many days [default: the programme's warn_days].")
@marketing_only_option
@as_of_option
@format_option
@ledger_options
@examples("loyalty expiring", "loyalty expiring --within 14 --format csv > reminders.csv")
def expiring(within, marketing_only, as_of, fmt, config, db):
    """Members with points about to expire, soonest first: the first day
    some are gone, how many go that day, the last day to spend them, and all
    that expire within the window (for a reminder mail merge with --format csv)."""
    with cli_ledger(config, db) as ledger:
        r = ledger.expiring(within=within, marketing_only=marketing_only, as_of=as_of)
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("email", "E-mail", drop=1),
            Col("phone", "Phone", drop=4), Col("points_expiring", "Expiring", "right"),
            Col("expires", "Gone on", drop=2),
            Col("last_day", "Last day"), Col("total_expiring", "In window", "right", drop=3),
            Col("points", "Balance", "right", drop=4), Col("marketing", "Marketing", drop=5)]
    emit_result(fmt, r, lambda rows: [View(f"Points expiring within {_plural(r.within, 'day')}", cols, rows,
                                           empty="none")])


@cli.command()
@click.option("--lapsed-days", default=90, show_default=True, type=click.IntRange(1, 36500),
              help="No purchase for this many days.")
@marketing_only_option
@as_of_option
@format_option
@ledger_options
@examples("loyalty lapsed", "loyalty lapsed --lapsed-days 60 --marketing-only --format csv > win-back.csv")
def lapsed(lapsed_days, marketing_only, as_of, fmt, config, db):
    """Members with no purchase for --lapsed-days (or, if they never bought,
    enrolled that long ago), the biggest spenders first: a win-back list."""
    with cli_ledger(config, db) as ledger:
        r = ledger.lapsed(lapsed_days=lapsed_days, marketing_only=marketing_only, as_of=as_of)
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("email", "E-mail", drop=1),
            Col("phone", "Phone", drop=5), Col("last_purchase", "Last purchase"),
            Col("days_since", "Days", "right", drop=3),
            Col("purchases", "Purchases", "right", drop=4), Col("spend", "Spend", "right", drop=2),
            Col("points", "Points", "right", drop=6), Col("marketing", "Marketing", drop=7)]
    emit_result(fmt, r, lambda rows: [View(f"Lapsed: no purchase for {r.lapsed_days} days", cols, rows,
                                           empty="none")])
