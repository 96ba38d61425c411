"""Rich tables that stay readable in a narrow terminal (80 columns and up).

Rich fits a wide table to the terminal by cutting cells (``0.16…``) and column titles. So
:func:`print_table` lays a table out itself: as it is when it fits; else with column
widths chosen so that titles and text wrap at spaces while no word (a number is one word)
is cut; else as several tables of fewer columns, each repeating the first ``keys`` columns
(the row names) so every row can still be read across.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Column, Table


def make_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
               justify: str | Sequence[str] = "left", **options: Any) -> Table:
    """A :class:`Table` titled ``title`` with ``columns`` (justified ``justify``, one value
    for all or one per column) holding ``rows``; ``options`` go to :class:`Table`."""
    table = Table(title=title, **options)
    for column, side in zip(columns, [justify] * len(columns) if isinstance(justify, str)
                            else justify, strict=True):
        table.add_column(column, justify=side)
    for row in rows:
        table.add_row(*row)
    return table


def _column_range(console: Console, column: Column) -> tuple[int, int]:
    """(longest word, longest line) over the column's title and cells, in characters."""
    options = console.options.update_width(10**6)
    sizes = [Measurement.get(console, options, cell) for cell in (column.header, *column.cells)]
    return max(s.minimum for s in sizes), max(s.maximum for s in sizes)


def _subtable(table: Table, indices: list[int], widths: list[int], first: bool,
              last: bool) -> Table:
    """``table`` with only the columns at ``indices``, set to ``widths`` (wrapping at
    spaces); the title only on the first part, the caption only on the last."""
    part = copy.copy(table)
    part.columns = [dataclasses.replace(table.columns[i], width=w, min_width=None,
                                        max_width=None, no_wrap=False, overflow="fold",
                                        _index=n)
                    for n, (i, w) in enumerate(zip(indices, widths, strict=True))]
    part.title = table.title if first else None
    part.caption = table.caption if last else None
    return part


def print_table(console: Console, table: Table, keys: int = 1) -> None:
    """Print ``table`` within ``console.width`` without cutting a word: as it is when it
    fits, else with narrower wrapped columns, else split into parts that each repeat the
    first ``keys`` columns (cells longer than a whole part are folded, never cut)."""
    width = console.width
    natural = Measurement.get(console, console.options.update_width(10**6), table).maximum
    if natural <= width:
        console.print(table)
        return
    ranges = [_column_range(console, c) for c in table.columns]
    pad = table.padding[1] + table.padding[3]
    keys = min(keys, len(ranges))

    def need(indices: list[int]) -> int:
        """Characters for these columns at their narrowest, with padding and rules."""
        rules = 0 if not table.box else len(indices) + (1 if table.show_edge else -1)
        return rules + sum(ranges[i][0] + pad for i in indices)

    parts: list[list[int]] = []
    current = list(range(keys))
    for index in range(keys, len(ranges)):
        if len(current) > keys and need([*current, index]) > width:
            parts.append(current)
            current = list(range(keys))
        current.append(index)
    parts.append(current)
    for n, indices in enumerate(parts):
        widths = [ranges[i][0] for i in indices]
        room = width - need(indices)
        # unwrap the columns that need least to fit on one line
        for k in sorted(range(len(indices)), key=lambda k: ranges[indices[k]][1] - widths[k]):
            lack = ranges[indices[k]][1] - widths[k]
            if lack <= room:
                widths[k], room = widths[k] + lack, room - lack
        for _ in range(max(room, 0)):  # one by one to the column wrapped into most lines
            lines = [ranges[i][1] / w if w < ranges[i][1] else 0.0
                     for i, w in zip(indices, widths, strict=True)]
            if max(lines) == 0:
                break
            widths[lines.index(max(lines))] += 1
        console.print(_subtable(table, indices, widths, n == 0, n == len(parts) - 1))
