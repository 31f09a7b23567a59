"""`print_table` writes what rich's borderless Table wrote, without its per-row layout cost."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table

from banger.cli.output import table_lines


def _rich(cells: list[list[str]], width: int) -> str:
    out = io.StringIO()
    table = Table(box=None, header_style="bold")
    for column in cells[0]:
        table.add_column(column, overflow="fold")
    for row in cells[1:]:
        table.add_row(*row)
    Console(file=out, width=width, color_system=None).print(table)
    return out.getvalue()


@pytest.mark.parametrize(
    "cells",
    [
        [["NAME", "IP", "MEMORY"], ["vm-0001", "10.77.0.2", "512 MiB"], ["a", "-", "1 MiB"]],
        [["NAME"], ["x"]],
        [["NAME", "CREATED"], ["héllo-wörld", "2026-12-02 10:13:25"]],
        [["NAME", "WIDE"], ["日本", "ok"], ["emoji-free", "x"]],  # double-width cells
    ],
)
def test_lines_are_richs_when_everything_fits(cells: list[list[str]]) -> None:
    lines = table_lines(cells, 200)
    assert lines is not None
    assert "\n".join(lines) + "\n" == _rich(cells, 200)


def test_a_table_just_as_wide_as_the_screen_still_fits() -> None:
    cells = [["NAME", "IP"], ["vm-0001", "10.77.0.2"]]
    width = len(" vm-0001    10.77.0.2 ")
    assert "\n".join(table_lines(cells, width) or []) + "\n" == _rich(cells, width)


@pytest.mark.parametrize(
    ("cells", "width"),
    [
        ([["NAME", "PATH"], ["vm", "/var/lib/banger/" + "x" * 200]], 80),  # rich folds it
        ([["NAME"], ["tab\there"]], 200),
        ([["NAME"], ["[bold]x[/bold]"]], 200),
    ],
)
def test_what_rich_would_fold_or_interpret_is_left_to_rich(
    cells: list[list[str]], width: int
) -> None:
    assert table_lines(cells, width) is None
