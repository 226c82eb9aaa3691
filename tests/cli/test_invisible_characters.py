"""Invisible characters in user data are shown escaped (issue 14): every
Unicode format character (Cf) and private-use character (Co), not only the
bidi controls; the joiners pass only inside non-ASCII text (an emoji sequence,
a Persian word)."""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest

from loyalty_cli.cli.render import json_safe, printable

INVISIBLE = {"zwsp": "\u200b", "bom": "\ufeff", "soft-hyphen": "\u00ad", "tag-a": "\U000e0041",
             "tag-cancel": "\U000e007f", "annotation": "\ufff9", "word-joiner": "\u2060",
             "private-use": "\ue000", "zwj-in-ascii": "\u200d"}


@pytest.mark.parametrize("what", sorted(INVISIBLE))
def test_an_invisible_character_in_a_name_is_shown_escaped(shop, what):
    ch = INVISIBLE[what]
    shop.run("enroll", "zed", "--name", f"Ze{ch}d", "--date", "2026-01-01")
    escaped = ch.encode("unicode_escape").decode()
    for args in (["balance"], ["show", "zed"], ["members", "--format", "csv"]):
        out = shop.run(*args).stdout
        assert ch not in out and f"Ze{escaped}d" in out, (args, out)
    raw = shop.run("balance", "--format", "json").stdout
    assert ch not in raw
    assert json.loads(raw)[0]["name"] == f"Ze{ch}d"  # the same string to a JSON reader


def test_joiners_pass_inside_emoji_and_words_that_need_them(shop):
    family, persian = "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    shop.run("enroll", "fam", "--name", f"{family} {persian}", "--date", "2026-01-01")
    assert f"{family} {persian}" in shop.run("balance").stdout


@pytest.mark.skipif(sys.maxunicode < 0x10FFFF, reason="narrow build")
def test_every_format_and_private_use_character_is_escaped():
    missed = []
    for cp in range(0x110000):
        ch = chr(cp)
        if unicodedata.category(ch) in ("Cf", "Co", "Cs", "Cc") and printable(f"a{ch}a") == f"a{ch}a":
            missed.append(hex(cp))
        if unicodedata.category(ch) in ("Cf", "Co") and ch in json_safe(json.dumps(f"a{ch}a", ensure_ascii=False)):
            missed.append(f"json {cp:#x}")
    assert missed == []
