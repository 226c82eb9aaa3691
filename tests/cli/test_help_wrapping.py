"""Help texts wrap at spaces only (issue 14): YYYY-MM-DDTHH:MM, --as-of or
e-mail are never broken after a hyphen."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from loyalty_cli.cli import cli


def _commands(group: click.Group, path=()):
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))
        yield (*path, name)


@pytest.mark.parametrize("width", [60, 80, 100])
def test_no_help_line_ends_inside_a_hyphenated_token(width):
    broken = []
    for path in [(), *_commands(cli)]:
        r = CliRunner().invoke(cli, [*path, "--help"], terminal_width=width)
        assert r.exit_code == 0, r.stdout
        broken += [f"{' '.join(path)}: {line}" for line in r.stdout.splitlines() if re.search(r"\w-$", line)]
    assert broken == []


def test_the_date_format_is_whole_in_enroll_help():
    out = CliRunner().invoke(cli, ["enroll", "--help"], terminal_width=80).stdout
    assert "YYYY-MM-DDTHH:MM" in out
