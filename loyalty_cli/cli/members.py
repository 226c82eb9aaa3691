"""Members: enroll, edit, forget, members, show."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import click

from loyalty_cli.cli.app import (
    _history_cols,
    as_of_option,
    cli,
    cli_ledger,
    confirm,
    date_option,
    examples,
    format_option,
    ledger_options,
    recorded_as,
)
from loyalty_cli.cli.render import Col, View, bar, echo, emit_json, emit_result

if TYPE_CHECKING:
    from loyalty_cli.api.members import Forgotten, MemberView
    from loyalty_cli.domain.config import Programme

# ---------------------------------------------------------------------------
# members
# ---------------------------------------------------------------------------


@cli.command()
@click.argument("member_id", required=False)
@click.option("--name", required=True, help="The member's name.")
@click.option("--email", help="E-mail address (unique).")
@click.option("--phone", help="Phone number (unique; spaces and dashes are ignored).")
@click.option("--birthday", metavar="YYYY-MM-DD", help="Birthday, for the birthday bonus.")
@click.option("--marketing/--no-marketing", default=False, show_default=True,
              help="Consent to marketing by e-mail/SMS (recorded with its date).")
@click.option("--referral", metavar="CODE", help="The referral code of the member who brought them.")
@date_option
@format_option
@ledger_options
@examples("loyalty enroll --name 'Anna Tamm'            # prints the generated id",
          "loyalty enroll anna --name 'Anna Tamm' --email anna@example.com --birthday 1990-04-12 --marketing",
          "loyalty enroll carl --name 'Carl' --referral 7KQ2-MX4D")
def enroll(member_id, name, email, phone, birthday, marketing, referral, when, fmt, config, db):
    """Enrol a new member. Prints the member id (generated when none is given).

    The welcome bonus, if the programme has one, is credited at once."""
    with cli_ledger(config, db) as ledger:
        r = ledger.enroll(member_id, name=name, email=email, phone=phone, birthday=birthday, marketing=marketing,
                          referral=referral, date=when)
    recorded_as(f"the member was enrolled as {r.member}")  # a generated id is lost with the output otherwise
    if fmt != "table":
        emit_result(fmt, r, lambda doc: [View("", [Col("member", ""), Col("name", ""), Col("points", "")], [doc])])
        return
    echo(r.member)
    bonus = f" with a welcome bonus of {r.points} points" if r.points else ""
    referred = f", referred by {r.referred_by}" if r.referred_by else ""
    echo(f"Enrolled {r.name} as {r.member}{bonus}{referred}.", err=True)


@cli.command()
@click.argument("member")
@click.option("--name", help="New name.")
@click.option("--email", help="New e-mail ('' clears it).")
@click.option("--phone", help="New phone ('' clears it).")
@click.option("--birthday", metavar="YYYY-MM-DD", help="New birthday ('' clears it).")
@click.option("--marketing/--no-marketing", default=None, help="Give or withdraw marketing consent.")
@date_option
@ledger_options
@examples("loyalty edit anna --email anna.tamm@example.com", "loyalty edit anna --no-marketing",
          "loyalty edit anna --phone ''")
def edit(member, name, email, phone, birthday, marketing, when, config, db):
    """Change a member's personal data. Points are never edited (use adjust)."""
    with cli_ledger(config, db) as ledger:
        r = ledger.edit(member, name=name, email=email, phone=phone, birthday=birthday, marketing=marketing,
                        date=when)
    echo(f"Updated {r.member}: {', '.join(r.changed)}.", err=True)


@cli.command()
@click.argument("member")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@date_option
@format_option
@ledger_options
@examples("loyalty forget anna --yes", "loyalty forget anna@example.com --yes --format json")
def forget(member, yes, when, fmt, config, db):
    """Erase a member's personal data for good: name, e-mail, phone, birthday
    and marketing consent.

    The member id and every entry stay, anonymous, so all totals still balance
    and `check` still passes. The ledger file is then vacuumed and its WAL
    emptied, so no copy of the erased data is left in it. Backups made before
    keep their copy: delete or re-make them. After this, nothing new can be
    recorded for the member; refunds and adjustments of what is already in
    the ledger still can."""
    confirm(yes, f"Forget member {member}: erase their name, e-mail, phone and birthday for good?")
    with cli_ledger(config, db) as ledger:
        r = ledger.forget(member, date=when)
    if fmt == "json":
        emit_json(r.to_json())
    _forget_notes(r)


def _forget_notes(r: Forgotten) -> None:
    if r.already:
        echo(f"Member {r.member} was already forgotten on {r.forgotten_at:%Y-%m-%d}; "
             "the ledger file was scrubbed again.", err=True)
    else:
        erased = ", ".join(r.erased) or "nothing left to erase"
        echo(f"Forgot member {r.member}: erased {erased}. Their {r.points} points and history stay, anonymous.",
             err=True)
    if not r.scrubbed:
        echo("Warning: another process kept the ledger open, so an old copy may remain in its WAL file "
             "(on PostgreSQL: in the members table) until that process ends; run this command again then to "
             "finish.", err=True)


@cli.command()
@click.option("--tier", help="Only members in this tier.")
@click.option("--search", metavar="TEXT", help="Only members whose id, name, e-mail or phone contains TEXT.")
@as_of_option
@format_option
@ledger_options
@examples("loyalty members", "loyalty members --tier Gold --format csv", "loyalty members --search tamm")
def members(tier, search, as_of, fmt, config, db):
    """List members with their points and tier."""
    with cli_ledger(config, db) as ledger:
        r = ledger.members(tier=tier, search=search, as_of=as_of)
    cols = [Col("member", "Member"), Col("name", "Name", wrap=True), Col("email", "E-mail", drop=1),
            Col("phone", "Phone", drop=3), Col("points", "Points", "right"), Col("tier", "Tier"),
            Col("enrolled", "Enrolled", drop=2), Col("marketing", "Marketing", drop=4)]
    emit_result(fmt, r, lambda rows: [View("Members", cols, rows, empty="no members")])


@cli.command()
@click.argument("member")
@as_of_option
@format_option
@ledger_options
@examples("loyalty show anna", "loyalty show anna@example.com --format json", "loyalty show anna --as-of 2026-01-31")
def show(member, as_of, fmt, config, db):
    """A member at a glance: profile, points, tier, progress to the next tier,
    points expiring soon and recent history."""
    with cli_ledger(config, db) as ledger:
        r = ledger.show(member, as_of=as_of)
        prog = ledger.programme
    emit_result(fmt, r, lambda doc: [_profile_view(r, prog),
                                     View("Recent history", _history_cols(), doc["recent"], empty="no entries yet")])


def _profile_view(r: MemberView, prog: Programme) -> View:
    """The member's card: a field / value table of what is set."""
    spend = r.tier_basis == "spend"
    unit = prog.currency.code
    if r.progress is not None:
        done, span = r.progress
        progress = f"{bar(done, span, 20):░<20} {r.to_next_tier}{' ' + unit if spend else ' points'} to {r.next_tier}"
    else:
        progress = "top tier"
    pts = f"{r.points}"
    if r.available != r.points:
        pending = f", {r.pending} pending" if r.pending else ""
        pts += f" ({r.available} available{pending})"
    rows = [("member", r.member), ("name", r.name), ("e-mail", r.email), ("phone", r.phone),
            ("birthday", r.birthday), ("enrolled", r.enrolled.date()),
            ("forgotten", f"{r.forgotten_at:%Y-%m-%d}: personal data erased" if r.forgotten_at else None),
            ("marketing", f"yes, since {r.marketing_at:%Y-%m-%d}" if r.marketing and r.marketing_at else "no"),
            ("points", pts), ("tier", r.tier),
            ("qualifying", f"{r.qualifying_total} {unit if spend else 'points'} ({r.tier_window})"),
            ("progress", progress), ("lifetime spend", f"{r.lifetime_spend} {unit}"), ("usual store", r.usual_store)]
    if r.expiring:
        rows.append(("expiring soon", ", ".join(f"{e.points} (spend by {e.date - timedelta(days=1)})"
                                                for e in r.expiring)))
    return View(f"{r.name or 'Forgotten member'} ({r.member})", [Col("field", "Field"), Col("value", "Value")],
                [{"field": k, "value": v} for k, v in rows if v not in (None, "")], kv=True)
