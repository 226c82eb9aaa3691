"""Shell completion: the completion command and what MEMBER, CODE, --reward and ACTION complete to."""

from __future__ import annotations

import os
import sys

import click

from loyalty_cli.cli.app import _given_before, cli, examples, ledger_session
from loyalty_cli.domain.config import load

# shell completion
# ---------------------------------------------------------------------------

SHELLS = ("bash", "zsh", "fish")


@cli.command(short_help="Print the shell completion script for bash, zsh or fish.")
@click.argument("shell", type=click.Choice(SHELLS))
@examples("eval \"$(loyalty completion bash)\"      # in ~/.bashrc",
          "eval \"$(loyalty completion zsh)\"       # in ~/.zshrc",
          "loyalty completion fish > ~/.config/fish/completions/loyalty.fish")
def completion(shell):
    """Print the script that makes SHELL complete loyalty's commands, options,
    member ids, reward and action names and promo codes (read from the
    programme file and the ledger of --config/--db or LOYALTY_CONFIG/LOYALTY_DB
    as you type)."""
    from click.shell_completion import get_completion_class

    script = get_completion_class(shell)(cli, {}, "loyalty", "_LOYALTY_COMPLETE").source()
    sys.stdout.write(script if script.endswith("\n") else script + "\n")


def _complete(kind: str):
    """A shell_complete function: the member ids, reward names, action names
    or promo codes that start with what was typed. Silent on any failure (no
    programme file, no ledger): completion never prints an error."""
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str):
        from click.shell_completion import CompletionItem

        try:
            return [CompletionItem(v) for v in _candidates(ctx, kind, incomplete)]
        except Exception:
            return []
    return complete


def _candidates(ctx: click.Context, kind: str, incomplete: str) -> list[str]:
    config = ctx.params.get("config") or _given_before(ctx, "config") or os.environ.get("LOYALTY_CONFIG") \
        or "loyalty.toml"
    db = ctx.params.get("db") or _given_before(ctx, "db") or os.environ.get("LOYALTY_DB") or None
    low = incomplete.casefold()
    if kind in ("reward", "action"):
        prog = load(config)
        names = [r.name for r in prog.rewards] if kind == "reward" else list(prog.actions)
        return [n for n in names if n.casefold().startswith(low)]
    from sqlalchemy import select

    from loyalty_cli.store.models import members, promo_codes

    table, col = (members, members.c.id) if kind == "member" else (promo_codes, promo_codes.c.code)
    like = incomplete.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    q = select(col).where(col.like(like, escape="\\")).order_by(col).limit(200)
    if kind == "member":
        q = q.where(members.c.forgotten_at.is_(None))
    with ledger_session(config, db, write=False) as (_prog, conn):
        return [v for (v,) in conn.execute(q)]


def attach() -> None:
    """shell_complete on every MEMBER argument and --member option, every
    promo CODE and --code, --reward and award's ACTION."""
    def walk(group: click.Group):
        for cmd in group.commands.values():
            if isinstance(cmd, click.Group):
                walk(cmd)
                continue
            for p in cmd.params:
                kind = {"member": "member", "member_id": None, "reward": "reward", "action": "action",
                        "code": "promo" if group is not cli or isinstance(p, click.Option) else None}.get(p.name)
                if p.name == "member" and cmd.name == "enroll":
                    kind = None
                if kind:
                    p._custom_shell_complete = _complete(kind)
    walk(cli)



# ---------------------------------------------------------------------------
