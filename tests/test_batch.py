"""`loyalty batch`: one command per line, each its own transaction, one JSON
result per line, through the real CLI on a real ledger."""

import json

from tests.conftest import clean, run_process


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
