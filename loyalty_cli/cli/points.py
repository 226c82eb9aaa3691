"""Points: purchase, refund, redeem, adjust, award."""

from __future__ import annotations

import click

from loyalty_cli.cli.app import (
    _write_at,
    cli,
    date_option,
    examples,
    format_option,
    ledger_options,
    ledger_session,
    money,
)
from loyalty_cli.cli.render import Col, View, echo, emit
from loyalty_cli.domain.money import parse_amount, parse_points

# ---------------------------------------------------------------------------
# points: purchase, refund, redeem, adjust, award
# ---------------------------------------------------------------------------


@cli.command(context_settings={"ignore_unknown_options": True})  # so "-5" reaches our refusal
@click.argument("member")
@click.argument("amount")
@click.option("--order", "order_id", metavar="ID", help="The till's order id (unique; generated when omitted).")
@click.option("--redeem", "redeem", metavar="POINTS", help="Pay part of the purchase with points.")
@click.option("--code", metavar="CODE", help="A promo code (case, spaces and hyphens do not matter).")
@date_option
@format_option
@ledger_options
@examples("loyalty purchase anna 12.50", "loyalty purchase anna 42.00 --order 10023 --redeem 300",
          "loyalty purchase anna 30.00 --code SUMMER10",
          "loyalty purchase +3725551234 8.90 --date 2026-05-01 --format json")
def purchase(member, amount, order_id, redeem, code, when, fmt, config, db):
    """Record a sale: the member earns points on the net amount (after the
    tier's discount and any part paid with points), at their tier's multiplier."""
    from loyalty_cli.ledger import operations

    with ledger_session(config, db, write=True) as (prog, conn):
        minor = parse_amount(amount, prog.currency.decimals, "amount")
        pts = parse_points(redeem, "--redeem") if redeem is not None else 0
        r = operations.purchase(conn, prog, member, minor, at=_write_at(prog, when), order_id=order_id, redeem=pts,
                            code=code)
    doc = {"member": r["member"], "order": r["order"], "date": r["date"], "amount": money(prog, r["amount"]),
           "discount": money(prog, r["discount"]), "paid_with_points": money(prog, r["points_paid"]),
           "net": money(prog, r["net"]), "multiplier": r["multiplier"], "points_earned": r["points_earned"],
           "code": r["code"], "bonus_points": r["bonus_points"],
           "points_redeemed": r["points_redeemed"], "points": r["points"], "tier": r["tier"], "referral": r["referral"]}
    cols = [Col("member", "Member"), Col("order", "Order"), Col("amount", "Amount", "right"),
            Col("discount", "Discount", "right"), Col("paid_with_points", "Paid w/ points", "right"),
            Col("points_earned", "Earned", "right"), Col("points_redeemed", "Redeemed", "right"),
            Col("points", "Balance", "right"), Col("tier", "Tier")]
    if r["code"]:
        cols[4:4] = [Col("code", "Code"), Col("bonus_points", "Bonus", "right")]
    emit(fmt, doc, [View("Purchase", cols, [doc], record=True)])
    if fmt == "table" and r["tier"] != r["tier_before"]:
        echo(f"{r['member']} is now {r['tier']} (was {r['tier_before']}).", err=True)
    if fmt == "table" and r["referral"]:
        ref = r["referral"]
        if not ref["paid"]:
            echo(f"Referral not paid: {ref['reason']}; it stays pending.", err=True)
        elif ref["reason"]:
            echo(f"Referral rewarded: {r['member']} +{ref['referee_points']} points; "
                       f"{ref['reason']}.", err=True)
        else:
            echo(f"Referral rewarded: {ref['referrer']} +{ref['referrer_points']}, "
                       f"{r['member']} +{ref['referee_points']} points.", err=True)


@cli.command()
@click.argument("order")
@click.option("--amount", metavar="AMOUNT", help="Part of the order's amount to refund [default: all that is left].")
@date_option
@format_option
@ledger_options
@examples("loyalty refund 10023", "loyalty refund 10023 --amount 12.00")
def refund(order, amount, when, fmt, config, db):
    """Refund all or part of an order. The points it earned are taken back in
    proportion to the refunded share of its amount (by the rounding in force
    when they were earned); points that paid for it are given back likewise.
    If the member has spent the points already, the balance may go below zero
    and later earnings pay it back."""
    from loyalty_cli.ledger import operations

    with ledger_session(config, db, write=True) as (prog, conn):
        minor = parse_amount(amount, prog.currency.decimals, "--amount") if amount is not None else None
        r = operations.refund(conn, prog, order, at=_write_at(prog, when), amount=minor)
    doc = {**r, "amount": money(prog, r["amount"]), "refunded_total": money(prog, r["refunded_total"]),
           "order_amount": money(prog, r["order_amount"])}
    cols = [Col("member", "Member"), Col("order", "Order"), Col("amount", "Refunded", "right"),
            Col("points_taken_back", "Points back", "right"), Col("points_restored", "Restored", "right"),
            Col("points", "Balance", "right"), Col("tier", "Tier")]
    emit(fmt, doc, [View("Refund", cols, [doc], record=True)])


@cli.command(context_settings={"ignore_unknown_options": True})  # so "-5" reaches our refusal
@click.argument("member")
@click.argument("points", required=False)
@click.option("--reward", metavar="NAME", help="Redeem a reward from the programme's catalogue.")
@click.option("--order", "order_id", metavar="ID", help="Order the points were spent on (for your records).")
@date_option
@format_option
@ledger_options
@examples("loyalty redeem anna 200", "loyalty redeem anna --reward 'Free coffee'")
def redeem(member, points, reward, order_id, when, fmt, config, db):
    """Spend points: a number of points, or a reward by name. Never more than
    the member's available points; the soonest-expiring points go first."""
    from loyalty_cli.ledger import operations

    if (points is None) == (reward is None):
        raise click.UsageError("give either POINTS or --reward NAME")
    with ledger_session(config, db, write=True) as (prog, conn):
        pts = parse_points(points, "POINTS") if points is not None else None
        r = operations.redeem(conn, prog, member, at=_write_at(prog, when), points=pts, reward=reward,
                              order_id=order_id)
    cols = [Col("member", "Member"), Col("reward", "Reward"), Col("points_redeemed", "Redeemed", "right"),
            Col("points", "Balance", "right")]
    emit(fmt, r, [View("Redemption", cols, [r], record=True)])


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("member")
@click.argument("points")
@click.option("--reason", required=True, help="Why (kept in the ledger).")
@date_option
@format_option
@ledger_options
@examples("loyalty adjust anna 50 --reason 'sorry for the wait'",
          "loyalty adjust anna -20 --reason 'double-scanned receipt'")
def adjust(member, points, reason, when, fmt, config, db):
    """Add (positive) or take away (negative) points by hand, with a reason.
    Taking away is limited to the member's balance."""
    from loyalty_cli.ledger import operations

    with ledger_session(config, db, write=True) as (prog, conn):
        pts = parse_points(points, "POINTS", signed=True)
        r = operations.adjust(conn, prog, member, pts, at=_write_at(prog, when), reason=reason)
    cols = [Col("member", "Member"), Col("adjusted", "Points", "right"), Col("reason", "Reason", wrap=True),
            Col("points", "Balance", "right")]
    emit(fmt, r, [View("Adjustment", cols, [r], record=True)])


@cli.command()
@click.argument("member")
@click.argument("action")
@date_option
@format_option
@ledger_options
@examples("loyalty award anna review", "loyalty award anna feedback --date 2026-05-02")
def award(member, action, when, fmt, config, db):
    """Points for an action named in [earning.actions] (a review, feedback, ...),
    within the action's limit per period."""
    from loyalty_cli.ledger import operations

    with ledger_session(config, db, write=True) as (prog, conn):
        r = operations.award(conn, prog, member, action, at=_write_at(prog, when))
    cols = [Col("member", "Member"), Col("action", "Action"), Col("points_awarded", "Awarded", "right"),
            Col("points", "Balance", "right")]
    emit(fmt, r, [View("Award", cols, [r], record=True)])
