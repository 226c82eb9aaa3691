"""`loyalty batch` calls the same Ledger in one process: the batch's defaults
come through the click context (not the environment), its lines share one
Ledger, a line's result is the document its command emitted and its error the
exception it raised (nothing parsed back out of stdout or stderr)."""

import json
import os

import pytest

from loyalty_cli.cli import app, batch_runner


def _results(r):
    return [json.loads(line) for line in r.stdout.splitlines()]


@pytest.fixture
def anna(shop):
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    return shop


def test_a_batch_sets_nothing_in_the_environment(anna, monkeypatch):
    seen = []
    real = batch_runner.run_line

    def watched(*args, **kwargs):  # the environment around every line: never changed, no LOYALTY_FORMAT
        seen.append(dict(os.environ))
        try:
            return real(*args, **kwargs)
        finally:
            seen.append(dict(os.environ))

    monkeypatch.setattr(batch_runner, "run_line", watched)
    r = anna.invoke("batch", "-", input="purchase anna 5.00 --order B --date 2026-01-02\nbalance anna\n")
    assert r.exit_code == 0, r.stderr
    out = _results(r)
    assert out[0]["result"]["order"] == "B" and out[1]["result"][0]["points"] == 5  # JSON, with no LOYALTY_FORMAT
    assert len(seen) == 4 and all(env == seen[0] for env in seen)
    assert "LOYALTY_FORMAT" not in seen[0]


def test_no_module_globals_carry_the_batch():
    assert not hasattr(app, "REUSE") and not hasattr(app, "RECORDS")


def test_a_lines_result_is_the_emitted_document_not_parsed_output(anna, monkeypatch):
    class NoParsing:
        dumps = staticmethod(json.dumps)

        @staticmethod
        def loads(text):
            raise AssertionError("a line's output was parsed")

    monkeypatch.setattr(batch_runner, "json", NoParsing)
    r = anna.invoke("batch", "-", input="purchase anna 5.00 --order A --date 2026-01-02\nbalance\ncheck\nprogram\n"
                                        "balance --format csv\n")
    out = _results(r)
    assert out[0]["result"]["points_earned"] == 5 and out[1]["result"][0]["points"] == 5
    assert out[2]["result"] == {"ok": True, "problems": [], "head": None}
    assert out[3]["result"]["program"]["currency"] == "EUR"
    assert out[4]["result"] == "member,name,points,tier\nanna,Anna,5,Member\n"  # a text format: its text


def test_the_batchs_options_come_before_the_environment_and_a_lines_own_before_them(anna, tmp_path):
    other = tmp_path / "other.db"
    anna.run("init", "--db", str(other), "--config", str(tmp_path / "other.toml"))
    anna.run("enroll", "zed", "--name", "Zed", "--db", str(other), "--date", "2026-01-01")
    env = {**anna.env(), "LOYALTY_DB": str(tmp_path / "nowhere.db"), "LOYALTY_FORMAT": "table"}
    r = anna.runner.invoke(app.cli, ["batch", "-", "--db", str(anna.db)], env=env, catch_exceptions=False,
                           input=f"balance\nbalance --db {other}\n--db {other} balance\n--format csv balance\n")
    out = _results(r)
    assert [o["exit"] for o in out] == [0, 0, 0, 0], out
    assert [row["member"] for row in out[0]["result"]] == ["anna"]  # the batch's --db beats LOYALTY_DB
    assert [row["member"] for row in out[1]["result"]] == ["zed"]  # the line's own --db wins
    assert [row["member"] for row in out[2]["result"]] == ["zed"]  # also before the command
    assert out[3]["result"].startswith("member,name")  # JSON is the batch's default, not LOYALTY_FORMAT's table


def test_the_lines_share_one_ledger(anna, monkeypatch):
    from loyalty_cli.store import db

    opened = []
    real = db.engine_for
    monkeypatch.setattr(db, "engine_for", lambda url, **kw: opened.append(url) or real(url, **kw))
    r = anna.invoke("batch", "-", input="".join(f"purchase anna 1.00 --order P{i} --date 2026-01-02\n"
                                                 for i in range(5)) + "balance\nshow anna\n")
    assert [o["exit"] for o in _results(r)] == [0] * 7
    assert len(opened) == 1, opened


def test_an_internal_error_is_one_line_exit_3_alone_and_in_a_batch(anna, monkeypatch):
    from loyalty_cli.ledger import operations

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(operations, "adjust", broken)
    r = anna.invoke("adjust", "anna", "5", "--reason", "x")
    assert r.exit_code == 3
    assert r.stderr == ("Error: internal error (RuntimeError: boom second line); run again with LOYALTY_DEBUG=1 "
                        "for a traceback and please report it\n")
    r = anna.invoke("batch", "-", input="adjust anna 5 --reason x\nbalance\n")
    out = _results(r)
    assert [o["exit"] for o in out] == [3, 0]
    assert out[0]["error"] == ("internal error (RuntimeError: boom second line); run again with LOYALTY_DEBUG=1 "
                               "for a traceback and please report it")
    assert out[0]["message"] is None and out[0]["result"] is None


def test_what_a_line_says_on_stderr_is_its_message(make_shop):
    from tests.conftest import programme, programme_file

    shop = make_shop(programme(programme_file("gold_at_100")))
    shop.run("enroll", "anna", "--name", "Anna", "--date", "2026-01-01")
    r = shop.invoke("batch", "-", input="purchase anna 150.00 --order A --date 2026-01-02 --format table\n"
                                        "purchase anna 1.00 --order B --date 2026-01-02\n")
    out = _results(r)
    assert out[0]["message"] == "anna is now Gold (was Bronze)."
    assert out[0]["result"].startswith("Member") and out[0]["error"] is None  # a table: its text
    assert out[1]["message"] is None and out[1]["result"]["tier"] == "Gold"


def test_ctrl_c_in_a_batch_says_the_lines_before_it_stay_written(anna, monkeypatch):
    from loyalty_cli.ledger import operations

    real = operations.purchase

    def second_interrupted(conn, prog, member, amount, **kw):
        if kw.get("order_id") == "B":
            raise KeyboardInterrupt
        return real(conn, prog, member, amount, **kw)

    monkeypatch.setattr(operations, "purchase", second_interrupted)
    r = anna.invoke("batch", "-", input="purchase anna 1.00 --order A --date 2026-01-02\n"
                                        "purchase anna 1.00 --order B --date 2026-01-02\n")
    assert r.exit_code == 130
    assert r.stderr.strip().splitlines()[-1] == "Interrupted; the change made before it stays written."
    assert anna.sql("SELECT order_id FROM purchases") == [("A",)]
    r = anna.invoke("batch", "-", input="balance\npurchase anna 1.00 --order B --date 2026-01-02\n")
    assert r.stderr.strip().splitlines()[-1] == "Interrupted; nothing was written (what was under way was rolled back)."
