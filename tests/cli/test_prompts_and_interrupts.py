"""Ctrl-C is one line on stderr; Ctrl-D at a [y/N] prompt is "not confirmed",
exit 1; a closed stdin is no terminal to confirm at (issue 14)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from loyalty_cli.cli import app

ROLLED_BACK = "Interrupted; nothing was written (what was under way was rolled back).\n"


def test_ctrl_c_is_exactly_one_line_on_stderr(shop, monkeypatch):
    from loyalty_cli.ledger import operations

    shop.run("enroll", "anna", "--name", "Anna")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(operations, "purchase", interrupted)
    r = shop.invoke("purchase", "anna", "10.00")
    assert r.exit_code == 130
    assert r.stderr == ROLLED_BACK  # no blank line before it (click's, for the terminal's ^C)


@pytest.mark.process
def test_ctrl_c_with_stderr_in_a_file_writes_one_line(shop, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env["LOYALTY_CONFIG"] = str(shop.config)
    with open(tmp_path / "err.txt", "w") as err:
        p = subprocess.Popen([sys.executable, "-m", "loyalty_cli", "batch", "-"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        p.stdin.write("balance\n")
        p.stdin.flush()
        assert p.stdout.readline() is not None
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=60)
    assert p.returncode == 130
    assert (tmp_path / "err.txt").read_text().startswith("Interrupted; ")
    assert (tmp_path / "err.txt").read_text().count("\n") == 1


@pytest.mark.parametrize("args", [["forget", "bob"], ["promo", "disable", "SUMMER"]])
def test_ctrl_d_at_a_confirm_prompt_is_not_confirmed(shop, monkeypatch, args):
    shop.run("enroll", "bob", "--name", "Bob")
    shop.run("promo", "create", "SUMMER", "--percent", "10")
    monkeypatch.setattr(app, "_is_terminal", lambda stream: stream is sys.stdin)  # a terminal, then Ctrl-D
    before = shop.snapshot()
    r = shop.invoke(*args, input="")
    assert r.exit_code == 1, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "Error: not confirmed; nothing was written"
    assert "Interrupted" not in r.stderr
    assert shop.snapshot() == before


@pytest.mark.process
@pytest.mark.parametrize("args", [["forget", "bob"], ["promo", "disable", "SUMMER"]])
def test_a_closed_stdin_is_no_terminal_to_confirm_at(shop, args):
    shop.run("enroll", "bob", "--name", "Bob")
    shop.run("promo", "create", "SUMMER", "--percent", "10")
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env["LOYALTY_CONFIG"] = str(shop.config)
    before = shop.snapshot()
    p = subprocess.run([bash, "-c", 'exec "$@" 0<&-', "_", sys.executable, "-m", "loyalty_cli", *args],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 1, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "--yes" in lines[0], p.stderr
    assert "internal error" not in p.stderr
    assert shop.snapshot() == before
