"""Every command in the docs runs as written.

In README.md and docs/*.md, each ``neurodeploy ...`` line of a ```` ```sh ```` block is
checked against the real command line parser (command, options, option types), and the
blocks marked ``<!-- docs-test: run -->`` (the walkthrough) are executed, in order, in a
fresh directory: every command must exit 0. ```` ```text ```` blocks are output, not
commands. ``python PATH`` lines must name a file that exists.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from neurodeploy.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- docs-test: run -->\s*\n)?```sh\n(.*?)```", re.S)


def sh_blocks(path: Path) -> list[tuple[bool, list[str]]]:
    blocks = []
    for m in BLOCK.finditer(path.read_text()):
        lines = [ln.split("  #")[0].strip() for ln in m.group(2).splitlines()]
        blocks.append((bool(m.group(1)), [ln for ln in lines if ln]))
    return blocks


def commands(run: bool | None = None) -> list[tuple[str, str]]:
    out = []
    for path in DOCS:
        for runnable, lines in sh_blocks(path):
            if run is None or runnable == run:
                out += [(path.name, ln) for ln in lines]
    return out


def parse_only(args: list[str]) -> None:
    """Parse like the CLI would, without running the command (UsageError when wrong)."""
    cmd = typer.main.get_command(app)
    ctx = cmd.make_context("neurodeploy", list(args))
    while hasattr(cmd, "resolve_command"):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, sub, rest = cmd.resolve_command(ctx, rest)
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub


def test_the_docs_have_commands_and_a_runnable_walkthrough():
    assert len(commands()) >= 15
    assert any("verify" in c for _, c in commands(run=True))


@pytest.mark.parametrize(("doc", "line"), commands())
def test_documented_command_parses(doc, line):
    words = shlex.split(line)
    if words[0] == "neurodeploy":
        if words[1:] in (["--version"], ["--help"]):
            return
        parse_only(words[1:])
    elif words[0] == "python":
        assert (ROOT / words[1]).exists(), f"{doc}: {words[1]} does not exist"
    else:
        assert words[0] == "make" and words[1] in ("demo", "test", "bench", "lint"), line


@pytest.mark.lava
def test_walkthrough_runs_as_written(tmp_path):
    for doc, line in commands(run=True):
        words = shlex.split(line)
        assert words[0] == "neurodeploy", line
        proc = subprocess.run([sys.executable, "-m", "neurodeploy", *words[1:]], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{doc}: {line}\n{proc.stdout[-2000:]}{proc.stderr}"
    assert (tmp_path / "report" / "report.html").exists()
