"""The library is documented, and is a library: help() shows a documented
API, docs/api.md is generated from the code and checked, the README's script
runs and prints what its comments say, and nothing outside cli/ imports
click or rich."""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import pydoc
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import loyalty_cli
from loyalty_cli.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "loyalty_cli"


def _gen_docs():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_docs
    finally:
        sys.path.pop(0)
    return gen_docs


# -- help() -------------------------------------------------------------------


def test_help_of_open_ledger_shows_a_documented_api():
    text = pydoc.render_doc(loyalty_cli.open_ledger, renderer=pydoc.plaintext)
    assert "open_ledger(config: 'str | os.PathLike[str]' = 'loyalty.toml'" in text
    assert "-> 'Ledger'" in text and "Open the programme file `config` and its ledger" in text
    ledger = pydoc.render_doc(loyalty_cli.Ledger, renderer=pydoc.plaintext)
    for method in ("purchase", "balance", "check", "backup", "program"):
        assert f"{method}(self" in ledger, method


def test_every_public_method_and_function_of_the_api_has_a_docstring():
    public = [name for name, _ in inspect.getmembers(loyalty_cli.Ledger, inspect.isfunction)
              if not name.startswith("_")]
    assert {"purchase", "balances", "check", "backup", "program", "complete", "close"} <= set(public)
    assert [name for name in public if not (getattr(loyalty_cli.Ledger, name).__doc__ or "").strip()] == []
    assert loyalty_cli.init.__doc__ and loyalty_cli.open_ledger.__doc__
    assert {"open_ledger", "Ledger", "init", "LoyaltyError"} <= set(dir(loyalty_cli))


# -- docs/api.md ----------------------------------------------------------------


def test_docs_api_md_is_what_the_code_generates():
    gen = _gen_docs()
    assert (ROOT / "docs" / "api.md").read_text(encoding="utf-8") == gen.render_api(), \
        "docs/api.md is stale: run `python scripts/gen_docs.py`"


def test_docs_api_md_names_every_method_and_result():
    from loyalty_cli.api.results import Result

    text = _gen_docs().render_api()
    for name, _ in inspect.getmembers(loyalty_cli.Ledger, inspect.isfunction):
        if not name.startswith("_"):
            assert f"### `Ledger.{name}`" in text, name
    from loyalty_cli.api import admin, points, reports

    for mod in (admin, points, reports):
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, Result) and obj.__module__ == mod.__name__:
                assert f"#### `{obj.__name__}`" in text, obj
    assert "| `points_earned` | `int` |" in text and "| `tier_before` (not in the JSON) | `str` |" in text
    assert "| `amount` | `Decimal` |" in text and "loyalty_cli.api.admin.init" in text


def test_the_stale_check_names_a_stale_api_md(monkeypatch, tmp_path, capsys):
    gen = _gen_docs()
    stale = tmp_path / "api.md"
    stale.write_text(gen.render_api().replace("Record a sale", "Record a sail"), encoding="utf-8")
    monkeypatch.setattr(gen, "API_TARGET", stale)
    assert gen.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "api.md is stale" in err and "commands.md" not in err


# -- the README's script ---------------------------------------------------------


def _readme_script() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The Python API"):]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_the_readme_script_runs_and_prints_what_its_comments_say(tmp_path, monkeypatch):
    script = _readme_script()
    assert len(script.strip().splitlines()) <= 12, "the README promises a short script"
    expected = [m.group(1) for m in re.finditer(r"print\(.*\)\s+# (.*)$", script, flags=re.M)]
    assert len(expected) >= 3
    monkeypatch.chdir(tmp_path)
    for name in ("LOYALTY_CONFIG", "LOYALTY_DB", "LOYALTY_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    r = CliRunner().invoke(cli, ["init"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(script, "README.md", "exec"), {"__name__": "__readme__"})
    assert out.getvalue().splitlines() == expected
    assert CliRunner().invoke(cli, ["balance", "anna", "--format", "csv"]).output.splitlines()[1].startswith("anna,")


# -- a library, under a command line -------------------------------------------------


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (in functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_only_cli_imports_click_or_rich():
    # what `grep -rn "import click\|import rich" loyalty_cli` finds, and `from click...`/`from rich...` too
    grep = [(p, n) for p in PACKAGE.rglob("*.py") for n, line in enumerate(p.read_text(encoding="utf-8")
                                                                           .splitlines(), 1)
            if "import click" in line or "import rich" in line]
    assert grep and all(p.relative_to(PACKAGE).parts[0] == "cli" for p, _ in grep), grep
    outside = {str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if m.split(".")[0] in ("click", "rich")
                                                or m.startswith("loyalty_cli.cli"))
               for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in ("cli", "__main__.py")}
    assert {k: v for k, v in outside.items() if v} == {}


def test_the_cli_reaches_the_ledger_only_through_the_api():
    """cli/ parses, calls the Ledger, renders: it imports api/, domain/ and
    errors, never the layers under the api (ledger, queries, io, store)."""
    below = ("loyalty_cli.ledger", "loyalty_cli.queries", "loyalty_cli.io", "loyalty_cli.store", "loyalty_cli.checks")
    found = {str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if m.startswith(below))
             for p in (PACKAGE / "cli").rglob("*.py")}
    assert {k: v for k, v in found.items() if v} == {}


@pytest.mark.process  # a fresh interpreter: this one has imported click already
def test_using_the_api_imports_neither_click_nor_rich(shop):
    code = ("import sys, loyalty_cli\n"
            f"with loyalty_cli.open_ledger({str(shop.config)!r}) as ledger:\n"
            "    ledger.purchase\n"
            "    assert ledger.check().ok and ledger.program().program.currency\n"
            "    ledger.balances()\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('click', 'rich'))\n"
            "print(bad)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
