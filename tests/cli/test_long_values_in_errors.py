"""No Error line echoes a huge value in full (issue 14, part b2): every error
line is shortened in one place, the value's start and its length kept."""

from __future__ import annotations

import pytest

NINES = "9" * 5000
XS = "x" * 100_000


@pytest.mark.parametrize("args, start", [
    (("show", "kim", "--as-of", f"{NINES}-01-01"), "Error: --as-of '99999"),
    (("purchase", "kim", "1", "--order", XS), "Error: order id 'xxxxx"),
    (("enroll", XS, "--name", "A"), "Error: member id 'xxxxx"),
    (("show", XS), "Error: unknown member 'xxxxx"),
    (("redeem", "kim", "--reward", XS), "Error: unknown reward 'xxxxx"),
])
def test_a_huge_value_is_shortened_in_the_error_line(shop, args, start):
    shop.run("enroll", "kim", "--name", "Kim")
    r = shop.fail(*args)
    line = r.stderr.strip()
    assert line.startswith(start) and len(line) < 300, line[:400]
    assert "characters)" in line


def test_a_batch_line_error_is_shortened_too(shop, tmp_path):
    import json

    shop.run("enroll", "kim", "--name", "Kim")
    f = tmp_path / "b.txt"
    f.write_text(f"purchase kim 1 --order {XS}\n")
    r = shop.invoke("batch", str(f))
    doc = json.loads(r.stdout.splitlines()[0])
    assert doc["error"].startswith("order id 'xxxxx") and len(doc["error"]) < 300, doc["error"][:400]
