"""Promo codes and referrals: promo create/list/show/disable, referral."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from loyalty_cli.cli.app import (
    LoyaltyGroup,
    as_of_option,
    cli,
    cli_ledger,
    confirm,
    date_option,
    examples,
    format_option,
    group_options,
    ledger_options,
    recorded_as,
)
from loyalty_cli.cli.render import Col, View, echo, emit_result

if TYPE_CHECKING:
    from loyalty_cli.api.codes import PromoDetail, Referral

# ---------------------------------------------------------------------------
# promo codes and referrals
# ---------------------------------------------------------------------------


@cli.group(cls=LoyaltyGroup)
@group_options
def promo(config, db, fmt, as_of):
    """Promo codes: create, list, show, disable.

    \b
    Examples:
      loyalty promo create SUMMER10 --percent 10 --min-purchase 20 --expires 2026-08-31
      loyalty promo create --count 100 --points 50 --format csv > codes.csv
      loyalty promo list --active
    """


@promo.command("create")
@click.argument("code", required=False)
@click.option("--percent", metavar="P", help="Effect: P% off the purchase.")
@click.option("--amount", metavar="A", help="Effect: A off the purchase.")
@click.option("--points", metavar="N", help="Effect: N bonus points.")
@click.option("--multiplier", metavar="X", help="Effect: the purchase earns X times the points.")
@click.option("--min-purchase", metavar="A", help="Only on purchases of at least A (before discounts).")
@click.option("--starts", metavar="DATE", help="First day the code is valid.")
@click.option("--expires", metavar="DATE", help="Last day the code is valid.")
@click.option("--max-uses", metavar="N", help="Uses in all, by everyone.")
@click.option("--per-member", metavar="N", help="Uses per member.")
@click.option("--first-purchase", is_flag=True, help="Only on a member's first purchase.")
@click.option("--tier", metavar="NAME", help="Only for members of this tier or a higher one.")
@click.option("--member", metavar="MEMBER", help="A personal code, for this member only.")
@click.option("--count", metavar="N", help="Generate N single-use codes (print them, e.g. as CSV for a mail merge).")
@date_option
@format_option
@ledger_options
@examples("loyalty promo create SUMMER10 --percent 10 --min-purchase 20 --expires 2026-08-31",
          "loyalty promo create --amount 5 --member anna --first-purchase",
          "loyalty promo create --count 200 --points 50 --expires 2026-12-31 --format csv > codes.csv")
def promo_create(code, percent, amount, points, multiplier, min_purchase, starts, expires, max_uses, per_member,
                 first_purchase, tier, member, count, when, fmt, config, db):
    """Create a promo code (given, or generated when CODE is left out) with
    exactly one effect and any limits. Prints the code(s)."""
    if sum(v is not None for v in (percent, amount, points, multiplier)) != 1:
        raise click.UsageError("give exactly one effect: --percent, --amount, --points or --multiplier")
    with cli_ledger(config, db) as ledger:
        r = ledger.promo_create(code, percent=percent, amount=amount, points=points, multiplier=multiplier,
                                min_purchase=min_purchase, starts=starts, expires=expires, max_uses=max_uses,
                                per_member=per_member, first_purchase=first_purchase, tier=tier, member=member,
                                count=count, date=when)
    if count is None:
        recorded_as(f"the promo code {r.codes[0]} was created")  # a generated code is lost with the output otherwise
    if fmt != "table":
        emit_result(fmt, r, lambda doc: [View("", [Col("code", "")], [{"code": c} for c in r.codes])])
        return
    echo("\n".join(r.codes))
    what = f"{len(r.codes)} single-use codes" if count is not None else f"code {r.codes[0]}"
    echo(f"Created {what}: {r.description}.", err=True)


def _promo_cols():
    return [Col("code", "Code"), Col("description", "Effect", wrap=True), Col("limits", "Limits", wrap=True),
            Col("uses", "Uses", "right"), Col("status", "Status", wrap=True)]


@promo.command("list")
@click.option("--active", is_flag=True, help="Only codes that can be used now.")
@as_of_option
@format_option
@ledger_options
@examples("loyalty promo list", "loyalty promo list --active --format csv")
def promo_list(active, as_of, fmt, config, db):
    """Promo codes with their effect, limits, uses and status."""
    with cli_ledger(config, db) as ledger:
        r = ledger.promo_list(active=active, as_of=as_of)
    emit_result(fmt, r, lambda rows: [View("Promo codes", _promo_cols(), rows, empty="no promo codes")])


@promo.command("show")
@click.argument("code")
@as_of_option
@format_option
@ledger_options
@examples("loyalty promo show SUMMER10", "loyalty promo show summer10 --format json")
def promo_show(code, as_of, fmt, config, db):
    """A promo code's rules and every use."""
    with cli_ledger(config, db) as ledger:
        r = ledger.promo_show(code, as_of=as_of)
    emit_result(fmt, r, lambda doc: _promo_views(r, doc), csv_view=1)


def _promo_views(r: PromoDetail, doc: dict) -> list[View]:
    """The code's rules (field / value), and its uses (the CSV)."""
    fields = [("code", r.code), ("effect", r.description), ("limits", r.limits or "none"), ("uses", r.uses),
              ("status", r.status), ("created", r.created), ("disabled", r.disabled), ("batch", r.batch)]
    # the moments as moments (a table shows a midnight as its day), the rest as the document has it
    used = [{**u, "date": use.date} for u, use in zip(doc["used"], r.used, strict=True)]
    return [View(f"Promo code {r.code}", [Col("field", "Field"), Col("value", "Value")],
                 [{"field": k, "value": v} for k, v in fields if v not in (None, "")], kv=True),
            View("Uses", [Col("date", "Date"), Col("member", "Member"), Col("order", "Order"),
                          Col("amount", "Amount", "right"), Col("discount", "Discount", "right"),
                          Col("bonus_points", "Bonus", "right")], used, empty="not used yet")]


@promo.command("disable")
@click.argument("code")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@date_option
@ledger_options
@examples("loyalty promo disable SUMMER10 --yes")
def promo_disable(code, yes, when, config, db):
    """Disable a promo code for good. Its past uses stay in the ledger."""
    confirm(yes, f"Disable promo code {code}?")
    with cli_ledger(config, db) as ledger:
        r = ledger.promo_disable(code, date=when)
    echo(f"Disabled promo code {r.code}.", err=True)


@cli.command()
@click.argument("member")
@format_option
@ledger_options
@examples("loyalty referral anna", "loyalty referral anna --format json")
def referral(member, fmt, config, db):
    """The member's referral code (made on first request) and whom they
    referred, each pending or rewarded. A friend joins with
    `loyalty enroll --referral CODE`; both are rewarded once, on the friend's
    first purchase that reaches [referral] min_purchase."""
    with cli_ledger(config, db) as ledger:
        r = ledger.referral(member)
    emit_result(fmt, r, lambda doc: _referral_views(r, doc), csv_view=1)


def _referral_views(r: Referral, doc: dict) -> list[View]:
    """The code and how many were referred, then whom (the CSV: one row each)."""
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("joined", "Joined"), Col("status", "Status"),
            Col("rewarded_on", "Rewarded")]
    whom = View("Referred", cols, doc["referrals"], empty="nobody yet")
    head = View(f"Referral code of {r.name} ({r.member})", [Col("field", "Field"), Col("value", "Value")],
                [{"field": "code", "value": r.code}, {"field": "referred", "value": len(r.referrals)}], kv=True)
    return [head, whom]
