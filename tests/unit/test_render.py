"""Rendering on a terminal: rich tables that show user text literally."""

import io
import re

from loyalty_cli.cli.render import Col, View, _rich_tables, bar


def test_user_text_is_never_read_as_rich_markup():
    out = io.StringIO()
    rows = [{"member": "[bold]zed", "note": "[/] sorry [red]x"}]
    _rich_tables([View("History of [/]", [Col("member", "Member"), Col("note", "Note")], rows)], out,
                 force_terminal=True)
    text = out.getvalue()
    assert "[bold]zed" in text and "[/] sorry [red]x" in text and "History of [/]" in text


def test_kv_and_empty_views_render_on_a_terminal():
    out = io.StringIO()
    _rich_tables([View("Profile", [Col("field", "Field"), Col("value", "Value")],
                       [{"field": "points", "value": 12}], kv=True),
                  View("Recent [history]", [Col("a", "A")], [], empty="no entries yet")], out, force_terminal=True)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    assert "points" in text and "12" in text and "Recent [history]: no entries yet" in text


def test_bars_scale_to_the_largest_value():
    assert bar(10, 10, width=4) == "████"
    assert bar(5, 10, width=4) == "██"
    assert bar(0, 10) == "" and bar(3, 0) == ""
    assert bar(1, 16, width=2) == "▏"  # one eighth of a cell
