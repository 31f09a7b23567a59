"""docs/ARCHITECTURE.md's Packages table, enforced as an allow-list on src/banger/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.foundation.import_rules import EVERYTHING, check, parse_table

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "src" / "banger"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def test_src_imports_only_what_the_architecture_table_allows() -> None:
    assert check(SRC, parse_table(ARCHITECTURE.read_text())) == []


def test_the_table_is_parsed_as_written() -> None:
    table = parse_table(ARCHITECTURE.read_text())
    assert table["errors"] == frozenset()
    assert "ops.reporter" in table["kernels"] and "ops" not in table["kernels"]
    assert "api" in table["store"]  # "api (models)": the note is commentary
    assert EVERYTHING in table["daemon"]
    assert not any("daemon" in allowed for name, allowed in table.items() if name != "daemon")


# --- the checker itself, on a synthetic tree -------------------------------------------

TABLE_MD = """\
# x

## Packages

| package | concern | may import |
|---|---|---|
| `banger.errors` | errors | nothing |
| `banger.proc` | runner | errors |
| `banger.ops` | ops | errors |
| `banger.cli` | verbs | errors, ops (the reporter) |
| `banger.disks` | disks | errors, ops.reporter |
| `banger.daemon` | root | everything above |

## Next section

| `banger.cli` | not | this table |
"""


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "banger"
    for rel, text in {
        "__init__.py": "__version__ = '0'\n",
        "errors.py": "",
        "proc.py": "from banger.errors import BangerError\n",
        "ops/__init__.py": "",
        "ops/reporter.py": "",
        "ops/manager.py": "",
        "cli/__init__.py": "",
        "disks/__init__.py": "",
        "daemon/__init__.py": "",
        **files,
    }.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return src


def test_parse_table_reads_only_the_packages_section() -> None:
    table = parse_table(TABLE_MD)
    assert table["cli"] == {"errors", "ops"}
    assert table["disks"] == {"errors", "ops.reporter"}
    assert table["daemon"] == {"errors", "proc", "ops", "cli", "disks", EVERYTHING}


@pytest.mark.parametrize(
    "source",
    [
        "from banger import proc\n",
        "import banger.proc\n",
        "from banger.proc import run\n",
        "import banger.proc as p\n",
        "def f():\n    from banger.daemon import app\n",
        "from .. import proc\n",
        "from ..proc import run\n",
    ],
)
def test_a_forbidden_import_is_reported_in_every_form(tmp_path: Path, source: str) -> None:
    src = _tree(tmp_path, {"cli/vm.py": source})
    problems = check(src, parse_table(TABLE_MD))
    assert len(problems) == 1
    assert problems[0].startswith("cli/vm.py:")
    assert "cli may not import banger." in problems[0]


@pytest.mark.parametrize(
    "source",
    [
        "from banger import errors\n",
        "from banger.errors import BangerError\n",
        "import banger.ops.manager\n",
        "from banger import __version__\n",
        "from banger.cli import vm\n",
        "from . import vm\n",
        "from .vm import x\n",
        "from ..errors import BangerError\n",
    ],
)
def test_an_allowed_import_is_not_reported(tmp_path: Path, source: str) -> None:
    src = _tree(tmp_path, {"cli/vm.py": source})
    assert check(src, parse_table(TABLE_MD)) == []


def test_a_module_entry_allows_that_module_only(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "disks/a.py": "from banger.ops.reporter import Reporter\n",
            "disks/b.py": "from banger.ops import reporter\n",
            "disks/c.py": "from banger.ops import manager\n",
            "disks/d.py": "from banger.ops import Reporter\n",
        },
    )
    assert check(src, parse_table(TABLE_MD)) == [
        "disks/c.py:1: disks may not import banger.ops.manager",
        "disks/d.py:1: disks may not import banger.ops",
    ]


def test_a_module_row_and_a_package_without_a_row(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {"errors.py": "from banger import proc\n", "extra/__init__.py": ""},
    )
    assert check(src, parse_table(TABLE_MD)) == [
        "errors.py:1: errors may not import banger.proc",
        "extra: no row in the Packages table",
    ]


def test_the_composition_root_may_import_everything(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"daemon/app.py": "from banger import cli, disks, proc\n"})
    assert check(src, parse_table(TABLE_MD)) == []
