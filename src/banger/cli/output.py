"""Rendering: JSON for machines, rich tables for people, one line for errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Piped output is read by scripts and people alike: never cut ids or paths to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def to_jsonable(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [to_jsonable(d) for d in data]
    return data


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, empty: str) -> None:
    if not rows:
        console.print(empty)
        return
    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column.upper(), overflow="fold")
    for row in rows:
        table.add_row(*("-" if row.get(c) in (None, "") else str(row.get(c)) for c in columns))
    console.print(table)


def print_fields(data: dict[str, Any]) -> None:
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        if isinstance(value, dict):
            console.print(f"[bold]{key:<{width}}[/bold]")
            for sub_key, sub_value in value.items():
                console.print(f"  {sub_key}: {sub_value}", markup=False, highlight=False)
        else:
            shown = "-" if value in (None, "") else value
            console.print(f"[bold]{key:<{width}}[/bold]  ", end="")
            console.print(str(shown), markup=False, highlight=False)


def print_error(message: str) -> None:
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
