"""Reports: balance, history, tiers, report, expiring, lapsed."""

from __future__ import annotations

import click

from loyalty_cli.cli.app import (
    _as_of,
    _history_cols,
    _plural,
    as_of_option,
    cli,
    cli_ledger,
    examples,
    format_option,
    ledger_options,
    ledger_session,
    money,
)
from loyalty_cli.cli.render import Col, View, bar, emit, emit_json, emit_result
from loyalty_cli.domain.dates import parse_datetime
from loyalty_cli.domain.money import parse_amount
from loyalty_cli.errors import LoyaltyError

# ---------------------------------------------------------------------------
# reports: balance, history, tiers
# ---------------------------------------------------------------------------


@cli.command()
@click.argument("member", nargs=-1)
@as_of_option
@format_option
@ledger_options
@examples("loyalty balance", "loyalty balance anna bob --format json",
          "loyalty balance --as-of 2026-06-30 --format csv")
def balance(member, as_of, fmt, config, db):
    """Points and tier of the named members, or of every member."""
    with cli_ledger(config, db) as ledger:
        r = ledger.balances(*member, as_of=as_of)
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
    from loyalty_cli.queries import reports

    with ledger_session(config, db, write=False) as (prog, conn):
        start = parse_datetime(since, prog.timezone, "--since") if since else None
        rows = reports.history(conn, prog, member, _as_of(prog, as_of), since=start)
    doc = [{k: r[k] for k in ("date", "at", "kind", "points", "balance", "order", "note")} for r in rows]
    emit(fmt, doc, [View("History", _history_cols(), rows, empty="no entries")])


@cli.command()
@as_of_option
@format_option
@ledger_options
@examples("loyalty tiers", "loyalty tiers --as-of 2026-12-31 --format json")
def tiers(as_of, fmt, config, db):
    """Tier report: members and qualifying total per tier, with a bar each,
    and the members closest to their next tier."""
    from loyalty_cli.queries import reports

    with ledger_session(config, db, write=False) as (prog, conn):
        r = reports.tiers(conn, prog, _as_of(prog, as_of))
    spend = prog.tier_basis == "spend"
    q = (lambda v: money(prog, v)) if spend else (lambda v: v)
    total_label = "Spend" if spend else "Points"
    largest = max((t["members"] for t in r["tiers"]), default=0)
    levels = [{**t, "min": q(t["min"]), "total": q(t["total"]), "bar": bar(t["members"], largest),
               "share": f"{t['share_percent']}%"} for t in r["tiers"]]
    closest = [{**c, "total": q(c["total"]), "to_next_tier": q(c["to_next_tier"])} for c in r["closest"]]
    doc = {"as_of": r["as_of"], "basis": r["basis"], "window": r["window"], "members": r["members"],
           "tiers": [{k: t[k] for k in ("tier", "min", "members", "total", "share_percent")} for t in levels],
           "closest": closest}
    if fmt == "json":
        emit_json(doc)
        return
    unit = prog.currency.code if spend else "points"
    views = [
        View(f"Tiers as of {r['as_of']:%Y-%m-%d} ({r['members']} member{'' if r['members'] == 1 else 's'}; "
             f"{r['basis']}, {r['window']})",
             [Col("tier", "Tier"), Col("min", f"From ({unit})", "right"), Col("members", "Members", "right"),
              Col("share", "Share", "right"), Col("total", f"{total_label} ({unit})", "right"), Col("bar", "", drop=1)],
             levels),
        View("Closest to the next tier", [Col("member", "Member"), Col("name", "Name", wrap=True), Col("tier", "Tier"),
                                          Col("next_tier", "Next"), Col("to_next_tier", f"To go ({unit})", "right")],
             closest, empty="nobody below the top tier"),
    ]
    emit(fmt, doc, views)


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
@as_of_option
@format_option
@ledger_options
@examples("loyalty report", "loyalty report --since 2026-01-01 --until 2026-03-31",
          "loyalty report --since 2026-10-01 --shop-sales 48250.00 --format json")
def report(since, until, lapsed_days, shop_sales, as_of, fmt, config, db):  # long: its views, in the order they print
    """Programme figures for a period: members (total, new, active), purchases
    (first-time and repeat) and sales, repeat-purchase rate, points issued,
    redeemed and expired, redemption rate, outstanding points and their value
    (the liability), points expiring soon, lapsed members and the top 20% of
    members by spend. Stocks (outstanding, tiers, lapsed) are as of the period's end."""
    from loyalty_cli.queries import figures

    with ledger_session(config, db, write=False) as (prog, conn):
        end = _as_of(prog, as_of)
        if until is not None:
            end = min(end, parse_datetime(until, prog.timezone, "--until", end_of_day=True))
        start = parse_datetime(since, prog.timezone, "--since") if since else None
        if start is not None and start > end:
            raise LoyaltyError(f"--since {since.strip()} is after the end of the period ({end:%Y-%m-%d})")
        total = parse_amount(shop_sales, prog.currency.decimals, "--shop-sales") if shop_sales is not None else None
        r = figures.report(conn, prog, start, end, lapsed_days=lapsed_days, shop_sales=total)
    m = lambda v: money(prog, v)  # noqa: E731
    doc = {**r, "sales": m(r["sales"]), "discounts": m(r["discounts"]), "paid_with_points": m(r["paid_with_points"]),
           "shop_sales": m(r["shop_sales"]), "liability": m(r["liability"]), "top_sales": m(r["top_sales"]),
           "months": [{**x, "sales": m(x["sales"])} for x in r["months"]]}
    if fmt == "json":
        emit_json(doc)
        return
    cur = prog.currency.code
    period = (f"{r['since']:%Y-%m-%d}" if r["since"] else "the beginning") + f" to {r['until']:%Y-%m-%d}"
    rows = [
        ("members", f"{r['members']} ({r['new_members']} new, {r['active_members']} active in the period)"),
        ("purchases", f"{r['purchases']} ({r['first_time_purchases']} first-time, {r['repeat_purchases']} repeat)"),
        ("sales", f"{doc['sales']} {cur} (after refunds; discounts {doc['discounts']}, "
                  f"paid with points {doc['paid_with_points']})"),
        ("repeat-purchase rate", f"{_rate(r['repeat_rate']) or 'n/a'} ({r['repeat_members']} of "
                                 f"{r['active_members']} active members bought twice or more)"),
    ]
    if r["shop_sales"] is not None:
        rows.append(("members' share of sales", f"{_rate(r['member_share'])} of {doc['shop_sales']} {cur}"))
    rows += [
        ("points issued", r["points_issued"]), ("points redeemed", r["points_redeemed"]),
        ("points expired", r["points_expired"]), ("points taken back by refunds", r["points_taken_back"]),
        ("points adjusted", r["points_adjusted"]),
        ("redemption rate", _rate(r["redemption_rate"]) or "n/a"),
        ("outstanding points", f"{r['outstanding_points']} (worth {doc['liability']} {cur}: the liability)"),
        ("expiring soon", f"{r['expiring_points']} points of {_plural(r['expiring_members'], 'member')} "
                          f"within {r['warn_days']} days"),
        ("lapsed", f"{_plural(r['lapsed_members'], 'member')} with no purchase for {r['lapsed_days']} days"),
        (f"top {r['top_percent']}%", f"{_plural(r['top_members'], 'member')} bought {doc['top_sales']} {cur}"
                                     + (f", {_rate(r['top_share'])} of sales" if r["top_share"] is not None else "")),
    ]
    flat = [{"field": k, "value": v} for k, v in rows]
    if fmt == "csv":
        keys = [k for k, v in doc.items() if not isinstance(v, (list, dict))]
        emit("csv", doc, [View("", [Col("figure", ""), Col("value", "")],
                               [{"figure": k, "value": doc[k]} for k in keys])])
        return
    most = max((t["members"] for t in r["tiers"]), default=0)
    top_sales = max((x["sales"] for x in r["months"]), default=0)
    top_points = max((max(x["points_issued"], x["points_redeemed"]) for x in r["months"]), default=0)
    views = [
        View(f"{prog.name}: {period}", [Col("field", "Field"), Col("value", "Value")], flat, kv=True),
        View("Tier mix", [Col("tier", "Tier"), Col("members", "Members", "right"), Col("bar", "", drop=1)],
             [{**t, "bar": bar(t["members"], most)} for t in r["tiers"]]),
        View("Sales by month", [Col("month", "Month"), Col("purchases", "Purchases", "right"),
                                Col("sales", f"Sales ({cur})", "right"), Col("bar", "", drop=1)],
             [{**x, "sales": m(x["sales"]), "bar": bar(x["sales"], top_sales)} for x in r["months"]],
             empty="no sales in the period"),
        View("Points issued vs redeemed", [Col("month", "Month"), Col("points_issued", "Issued", "right"),
                                           Col("issued_bar", "", drop=1),
                                           Col("points_redeemed", "Redeemed", "right"),
                                           Col("redeemed_bar", "", drop=1)],
             [{**x, "issued_bar": bar(x["points_issued"], top_points),
               "redeemed_bar": bar(x["points_redeemed"], top_points)} for x in r["months"]],
             empty="no points moved in the period"),
    ]
    emit("table", doc, views)


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
    from loyalty_cli.queries import figures

    with ledger_session(config, db, write=False) as (prog, conn):
        days = prog.warn_days if within is None else within
        rows = figures.expiring_members(conn, prog, _as_of(prog, as_of), days, marketing_only)
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("email", "E-mail", drop=1),
            Col("phone", "Phone", drop=4), Col("points_expiring", "Expiring", "right"),
            Col("expires", "Gone on", drop=2),
            Col("last_day", "Last day"), Col("total_expiring", "In window", "right", drop=3),
            Col("points", "Balance", "right", drop=4), Col("marketing", "Marketing", drop=5)]
    emit(fmt, rows, [View(f"Points expiring within {_plural(days, 'day')}", cols, rows, empty="none")])


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
    from loyalty_cli.queries import figures

    with ledger_session(config, db, write=False) as (prog, conn):
        rows = figures.lapsed_members(conn, prog, _as_of(prog, as_of), lapsed_days, marketing_only)
    out = [{**r, "spend": money(prog, r["spend"])} for r in rows]
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("email", "E-mail", drop=1),
            Col("phone", "Phone", drop=5), Col("last_purchase", "Last purchase"),
            Col("days_since", "Days", "right", drop=3),
            Col("purchases", "Purchases", "right", drop=4), Col("spend", "Spend", "right", drop=2),
            Col("points", "Points", "right", drop=6), Col("marketing", "Marketing", drop=7)]
    emit(fmt, out, [View(f"Lapsed: no purchase for {lapsed_days} days", cols, out, empty="none")])


# ---------------------------------------------------------------------------
