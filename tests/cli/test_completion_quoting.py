"""Completion hands the shell values it keeps whole (issue 14): a reward
name with spaces is one word in bash, control characters are escaped, and
--tier (promo create, members) and refund's ORDER complete too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loyalty_cli.cli import cli
from loyalty_cli.cli.completion import _complete as completer
from tests.conftest import programme

RULES = programme("""
    [[rewards]]
    name = "Free coffee"
    points = 10
    [[rewards]]
    name = "Tea & 'cake' $HOME *"
    points = 20
    [tiers]
    basis = "spend"
    [[tiers.levels]]
    name = "Bronze"
    min = 0
    [[tiers.levels]]
    name = "Silver"
    min = 100
    """)


def complete(shop, words: str, shell: str = "bash") -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {**shop.env(), "_LOYALTY_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    r = shop.runner.invoke(cli, [], env=env, prog_name="loyalty")
    assert r.exit_code == 0, r.stderr
    return r.stdout.splitlines()


def bash_words(line: str) -> list[str]:
    """What bash makes of one completion line: the script's `read` (without -r)
    and then the command line it is inserted into."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    value = subprocess.run([bash, "-c", 'IFS=, read type value <<< "$1"; printf %s "$value"', "_", line],
                           capture_output=True, text=True, check=True).stdout
    words = subprocess.run([bash, "-c", f'for w in {value}; do printf "%s\\0" "$w"; done'],
                           capture_output=True, text=True, check=True, env={"HOME": "/nonexistent"}).stdout
    return words.split("\0")[:-1]


@pytest.mark.process  # bash itself splits the words
def test_a_reward_name_with_spaces_and_shell_characters_is_one_word_in_bash(make_shop):
    shop = make_shop(RULES)
    lines = complete(shop, "loyalty redeem anna --reward ")
    assert [bash_words(line) for line in lines] == [["Free coffee"], ["Tea & 'cake' $HOME *"]]
    assert complete(shop, "loyalty redeem anna --reward Fr", "zsh") == ["plain", "Free coffee", "_"]  # compadd quotes


def test_tiers_and_recent_orders_complete(make_shop):
    shop = make_shop(RULES)
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2025-12-01")
    shop.run("purchase", "anna", "5.00", "--order", "T-1", "--date", "2026-01-01")
    shop.run("purchase", "anna", "5.00", "--order", "T-2", "--date", "2026-01-02")
    shop.run("purchase", "anna", "5.00", "--order", "X-9", "--date", "2026-01-03")
    assert complete(shop, "loyalty refund ") == ["plain,X-9", "plain,T-2", "plain,T-1"]  # the newest first
    assert complete(shop, "loyalty refund T") == ["plain,T-2", "plain,T-1"]
    assert complete(shop, "loyalty promo create --tier ") == ["plain,Bronze", "plain,Silver"]
    assert complete(shop, "loyalty members --tier s") == ["plain,Silver"]


def test_control_characters_in_a_candidate_are_escaped(monkeypatch):
    import loyalty_cli.cli.completion as completion

    monkeypatch.setattr(completion, "_candidates", lambda ctx, kind, incomplete: ["a\nplain,evil", "b\x1b[2J"])
    items = completer("member")(None, None, "")
    assert [i.value for i in items] == ["a\\nplain,evil", "b\\x1b[2J"]
