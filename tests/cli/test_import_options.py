"""Import options that were silently ignored or could hang (issue 14):
empty values, --rejects on the standard input, a rejects file that fails."""

import os
import sys

import pytest

from tests.conftest import run_process

GOOD = "member,amount,date\nanna,5.00,2026-01-02\nzed,1.00,2026-01-02\n"


@pytest.mark.parametrize("option", ["--rejects", "--map", "--where", "--date-format", "--encoding", "--delimiter"])
@pytest.mark.parametrize("kind", ["purchases", "members"])
def test_an_empty_option_value_is_an_error_not_the_default(shop, tmp_path, option, kind):
    f = tmp_path / "in.csv"
    f.write_text(GOOD if kind == "purchases" else "member,name\nx1,X\n")
    before = shop.snapshot()
    shop.fail("import", kind, f, "--skip-errors", option, "", contains=f"Error: {option} is empty")
    assert shop.snapshot() == before


@pytest.mark.process
@pytest.mark.skipif(not os.path.exists("/dev/stdin"), reason="needs /dev/stdin")
def test_rejects_on_the_piped_stdin_is_refused_before_the_import_not_a_hang(shop):
    env = {"LOYALTY_CONFIG": str(shop.config)}
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    before = shop.snapshot()
    for file in ("-", str(shop.folder / "other.csv")):
        (shop.folder / "other.csv").write_text(GOOD)
        p = run_process("import", "purchases", file, "--skip-errors", "--rejects", "/dev/stdin", env=env,
                        input=GOOD, timeout=60)
        assert p.returncode == 1 and p.stderr.splitlines() == [
            "Error: --rejects /dev/stdin is the standard input the import reads; name a file (or /dev/stderr to see "
            "the rejected rows)"], p.stderr
    assert shop.snapshot() == before
    # the rejected rows to stderr is allowed, and handy
    p = run_process("import", "purchases", "-", "--skip-errors", "--rejects", "/dev/stderr", env=env, input=GOOD,
                    timeout=60)
    assert p.returncode == 0, p.stderr
    assert "member,amount,date,line,reason" in p.stderr and "zed,1.00,2026-01-02,3,unknown member" in p.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_rows_a_failing_rejects_file_could_not_take_are_named_on_stderr(shop, tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("member,name,email\nx1,X,\nx2,Y,not-an-email\n")
    r = shop.invoke("import", "members", f, "--skip-errors", "--rejects", "/dev/full")
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    lines = r.stderr.rstrip().splitlines()
    assert lines[0].startswith("  rejected line 3") and len(lines) == 2, r.stderr
    assert lines[-1].startswith("Error: could not write the rejects file (/dev/full") and "1 added" in lines[-1]
    assert shop.sql("SELECT id FROM members") == [("x1",)]
