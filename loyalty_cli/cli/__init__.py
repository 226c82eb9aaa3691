"""The command line: parse, call the ledger, render. Nothing else.

    app.py          the group, shared options, the Run a command opens its Ledger through, errors -> exit codes
    members.py      enroll, edit, forget, members, show
    points.py       purchase, refund, redeem, adjust, award
    codes.py        promo create/list/show/disable, referral
    reports.py      balance, history, tiers, report, expiring, lapsed
    io.py           import purchases/members, export
    daily.py        expire, birthdays, daily
    admin.py        init, upgrade, backup, copy, check, program, batch
    completion.py   loyalty completion, and what arguments complete to
    render.py       table / csv / json output (the only module that imports rich)
    batch_runner.py `loyalty batch`: the commands line by line in one process, sharing one Batch

Importing this package registers every command on ``cli``.
"""

from __future__ import annotations

import click

from loyalty_cli.cli import (  # noqa: F401  (they register the commands)
    admin,
    codes,
    completion,
    daily,
    io,
    members,
    points,
    reports,
)
from loyalty_cli.cli.app import cli, main

__all__ = ["cli", "main"]

# one line each in `loyalty --help`, where the help's first sentence is long
# ---------------------------------------------------------------------------

SUMMARIES = {
    "adjust": "Add or take away points by hand, with a reason.",
    "award": "Points for an action in [earning.actions], within its limit.",
    "backup": "Copy the ledger, while in use, to a checked backup file.",
    "copy": "Copy the whole ledger into an empty database or a new file.",
    "batch": "Run many commands from a file or stdin, one per line.",
    "birthdays": "Credit the birthday bonuses that are due.",
    "daily": "Everything time-driven, for cron: birthdays, expiry, tiers.",
    "expire": "Post the expiry of points whose time has come.",
    "expiring": "Members with points about to expire, soonest first.",
    "export": "Write entries, members or purchases as CSV or JSON.",
    "forget": "Erase a member's personal data for good.",
    "history": "A member's ledger entries with the running balance.",
    "import": "Import purchases or members from CSV.",
    "lapsed": "Members with no recent purchase: a win-back list.",
    "program": "Show the rules in force.",
    "purchase": "Record a sale; the member earns points on it.",
    "referral": "A member's referral code and whom they referred.",
    "report": "Programme figures for a period: members, sales, points.",
    "show": "A member at a glance: points, tier, progress, history.",
    "tiers": "Members and totals per tier, and who is closest to the next.",
    "upgrade": "Bring a ledger made by an older loyalty up to date.",
    "promo create": "Create a promo code with one effect and any limits.",
    "import purchases": "Import purchases from a CSV file or stdin.",
    "import members": "Import members from a CSV file or stdin.",
}


def _command(path: str) -> click.Command:
    """The command `path` names ("promo create"), from the group down."""
    cmd: click.Command = cli
    for word in path.split():
        assert isinstance(cmd, click.Group), path
        cmd = cmd.commands[word]
    return cmd


for _name, _text in SUMMARIES.items():
    _command(_name).short_help = _text


completion.attach()
