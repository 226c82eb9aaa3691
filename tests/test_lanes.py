"""The suite's own rules: the two lanes (see tests/conftest.py)."""

import os
import subprocess
import sys

import pytest

from tests import conftest


def test_an_unmarked_test_that_starts_a_process_fails():
    with pytest.raises(pytest.fail.Exception, match="mark it @pytest.mark.process"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)
    with pytest.raises(pytest.fail.Exception, match="mark it @pytest.mark.process"):
        os.fork()


@pytest.mark.process
def test_a_process_test_may_start_one():
    assert subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout == "42\n"


def test_the_lane_chooses_the_example_count(pytestconfig):
    expr = " ".join((pytestconfig.getoption("markexpr") or "").split())
    lane = os.environ.get("LOYALTY_TEST_LANE") or ("fast" if "not process" in expr else "full")
    assert conftest.examples(200, 30) == (30 if lane == "fast" else 200)
