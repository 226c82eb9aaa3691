"""The docs cannot drift from the code.

- docs/commands.md is what scripts/gen_docs.py generates from the commands'
  --help (its --check exits 1 when the file is stale).
- Every ```console block in README.md and docs/*.md is run: each file's blocks
  in order, in one fresh folder, through the CLI in process (CliRunner, so
  output is piped: plain tables, no colour), and the output is compared
  exactly. See docs/development.md, "Examples that are tested", for the format.
- docs/programme.md names every key of the programme file's SCHEMA with its
  default.

To see what a file's examples print now (to write or fix one):
    .venv/bin/python tests/test_docs.py docs/numbers.md
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DATA = Path(__file__).parent / "data"
PLACEHOLDER = "..."
ENV = {"LOYALTY_CONFIG": None, "LOYALTY_DB": None, "LOYALTY_FORMAT": None, "LOYALTY_DEBUG": None,
       "NO_COLOR": "1", "COLUMNS": "80"}


@dataclass
class Step:
    line: int  # where in the Markdown file, for the failure message
    command: str = ""  # a `$ ...` line (continuations joined); empty for a file to write
    expected: list[str] = field(default_factory=list)
    file: str | None = None  # a ```lang file=NAME block: written into the folder at this point


_FENCE = re.compile(r"^```(\S*)(.*)$")


def steps(path: Path) -> list[Step]:
    """The console commands and example files of a Markdown file, in order."""
    out: list[Step] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m or not m.group(1):
            i += 1
            continue
        lang, rest = m.group(1), m.group(2)
        start = i + 1
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        i += 1
        name = re.search(r"\bfile=(\S+)", rest)
        if name:
            out.append(Step(start, file=name.group(1), expected=body))
        elif lang == "console":
            out.extend(_console(body, start))
    return out


def _console(body: list[str], start: int) -> list[Step]:
    out: list[Step] = []
    j = 0
    while j < len(body):
        text = body[j]
        if text.startswith("$ "):
            step = Step(start + j + 1, text[2:])
            while step.command.endswith("\\") and j + 1 < len(body):
                j += 1
                step.command = step.command[:-1] + " " + body[j].strip()
            out.append(step)
        elif out:
            out[-1].expected.append(text)
        else:
            raise ValueError(f"line {start + j + 1}: a console block must start with a `$ ` command")
        j += 1
    return out


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; a line that is only `...` stands for any number of lines,
    and `...` inside a line for any text."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == PLACEHOLDER:
        return any(_matches(rest, actual[k:]) for k in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in head.split(PLACEHOLDER))
    return re.fullmatch(pattern, actual[0]) is not None and _matches(rest, actual[1:])


def _trim(lines: list[str]) -> list[str]:
    lines = [ln.rstrip() for ln in lines]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def _deterministic(args: list[str]) -> str | None:
    """Why this command's output would depend on the day it runs, if it would."""
    import click

    from loyalty_cli.cli import cli

    cmd: click.Command = cli
    for a in args:
        if isinstance(cmd, click.Group) and a in cmd.commands:
            cmd = cmd.commands[a]
    names = {p.name for p in cmd.params}
    if "when" in names and not any(a == "--date" or a.startswith("--date=") for a in args):
        return "give --date, so the example does not depend on the day it runs"
    if "as_of" in names and not any(a == "--as-of" or a.startswith("--as-of=") for a in args):
        return "give --as-of, so the example does not depend on the day it runs"
    return None


def run(cmdline: str, folder: Path) -> tuple[int, list[str]]:
    """One `$` line in `folder`: `loyalty ...` (optionally `> FILE`), or `cat FILE`."""
    from click.testing import CliRunner

    from loyalty_cli.cli import cli

    words = shlex.split(cmdline, comments=True)
    if words[:1] == ["cat"] and len(words) == 2:
        return 0, (folder / words[1]).read_text(encoding="utf-8").splitlines()
    target = None
    if len(words) >= 2 and words[-2] == ">":
        target, words = words[-1], words[:-2]
    if words[:1] != ["loyalty"]:
        raise ValueError(f"not a loyalty command: {cmdline}")
    why = _deterministic(words[1:])
    if why:
        raise ValueError(f"{cmdline}: {why}")
    r = CliRunner().invoke(cli, words[1:], prog_name="loyalty", env=ENV, catch_exceptions=False)
    if target:
        (folder / target).write_text(r.stdout, encoding="utf-8")
        return r.exit_code, r.stderr.splitlines()
    return r.exit_code, r.output.splitlines()


def transcript(path: Path, folder: Path):
    """Run a file's examples in `folder`: (step, exit code, actual lines) for each command."""
    for name in DATA.glob("*.csv"):  # example inputs, as tests/data has them
        (folder / name.name).write_bytes(name.read_bytes())
    todo = steps(path)
    if todo and not todo[0].command.startswith("loyalty init"):
        code, out = run("loyalty init --sample", folder)
        assert code == 0, out
    for step in todo:
        if step.file:
            (folder / step.file).write_text("\n".join(step.expected) + "\n", encoding="utf-8")
            continue
        code, actual = run(step.command, folder)
        yield step, code, actual


def check(path: Path, folder: Path) -> list[str]:
    """What differs between a file's examples and what they print now."""
    problems = []
    for step, code, actual in transcript(path, folder):
        expected, got = _trim(step.expected), _trim(actual)
        if not _matches(expected, got):
            problems.append(f"{path.name}:{step.line}: $ {step.command}\nexpected:\n"
                            + "\n".join(expected) + "\ngot:\n" + "\n".join(got))
        refused = any(ln.startswith(("Error:", "Usage:")) for ln in expected)
        if (code != 0) != refused:
            problems.append(f"{path.name}:{step.line}: $ {step.command}: exit {code}, "
                            + ("but the example shows an Error: line" if refused else "with no Error: line shown"))
    return problems


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("doc", [d for d in DOCS if d.name != "commands.md"], ids=lambda d: d.name)
def test_the_examples_print_what_the_docs_say(doc, tmp_path):
    problems = check(doc, tmp_path)
    assert not problems, "\n\n".join(problems)


def test_the_readme_and_the_docs_have_examples_to_run():
    counts = {d.name: sum(1 for s in steps(d) if s.command) for d in DOCS}
    for name in ("README.md", "numbers.md", "import.md", "conventions.md"):
        assert counts.get(name, 0) >= 3, counts


def test_a_wrong_example_is_caught(tmp_path):
    doc = tmp_path / "wrong.md"
    doc.write_text("```console\n$ loyalty enroll anna --name Anna --date 2026-01-05\nanna\n"
                   "Enrolled Anna as anna with a welcome bonus of 51 points.\n"
                   "$ loyalty balance --as-of 2026-01-06\n...\nanna ... 50  Bronze\n"
                   "$ loyalty redeem anna 999 --date 2026-01-06\n```\n")
    problems = check(doc, tmp_path)
    assert len(problems) == 3, problems
    assert "51 points" in problems[0]  # the output differs
    assert "balance" not in "".join(problems)  # the placeholders match
    assert "with no Error: line shown" in problems[2]  # a refusal shown as a success


def test_an_example_that_depends_on_today_is_refused(tmp_path):
    with pytest.raises(ValueError, match="give --as-of"):
        run("loyalty balance", tmp_path)
    with pytest.raises(ValueError, match="give --date"):
        run("loyalty purchase anna 5", tmp_path)


def test_placeholders():
    assert _matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert _matches(["a", "...", "d"], ["a", "d"])
    assert not _matches(["a", "...", "d"], ["a", "b"])
    assert _matches(['{"x": ..., "y": 2}'], ['{"x": 17, "y": 2}'])
    assert not _matches(['{"x": ..., "y": 2}'], ['{"x": 17, "y": 3}'])


def _documented_keys(path: Path) -> dict[str, dict[str, str]]:
    """The key tables of docs/programme.md: {section: {key: default as written}}."""
    out: dict[str, dict[str, str]] = {}
    section = None
    for line in path.read_text(encoding="utf-8").splitlines():
        head = re.match(r"^`\[\[?([a-z.]+)\]\]?`", line)
        if head:
            section = head.group(1)
            out.setdefault(section, {})
        row = re.match(r"^\| `([a-z_]+)` \| ([^|]*) \|", line)
        if row and section:
            out[section][row.group(1)] = row.group(2).strip()
    return out


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def test_the_programme_page_documents_every_key_with_its_default():
    from loyalty_cli.domain.config import SCHEMA

    documented = _documented_keys(ROOT / "docs" / "programme.md")
    sections = {s.replace(".<name>", ""): s for s in SCHEMA}
    assert set(documented) == set(sections), "sections of docs/programme.md and SCHEMA differ"
    for name, schema_name in sections.items():
        keys = SCHEMA[schema_name]
        assert set(documented[name]) == set(keys), f"[{name}]: documented keys differ from SCHEMA"
        for key, default in keys.items():
            shown = documented[name][key]
            if default is None:
                assert shown.startswith(("(required)", "none")), f"[{name}] {key}: {shown}"
            else:
                assert shown == f"`{_toml(default)}`", f"[{name}] {key}: documented {shown}, SCHEMA {default!r}"


def _layout(path: Path) -> set[str]:
    """The files under loyalty_cli/ in the Layout block of docs/development.md."""
    text = path.read_text(encoding="utf-8")
    block = text[text.index("## Layout"):].split("```")[1]
    found, stack = set(), []
    for line in block.splitlines():
        m = re.match(r"^( *)(\S+)", line)
        if not m:
            continue
        depth, name = len(m.group(1)) // 2, m.group(2)
        stack = stack[:depth]
        if not stack and name != "loyalty_cli/":
            continue
        if name.endswith("/"):
            stack.append(name)
        else:
            found.add("".join(stack) + name)
    return found


def test_the_layout_in_the_docs_is_the_package():
    listed = _layout(ROOT / "docs" / "development.md")
    package = {str(p.relative_to(ROOT)) for p in (ROOT / "loyalty_cli").rglob("*.py")}
    assert listed - package == set(), "listed in docs/development.md's Layout but missing"
    unlisted = {p for p in package - listed if not p.endswith("/__init__.py") or p == "loyalty_cli/__init__.py"}
    assert unlisted == set(), "modules missing from docs/development.md's Layout"


def test_the_tested_by_table_names_test_files_that_exist():
    text = (ROOT / "docs" / "ledger.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/(?:\w+/)?test_\w+\.py)`", text))  # tests/LAYER/test_*.py
    assert len(named) >= 8, named
    assert {n for n in named if not (ROOT / n).exists()} == set()


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_the_docs_lead_somewhere():
    broken = []
    for doc in DOCS:
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            name, _, anchor = target.partition("#")
            file = (doc.parent / name).resolve() if name else doc
            if not file.exists():
                broken.append(f"{doc.name}: {target}")
            elif anchor and file.suffix == ".md":
                heads = re.findall(r"^#+ (.*)$", file.read_text(encoding="utf-8"), flags=re.M)
                if anchor not in {_slug(h) for h in heads}:
                    broken.append(f"{doc.name}: {target}")
    assert broken == []


@pytest.mark.process  # runs scripts/gen_docs.py --check
def test_the_command_reference_is_not_stale():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_stale_check_fails_on_a_stale_file(monkeypatch, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_docs
    finally:
        sys.path.pop(0)
    stale = tmp_path / "commands.md"
    stale.write_text(gen_docs.render().replace("Record a sale", "Record a sail"))
    monkeypatch.setattr(gen_docs, "TARGET", stale)
    monkeypatch.setattr(gen_docs, "ROOT", tmp_path)
    assert gen_docs.main(["--check"]) == 1
    assert "commands.md is stale" in capsys.readouterr().err


if __name__ == "__main__":  # print what a file's examples print now
    import tempfile

    doc = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.chdir(tmp)
        for step, code, actual in transcript(doc, Path(tmp)):
            print(f"$ {step.command}" + (f"    # exit {code}" if code else ""))
            print("\n".join(_trim(actual)))
            print()
