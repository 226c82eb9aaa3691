"""Points: purchase, refund, redeem, adjust, award."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from loyalty_cli.cli.app import cli, cli_ledger, date_option, examples, format_option, ledger_options
from loyalty_cli.cli.render import Col, View, echo, emit_result

if TYPE_CHECKING:
    from loyalty_cli.api.points import Purchase

# ---------------------------------------------------------------------------
# points: purchase, refund, redeem, adjust, award
# ---------------------------------------------------------------------------


@cli.command(context_settings={"ignore_unknown_options": True})  # so "-5" reaches our refusal
@click.argument("member")
@click.argument("amount")
@click.option("--order", "order_id", metavar="ID", help="The till's order id (unique; generated when omitted).")
@click.option("--redeem", "redeem", metavar="POINTS", help="Pay part of the purchase with points.")
@click.option("--code", metavar="CODE", help="A promo code (case, spaces and hyphens do not matter).")
@click.option("--store", envvar="LOYALTY_STORE", metavar="STORE",
              help="The store it was rung up at (env LOYALTY_STORE) [default: none].")
@click.option("--till", envvar="LOYALTY_TILL", metavar="TILL",
              help="The till it was rung up at (env LOYALTY_TILL) [default: none].")
@date_option
@format_option
@ledger_options
@examples("loyalty purchase anna 12.50", "loyalty purchase anna 42.00 --order 10023 --redeem 300",
          "loyalty purchase anna 30.00 --code SUMMER10",
          "loyalty purchase anna 18.20 --store Kesklinn --till 2",
          "loyalty purchase +3725551234 8.90 --date 2026-05-01 --format json")
def purchase(member, amount, order_id, redeem, code, store, till, when, fmt, config, db):
    """Record a sale: the member earns points on the net amount (after the
    tier's discount and any part paid with points), at their tier's multiplier."""
    with cli_ledger(config, db) as ledger:
        r = ledger.purchase(member, amount, order=order_id, redeem=redeem, code=code, date=when,
                            store=store, till=till)
    emit_result(fmt, r, lambda doc: [View("Purchase", _purchase_cols(r), [doc], record=True)])
    if fmt == "table":
        _purchase_notes(r)


def _purchase_cols(r: Purchase) -> list[Col]:
    cols = [Col("member", "Member"), Col("order", "Order"), Col("amount", "Amount", "right"),
            Col("discount", "Discount", "right"), Col("paid_with_points", "Paid w/ points", "right"),
            Col("points_earned", "Earned", "right"), Col("points_redeemed", "Redeemed", "right"),
            Col("points", "Balance", "right"), Col("tier", "Tier")]
    if r.code:
        cols[4:4] = [Col("code", "Code"), Col("bonus_points", "Bonus", "right")]
    if r.store is not None or r.till is not None:
        cols[2:2] = [Col("store", "Store"), Col("till", "Till")]
    return cols


def _purchase_notes(r: Purchase) -> None:
    """What a purchase changed besides the receipt: a new tier, a referral paid or held back."""
    if r.tier != r.tier_before:
        echo(f"{r.member} is now {r.tier} (was {r.tier_before}).", err=True)
    ref = r.referral
    if ref is None:
        return
    if not ref.paid:
        echo(f"Referral not paid: {ref.reason}; it stays pending.", err=True)
    elif ref.reason:
        echo(f"Referral rewarded: {r.member} +{ref.referee_points} points; {ref.reason}.", err=True)
    else:
        echo(f"Referral rewarded: {ref.referrer} +{ref.referrer_points}, {r.member} +{ref.referee_points} points.",
             err=True)


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
    with cli_ledger(config, db) as ledger:
        r = ledger.refund(order, amount=amount, date=when)
    cols = [Col("member", "Member"), Col("order", "Order"), Col("amount", "Refunded", "right"),
            Col("points_taken_back", "Points back", "right"), Col("points_restored", "Restored", "right"),
            Col("points", "Balance", "right"), Col("tier", "Tier")]
    emit_result(fmt, r, lambda doc: [View("Refund", cols, [doc], record=True)])


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
    if (points is None) == (reward is None):
        raise click.UsageError("give either POINTS or --reward NAME")
    with cli_ledger(config, db) as ledger:
        r = ledger.redeem(member, points, reward=reward, order=order_id, date=when)
    cols = [Col("member", "Member"), Col("reward", "Reward"), Col("points_redeemed", "Redeemed", "right"),
            Col("points", "Balance", "right")]
    emit_result(fmt, r, lambda doc: [View("Redemption", cols, [doc], record=True)])


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
    with cli_ledger(config, db) as ledger:
        r = ledger.adjust(member, points, reason=reason, date=when)
    cols = [Col("member", "Member"), Col("adjusted", "Points", "right"), Col("reason", "Reason", wrap=True),
            Col("points", "Balance", "right")]
    emit_result(fmt, r, lambda doc: [View("Adjustment", cols, [doc], record=True)])


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
    with cli_ledger(config, db) as ledger:
        r = ledger.award(member, action, date=when)
    cols = [Col("member", "Member"), Col("action", "Action"), Col("points_awarded", "Awarded", "right"),
            Col("points", "Balance", "right")]
    emit_result(fmt, r, lambda doc: [View("Award", cols, [doc], record=True)])
