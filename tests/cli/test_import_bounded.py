"""Import: bounded memory on input with no line breaks (issue 14). A CSV
"line" that never ends grew to 24 GB; now a line or a row past the limit is a
one-line error. Run only as real processes under an address-space limit,
with bounded inputs."""

import os
import subprocess
import sys
import tempfile

import pytest

resource = pytest.importorskip("resource")

LIMIT = 1536 * 1024 * 1024  # 1.5 GB of address space


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def _import(shop, kind, chunks, *args):
    """`loyalty import KIND - ARGS` under the memory limit, fed `chunks` (a bounded generator) on stdin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env["LOYALTY_CONFIG"] = str(shop.config)
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen([sys.executable, "-m", "loyalty_cli", "import", kind, "-", *args],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=env,
                             preexec_fn=_limited)
        try:
            try:
                for chunk in chunks:
                    p.stdin.write(chunk)
                p.stdin.close()
            except (BrokenPipeError, OSError):
                pass  # it stopped reading: the point
            p.wait(timeout=120)
        finally:
            try:
                p.stdin.close()
            except OSError:
                pass
            if p.poll() is None:
                p.kill()
                p.wait()
        err.seek(0)
        return p.returncode, err.read().decode()


def _bytes(total, piece):
    block = piece * (1024 * 1024 // len(piece))
    for _ in range(total // len(block)):
        yield block


@pytest.mark.process
@pytest.mark.parametrize("kind", ["purchases", "members"])
def test_a_line_without_an_end_is_a_one_line_error_in_bounded_memory(shop, kind):
    before = shop.snapshot()
    code, err = _import(shop, kind, _bytes(64 * 1024 * 1024, b"a"), "--dry-run")
    assert code == 1 and err.splitlines() == [
        "Error: line 1 is longer than 4 MiB characters (no line break): not a CSV file a till or shop exports"], err
    # past a good header and row too
    code, err = _import(shop, kind, iter([b"member,name,amount,date\nanna,Anna,1.00,2026-01-02\n",
                                          *_bytes(64 * 1024 * 1024, b"a")]))
    assert code == 1 and err.splitlines() == [
        "Error: line 3 is longer than 4 MiB characters (no line break): not a CSV file a till or shop exports"], err
    assert shop.snapshot() == before


@pytest.mark.process
def test_a_row_of_quoted_fields_spanning_lines_is_bounded_too(shop):
    start = iter([b'member,amount,date\nanna,1.00,"x\n'])
    code, err = _import(shop, "purchases", (c for part in (start, _bytes(64 * 1024 * 1024, b'","y\n')) for c in part))
    assert code == 1 and err.splitlines() == [
        "Error: line 2: the row is longer than 16 MiB characters over several lines (a quote that is never closed?)"
    ], err
