"""A batch read from standard input: no line may read that same input under
another name (issue 14, part b2), and a closed standard input is one Error line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import run_process


def _batch(lines: str, shop, cwd) -> list[dict]:
    r = run_process("batch", "-", env={"LOYALTY_CONFIG": str(shop.config)}, input=lines, cwd=cwd)
    return [json.loads(line) for line in r.stdout.splitlines()]


@pytest.mark.process
@pytest.mark.parametrize("line", [
    "import purchases //dev/stdin --dry-run",
    "import purchases stdinlink --dry-run",
    "balance kim --config //dev/stdin",
    "balance kim --config=/dev/fd/0",
    "balance kim --db /proc/self/fd/0",
    "backup stdinlink",
])
def test_a_line_naming_stdin_by_another_spelling_is_refused(shop, tmp_path, line):
    shop.run("enroll", "kim", "--name", "Kim", "--date", "2026-01-01")
    os.symlink("/dev/stdin", tmp_path / "stdinlink")
    text = line + "\n" + "# a comment\n" * 300 + "adjust kim 5 --reason gift\nbalance kim\n"
    out = _batch(text, shop, tmp_path)
    assert [(o["line"], o["exit"]) for o in out] == [(1, 1), (302, 0), (303, 0)]
    assert out[0]["error"].startswith("this line reads standard input, but the batch itself is read from standard")
    assert out[2]["result"][0]["points"] == 5


@pytest.mark.process
def test_batch_with_stdin_closed_is_one_error_line(shop):
    p = subprocess.run(f'"{sys.executable}" -m loyalty_cli batch - 0<&-', shell=True, capture_output=True,
                       text=True, env={**os.environ, "LOYALTY_CONFIG": str(shop.config)}, timeout=120)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        "Error: batch -: standard input is closed, there are no lines to read "
        "(give a file, or feed the lines on standard input)"]
