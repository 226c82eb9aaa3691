"""scripts/check_function_length.py: no function over 60 lines without a reason on its def line."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process  # every test here runs the script as a process

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "check_function_length.py"


def check(*paths):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, paths)], capture_output=True, text=True, cwd=ROOT)


def function(name, body_lines, mark="", doc_lines=0):
    doc = ['    """' + "doc\n" * doc_lines + '    """'] if doc_lines else []
    return "\n".join([f"def {name}():{mark}", *doc, *(f"    x{i} = {i}" for i in range(body_lines))]) + "\n"


def test_the_package_scripts_and_benchmarks_are_within_the_limit():
    r = check("loyalty_cli", "scripts", "benchmarks")
    assert (r.returncode, r.stdout) == (0, "")


def test_a_long_function_is_named_with_its_length(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(function("short", 58) + function("long_one", 61))  # 59 and 62 lines with the def
    r = check(f)
    assert r.returncode == 1
    assert r.stdout == f"{f}:60: long_one is 62 lines (limit 60): split it, or say why on its def line (# long: ...)\n"


def test_a_docstring_does_not_count(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(function("documented", 50, doc_lines=30))
    assert check(f).returncode == 0


def test_a_reason_on_the_def_line_allows_it_and_an_empty_or_stale_one_is_refused(tmp_path):
    ok, empty, stale = tmp_path / "ok.py", tmp_path / "empty.py", tmp_path / "stale.py"
    ok.write_text(function("long_one", 70, mark="  # long: the steps of one transaction, in order"))
    empty.write_text(function("long_one", 70, mark="  # long:"))
    stale.write_text(function("short", 10, mark="  # long: it used to be"))
    assert (check(ok).returncode, check(ok).stdout) == (0, "")
    assert "needs a reason" in check(empty).stdout
    r = check(stale)
    assert r.returncode == 1 and "within the limit of 60: remove its '# long:' reason" in r.stdout
