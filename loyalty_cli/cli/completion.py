"""Shell completion: the completion command and what MEMBER, CODE, --reward and ACTION complete to."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, cast

import click
from click.shell_completion import BashComplete, add_completion_class

from loyalty_cli.cli.app import _given_before, cli, cli_ledger, examples
from loyalty_cli.cli.render import printable
from loyalty_cli.domain.config import load

if TYPE_CHECKING:
    from typing import Literal

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


class _BashComplete(BashComplete):
    """click's bash completion, with each value quoted for the shell. The
    script puts a value into COMPREPLY as it is, and bash inserts it as it is:
    "Free coffee" would become two words on the command line. So every
    character the shell would take specially is backslash-escaped
    (Free\\ coffee); the backslashes are doubled first because the script
    reads the line with `read` without -r, which takes one level of them."""

    def format_completion(self, item) -> str:
        if item.type != "plain":
            return super().format_completion(item)
        quoted = re.sub(r"([^\w@%+=:,./-])", r"\\\1", item.value)
        return f"{item.type},{quoted.replace(chr(92), chr(92) * 2)}"


add_completion_class(_BashComplete, "bash")  # zsh (compadd) and fish quote values themselves


def _complete(kind: str):
    """A shell_complete function: the member ids, reward names, action names,
    promo codes, tier names or order ids that start with what was typed, each
    made printable (a control character, a newline above all, would break
    the lines the shell reads; it is shown escaped, as in tables). Silent on
    any failure (no programme file, no ledger): completion never prints an
    error."""
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str):
        from click.shell_completion import CompletionItem

        try:
            return [CompletionItem(printable(v)) for v in _candidates(ctx, kind, incomplete)]
        except Exception:
            return []
    return complete


def _candidates(ctx: click.Context, kind: str, incomplete: str) -> list[str]:
    config = ctx.params.get("config") or _given_before(ctx, "config") or os.environ.get("LOYALTY_CONFIG") \
        or "loyalty.toml"
    db = ctx.params.get("db") or _given_before(ctx, "db") or os.environ.get("LOYALTY_DB") or None
    low = incomplete.casefold()
    if kind in ("reward", "action", "tier"):
        prog = load(config)
        names = {"reward": [r.name for r in prog.rewards], "action": list(prog.actions),
                 "tier": [lv.name for lv in prog.levels]}[kind]
        return [n for n in names if n.casefold().startswith(low)]
    with cli_ledger(config, db) as ledger:
        return ledger.complete(cast("Literal['member', 'promo', 'order']", kind), incomplete)


def attach() -> None:
    """shell_complete on every MEMBER argument and --member option, every
    promo CODE and --code, --reward, award's ACTION, every --tier (promo
    create, members) and refund's ORDER."""
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
                if p.name == "tier" and isinstance(p, click.Option):
                    kind = "tier"
                if p.name == "order" and cmd.name == "refund":
                    kind = "order"
                if kind:
                    p._custom_shell_complete = _complete(kind)
    walk(cli)



# ---------------------------------------------------------------------------
