"""`loyalty batch`: one command per line, each its own transaction, one JSON
result per line, through the real CLI on a real ledger."""

import json

import pytest

from tests.conftest import clean, run_process

pytestmark = [pytest.mark.backends("sqlite", "postgresql"), pytest.mark.pg_full]  # PostgreSQL: the whole run


def _results(r):
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_each_line_runs_as_if_typed_and_prints_one_json_result(shop, tmp_path):
    f = tmp_path / "tonight.txt"
    f.write_text("# the evening's work\n"
                 "enroll anna --name 'Anna Tamm' --date 2026-01-01\n"
                 "\n"
                 "loyalty purchase anna 12.50 --order T-1 --date 2026-01-02\n"
                 "purchase anna 7.50 --order T-2 --date 2026-01-03   # a comment after a command\n"
                 "balance anna\n")
    r = shop.run("batch", str(f))
    out = _results(r)
    assert [(o["line"], o["exit"], o["error"]) for o in out] == [(2, 0, None), (4, 0, None), (5, 0, None),
                                                                  (6, 0, None)]
    assert out[0]["result"] == {"member": "anna", "name": "Anna Tamm", "points": 0, "referred_by": None}
    assert out[1]["result"]["points_earned"] == 12 and out[1]["result"]["order"] == "T-1"
    assert out[2]["result"]["points"] == 19
    assert out[3]["result"] == [{"member": "anna", "name": "Anna Tamm", "points": 19, "tier": "Member"}]
    # the ledger is the same as if the commands had been typed
    assert shop.sql("SELECT order_id, amount FROM purchases ORDER BY id") == [("T-1", 1250), ("T-2", 750)]
    clean(shop)


def test_a_failed_line_is_reported_and_the_rest_still_run(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    text = ("purchase anna 10.00 --order A --date 2026-01-02\n"
            "purchase anna -5 --date 2026-01-02\n"
            "redeem anna 5000 --date 2026-01-02\n"
            "purchase anna 10.00 --order A --date 2026-01-02\n"
            "purchase anna 3.00 --order B --date 2026-01-02\n"
            "frobnicate\n"
            "purchase 'unbalanced\n")
    r = shop.invoke("batch", "-", input=text)
    assert r.exit_code == 1
    assert r.stderr.strip().splitlines() == ["Error: 5 of 7 commands failed (see their lines)"]
    out = _results(r)
    assert [o["exit"] for o in out] == [0, 1, 1, 1, 0, 2, 1]
    assert "not a valid amount" in out[1]["error"] or "negative" in out[1]["error"], out[1]
    assert out[2]["error"].startswith("cannot redeem 5000 points")
    assert "already recorded" in out[3]["error"]
    assert "No such command 'frobnicate'" in out[5]["error"]
    assert out[6]["error"] == "cannot read line 7: No closing quotation"
    # the good lines stayed written, each in its own transaction
    assert shop.sql("SELECT order_id FROM purchases ORDER BY id") == [("A",), ("B",)]
    clean(shop)


def test_stop_on_error_stops_at_the_first_failure(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    text = ("purchase anna 10.00 --order A --date 2026-01-02\n"
            "purchase nobody 1.00 --date 2026-01-02\n"
            "purchase anna 3.00 --order B --date 2026-01-02\n")
    r = shop.invoke("batch", "-", "--stop-on-error", input=text)
    assert r.exit_code == 1
    assert r.stderr.strip() == "Error: 1 of 2 commands failed; stopped at the first (see their lines)"
    assert [o["line"] for o in _results(r)] == [1, 2]
    assert shop.sql("SELECT order_id FROM purchases") == [("A",)]


def test_a_line_may_ask_for_another_format_and_destructive_lines_need_yes(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    r = shop.invoke("batch", "-", input="balance --format csv\nforget anna\nforget anna --yes\n")
    out = _results(r)
    assert out[0]["result"] == "member,name,points,tier\nanna,Anna,0,Member\n"
    assert out[1]["exit"] == 1 and "needs --yes" in out[1]["error"]
    assert out[2]["exit"] == 0
    assert shop.sql("SELECT name FROM members") == [(None,)]


def test_init_and_a_nested_batch_are_refused_inside_a_batch(shop):
    r = shop.invoke("batch", "-", input="init\nbatch -\n")
    out = _results(r)
    assert [o["exit"] for o in out] == [2, 2]
    assert "`init` cannot run inside a batch" in out[0]["error"]


def test_a_line_that_is_not_utf8_is_refused_alone(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    f = tmp_path / "b.txt"
    f.write_bytes(b"enroll bob --name B\xffb --date 2026-01-01\npurchase anna 1.00 --date 2026-01-02\n")
    r = shop.invoke("batch", str(f))
    out = _results(r)
    assert [o["exit"] for o in out] == [1, 0]
    assert out[0]["error"] == "cannot read line 1: it is not UTF-8 text"


def test_an_empty_batch_does_nothing(shop):
    r = shop.run("batch", "-", input="\n# nothing\n")
    assert r.stdout == "" and r.exit_code == 0


@pytest.mark.process
def test_batch_as_a_real_process_from_a_pipe(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    lines = "".join(f"purchase anna 1.00 --order p{i} --date 2026-01-02\n" for i in range(200))
    r = run_process("batch", "-", env={"LOYALTY_CONFIG": str(shop.config)}, input=lines)
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(out) == 200 and all(o["exit"] == 0 for o in out)
    assert out[-1]["result"]["points"] == 200
    assert shop.json("balance", "anna")[0]["points"] == 200
    clean(shop)


def test_a_line_reading_stdin_cannot_swallow_a_batch_read_from_stdin(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    text = ("import purchases -\n"
            "purchase anna 1.00 --order S1 --date 2026-01-02\n"
            f"import members {tmp_path / 'none.csv'} --delimiter -\n"
            "import members /dev/stdin\n"
            "purchase anna 1.00 --order S2 --date 2026-01-02\n")
    r = shop.invoke("batch", "-", input=text)
    out = _results(r)
    assert [(o["line"], o["exit"]) for o in out] == [(1, 1), (2, 0), (3, 2), (4, 1), (5, 0)]
    for o in (out[0], out[3]):
        assert o["error"].startswith("this line reads standard input, but the batch itself is read from standard "
                                     "input"), o
    assert "No such file" in out[2]["error"]  # `-` as an option's value is not standard input
    assert shop.sql("SELECT order_id FROM purchases ORDER BY id") == [("S1",), ("S2",)]
    # a batch read from a file leaves standard input to its lines
    f = tmp_path / "b.txt"
    f.write_text("import purchases -\n")
    r = shop.run("batch", str(f), input="member,amount,date,order\nanna,2.00,2026-01-03,S3\n")
    assert _results(r)[0]["result"]["added"] == 1
    clean(shop)


def test_lines_that_cannot_be_commands_fail_alone_and_write_nothing(shop, tmp_path):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    f = tmp_path / "b.txt"
    f.write_bytes(b"purchase anna 1.00 --order 'X\xff' --date 2026-01-02\n"   # not UTF-8
                  b"purchase anna 1.00 --order 'a\x00b' --date 2026-01-02\n"  # a NUL byte
                  b"loyalty\n"                                                  # no command
                  b"   \t \n"                                                   # blank: skipped
                  b"   # only a comment\n"                                      # skipped
                  b"purchase anna 'unbalanced --date 2026-01-02\n"
                  b"batch -\n"
                  b"forget anna\n"
                  b"enroll bob --name \"B\xc3\xa9\" --date 2026-01-01 # caf\xe9\n")  # a bad byte in a comment too
    before = shop.snapshot()
    r = shop.invoke("batch", str(f))
    out = _results(r)
    assert [(o["line"], o["exit"]) for o in out] == [(1, 1), (2, 1), (3, 1), (6, 1), (7, 2), (8, 1), (9, 1)]
    assert out[0]["error"] == "cannot read line 1: it is not UTF-8 text"
    assert out[1]["error"] == "cannot read line 2: it holds a NUL byte"
    assert out[2]["error"] == "cannot read line 3: it names no command (`loyalty` alone)"
    assert out[3]["error"] == "cannot read line 6: No closing quotation"
    assert "`batch` cannot run inside a batch" in out[4]["error"]
    assert "needs --yes" in out[5]["error"]
    assert out[6]["error"] == "cannot read line 9: it is not UTF-8 text"
    assert r.stderr.strip() == "Error: 7 of 7 commands failed (see their lines)"
    assert shop.snapshot() == before


@pytest.mark.process
def test_a_not_utf8_line_in_a_real_process_writes_nothing(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    before = shop.snapshot()
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "loyalty_cli", "batch", "-"], capture_output=True,
                       input=b"purchase anna 1.00 --order \xff1 --date 2026-01-02\nenroll b\xe9 --name B\n",
                       env={"PATH": "/usr/bin:/bin", "LOYALTY_CONFIG": str(shop.config)}, timeout=120)
    assert p.returncode == 1
    assert [o["error"] for o in map(json.loads, p.stdout.splitlines())] == [
        "cannot read line 1: it is not UTF-8 text", "cannot read line 2: it is not UTF-8 text"]
    assert shop.snapshot() == before
