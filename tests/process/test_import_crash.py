"""Killed mid-import (kill -9, as a power cut would): the ledger still passes
`check`, nothing is half-imported, and running the import again finishes it."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.process  # every test here runs real processes

ROWS = 20_000
MEMBERS = 2_000


def _file(tmp_path):
    rnd = random.Random(7)
    f = tmp_path / "big.csv"
    with open(f, "w") as out:
        out.write("member,amount,date,order\n")
        for i in range(ROWS):
            day = 1 + i * 360 // ROWS
            out.write(f"m{rnd.randrange(MEMBERS)},{rnd.randrange(100, 9000) / 100:.2f},"
                      f"2025-{1 + (day - 1) // 30:02d}-{1 + (day - 1) % 28:02d},o{i}\n")
    return f


def test_an_import_killed_at_random_moments_leaves_nothing_half_done(shop, tmp_path):
    f = _file(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env["LOYALTY_CONFIG"] = str(shop.config)
    cmd = [sys.executable, "-m", "loyalty_cli", "import", "purchases", str(f), "--create-members"]
    rnd = random.Random(11)
    kills = 0
    for _ in range(6):
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rnd.uniform(0.3, 1.5))  # start-up takes ~0.8 s: some kills land before, most during
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            kills += 1
        p.communicate(timeout=120)
        assert shop.run("check").stdout == ""
        count = shop.sql("SELECT count(*) FROM purchases")[0][0]
        assert count in (0, ROWS), count  # all or nothing
        if count:
            break
    assert kills, "every import finished before it could be killed; make the file bigger"
    done = subprocess.run(cmd + ["--format", "json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert shop.sql("SELECT count(*) FROM purchases") == [(ROWS,)]
    assert shop.sql("SELECT count(*) FROM members") == [(len({r for r in _members(f)}),)]
    assert shop.run("check").stdout == ""
    again = subprocess.run(cmd + ["--format", "json"], env=env, capture_output=True, text=True, timeout=300)
    assert '"added": 0' in again.stdout and f'"skipped": {ROWS}' in again.stdout


def _members(f):
    with open(f) as fh:
        next(fh)
        for line in fh:
            yield line.split(",", 1)[0]
