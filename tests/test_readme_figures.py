"""Every figure in README.md comes from the code beside it.

The cheap figures (``scripts/figures.py``: the TTFS digits run, the multi-spike ISI run, the
demo, the quick timing study) are regenerated, with the CPU kernels pinned as
``make figures`` does, and compared with the README's blocks: exactly for accuracies, spike
counts and timing errors (deterministic), never for timings (only shown). The machinery
(rich tables to markdown, what is compared) is tested on hand-written tables first.
``-k NAME`` (for example ``-k ttfs``) regenerates only that figure.
"""

import importlib.util
import io
import re
import sys
from pathlib import Path

import pytest
import torch
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("figures", ROOT / "scripts" / "figures.py")
figures = importlib.util.module_from_spec(_spec)
sys.modules["figures"] = figures
_spec.loader.exec_module(figures)

CHEAP = [f for f in figures.FIGURES if f.cheap]
DEMO = figures.BY_NAME["demo"]


def rich_text(*tables: Table, width: int = 200) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width)
    for t in tables:
        console.print(t)
    return buf.getvalue()


def demo_table(seconds: str = "6.9", accuracy: str = "96.0%") -> Table:
    t = Table(title="neurodeploy demo: CCISI with axonal delays, float -> Loihi 2")
    for col in ("backend", "kind", "test accuracy", "spikes vs reference", "seconds"):
        t.add_column(col)
    t.add_row("torch-float", "float", accuracy, "F1 0.783 (+-1 step: 0.933)", "0.0")
    t.add_row("lava", "fixed_point", accuracy, "identical", seconds)
    return t


def test_rich_tables_become_markdown_tables():
    other = Table(title="something else")
    other.add_column("a")
    other.add_row("1")
    output = rich_text(other, demo_table()) + "PASS: chip conformance exact; gates x; 47 s in all\n"
    body = figures.render(DEMO, output, 51.2, "abc1234", "2026-12-02")
    lines = body.splitlines()
    assert lines[:4] == [
        "| backend | kind | test accuracy | spikes vs reference | seconds |",
        "|---|---|---|---|---|",
        "| torch-float | float | 96.0% | F1 0.783 (+-1 step: 0.933) | 0.0 |",
        "| lava | fixed_point | 96.0% | identical | 6.9 |",
    ]
    assert "- verdict: PASS: chip conformance exact" in lines
    provenance = lines[-1]
    assert provenance.startswith("<sub>made by `neurodeploy demo --out out/demo` at commit "
                                 "abc1234 on 2026-12-02")
    assert "demo took 47 s" in provenance and "51 s in all" in provenance


def test_wrapped_cells_and_pipes():
    t = Table(title="dt study: x")
    t.add_column("dt")
    t.add_column("|Δt| float")
    t.add_row("0.05 ★", "a long cell that wraps")
    text = rich_text(t, width=24)
    assert text.count("│ 0.05 ★") == 1 and text.count("│") > 3  # the cell did wrap
    narrow = figures.parse_rich_tables(text)
    assert narrow[0].rows == [["0.05 ★", "a long cell that wraps"]]
    assert narrow[0].header == ["dt", "|Δt| float"]
    md = figures.markdown_table(narrow[0])
    assert md.splitlines()[0] == "| dt | \\|Δt\\| float |"


def test_a_wrapped_title_is_found():
    t = Table(title="QAT step: batch 32 x 200 steps, 2 threads")
    t.add_column("variant")
    t.add_row("fused")
    text = "some output\n" + rich_text(t, width=20)
    assert "QAT step: batch 32 x 200 steps" not in text  # rich wrapped the title
    qat = figures.BY_NAME["bench-qat"]
    [table] = figures.select_tables(qat, text)
    assert table.rows == [["fused"]]


def test_a_missing_table_is_an_error():
    with pytest.raises(ValueError, match=re.escape("no table titled 'neurodeploy demo...'")):
        figures.select_tables(DEMO, rich_text(Table(title="other")))


def test_timings_are_not_compared_but_accuracies_are():
    base = figures.render(DEMO, rich_text(demo_table()), 40.0, "abc", "2026-12-01")
    slower = figures.render(DEMO, rich_text(demo_table(seconds="9.5")), 80.0, "def",
                            "2026-12-02")
    worse = figures.render(DEMO, rich_text(demo_table(accuracy="95.0%")), 40.0, "abc",
                           "2026-12-01")
    assert figures.comparable(DEMO, base) == figures.comparable(DEMO, slower)
    assert figures.comparable(DEMO, base) != figures.comparable(DEMO, worse)
    readme = f"text\n<!-- figure: demo -->\n{base}<!-- /figure: demo -->\nmore\n"
    assert figures.differences([DEMO], {"demo": slower}, readme) == []
    [diff] = figures.differences([DEMO], {"demo": worse}, readme)
    assert "-| lava | fixed_point | 96.0% | identical |  |" in diff
    assert "+| lava | fixed_point | 95.0% | identical |  |" in diff


def test_blocks_are_replaced_in_place():
    text = ("a\n<!-- figure: demo -->\nold\n<!-- /figure: demo -->\n"
            "<!-- figure: bench-qat -->\nkeep\n<!-- /figure: bench-qat -->\n")
    new = figures.replace_block(text, "demo", "new\n")
    assert figures.readme_blocks(new) == {"demo": "new\n", "bench-qat": "keep\n"}
    with pytest.raises(ValueError, match="no '<!-- figure: ttfs-digits -->'"):
        figures.replace_block(text, "ttfs-digits", "x\n")


def test_every_figure_has_a_block_that_says_how_it_was_made():
    blocks = figures.readme_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert sorted(blocks) == sorted(f.name for f in figures.FIGURES)
    for f in figures.FIGURES:
        made = [ln for ln in blocks[f.name].splitlines() if ln.startswith("<sub>made by `")]
        assert len(made) == 1, f.name
        assert f.shown_command("out").split(" --out")[0] in made[0], f.name


@pytest.fixture(scope="module")
def regenerated(request, tmp_path_factory):
    """The cheap figures whose test is selected (``-k ttfs`` runs one), two at a time."""
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        pytest.skip("the README's exact figures are made with AVX2 kernels; this CPU has "
                    f"{torch.backends.cpu.get_cpu_capability()}")
    selected = {item.callspec.params["figure"].name for item in request.session.items
                if getattr(item, "originalname", "") == "test_cheap_figure_agrees_with_the_readme"}
    return figures.generate([f for f in CHEAP if f.name in selected],
                            tmp_path_factory.mktemp("figures"), jobs=2)


@pytest.mark.lava
@pytest.mark.parametrize("figure", CHEAP, ids=[f.name for f in CHEAP])
def test_cheap_figure_agrees_with_the_readme(regenerated, figure):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    problems = figures.differences([figure], regenerated, readme)
    assert not problems, ("README.md differs from what the code produces (`make figures` "
                          "rewrites it):\n" + "\n".join(problems))
