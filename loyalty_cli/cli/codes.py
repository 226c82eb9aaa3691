"""Promo codes and referrals: promo create/list/show/disable, referral."""

from __future__ import annotations

import click

from loyalty_cli.cli.app import (
    LoyaltyGroup,
    _as_of,
    _opt_date,
    _write_at,
    as_of_option,
    cli,
    confirm,
    date_option,
    examples,
    format_option,
    group_options,
    ledger_options,
    ledger_session,
    recorded_as,
)
from loyalty_cli.cli.render import Col, View, echo, emit, emit_json
from loyalty_cli.domain.dates import now
from loyalty_cli.domain.money import parse_amount, parse_points
from loyalty_cli.errors import LoyaltyError

# ---------------------------------------------------------------------------
# promo codes and referrals
# ---------------------------------------------------------------------------


def _uses(text: str, what: str) -> int:
    """--max-uses, --per-member, --count: a whole number above 0 (a count, not points)."""
    from loyalty_cli.domain.money import parse_whole

    value = parse_whole(text, what)
    if value <= 0:
        raise LoyaltyError(f"{what} must be more than 0")
    return value


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
    from loyalty_cli.domain.money import parse_decimal
    from loyalty_cli.ledger import codes

    effects = {k: v for k, v in (("percent", percent), ("amount", amount), ("points", points),
                                  ("multiplier", multiplier)) if v is not None}
    if len(effects) != 1:
        raise click.UsageError("give exactly one effect: --percent, --amount, --points or --multiplier")
    (effect, raw), = effects.items()
    with ledger_session(config, db, write=True) as (prog, conn):
        dec = prog.currency.decimals
        if effect == "amount":
            value = str(parse_amount(raw, dec, "--amount"))
        elif effect == "points":
            value = str(parse_points(raw, "--points"))
        else:
            value = str(parse_decimal(raw, f"--{effect}"))
        n = lambda text, what: _uses(text, what) if text is not None else None  # noqa: E731
        r = codes.make_rules(
            prog, conn, effect=effect, value=value,
            min_purchase=parse_amount(min_purchase, dec, "--min-purchase") if min_purchase is not None else 0,
            starts=_opt_date(starts, "--starts"), expires=_opt_date(expires, "--expires"),
            max_uses=n(max_uses, "--max-uses"), per_member=n(per_member, "--per-member"),
            first_purchase=first_purchase, tier=tier, member=member)
        made = codes.create_promo(conn, r, at=_write_at(prog, when), code=code,
                                  count=_uses(count, "--count") if count is not None else None)
    if count is None:
        recorded_as(f"the promo code {made[0]} was created")  # a generated code is lost with the output otherwise
    if fmt == "json":
        emit_json({"code": [{"code": c} for c in made]} if count is not None else {"code": made[0]})
    elif fmt == "csv":
        emit("csv", made, [View("", [Col("code", "")], [{"code": c} for c in made])])
    else:
        echo("\n".join(made))
        what = f"{len(made)} single-use codes" if count is not None else f"code {made[0]}"
        echo(f"Created {what}: {r.effect.describe(prog.currency.decimals, prog.currency.code)}.", err=True)


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
    from loyalty_cli.ledger import codes

    with ledger_session(config, db, write=False) as (prog, conn):
        rows = codes.promo_list(conn, prog, _as_of(prog, as_of), active_only=active)
    emit(fmt, rows, [View("Promo codes", _promo_cols(), rows, empty="no promo codes")])


@promo.command("show")
@click.argument("code")
@as_of_option
@format_option
@ledger_options
@examples("loyalty promo show SUMMER10", "loyalty promo show summer10 --format json")
def promo_show(code, as_of, fmt, config, db):
    """A promo code's rules and every use."""
    from loyalty_cli.ledger import codes

    with ledger_session(config, db, write=False) as (prog, conn):
        r = codes.promo_show(conn, prog, code, _as_of(prog, as_of))
    fields = [("code", r["code"]), ("effect", r["description"]), ("limits", r["limits"] or "none"),
              ("uses", r["uses"]), ("status", r["status"]), ("created", r["created"]),
              ("disabled", r["disabled"]), ("batch", r["batch"])]
    views = [View(f"Promo code {r['code']}", [Col("field", "Field"), Col("value", "Value")],
                  [{"field": k, "value": v} for k, v in fields if v not in (None, "")], kv=True),
             View("Uses", [Col("date", "Date"), Col("member", "Member"), Col("order", "Order"),
                           Col("amount", "Amount", "right"), Col("discount", "Discount", "right"),
                           Col("bonus_points", "Bonus", "right")], r["used"], empty="not used yet")]
    emit(fmt, r, views, csv_view=1)


@promo.command("disable")
@click.argument("code")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@date_option
@ledger_options
@examples("loyalty promo disable SUMMER10 --yes")
def promo_disable(code, yes, when, config, db):
    """Disable a promo code for good. Its past uses stay in the ledger."""
    from loyalty_cli.ledger import codes

    confirm(yes, f"Disable promo code {code}?")
    with ledger_session(config, db, write=True) as (prog, conn):
        shown = codes.disable(conn, code, _write_at(prog, when))
    echo(f"Disabled promo code {shown}.", err=True)


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
    from loyalty_cli.ledger import operations

    with ledger_session(config, db, write=True) as (prog, conn):
        r = operations.referral(conn, prog, member, at=now(prog.timezone))
    if fmt == "json":
        emit_json(r)
        return
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("joined", "Joined"), Col("status", "Status"),
            Col("rewarded_on", "Rewarded")]
    if fmt == "csv":
        emit("csv", r, [View("", cols, r["referrals"])])
        return
    head = View(f"Referral code of {r['name']} ({r['member']})", [Col("field", "Field"), Col("value", "Value")],
                [{"field": "code", "value": r["code"]}, {"field": "referred", "value": len(r["referrals"])}], kv=True)
    emit("table", r, [head, View("Referred", cols, r["referrals"], empty="nobody yet")])
