"""`banger`: the command line. Verbs are thin: flags → one client call → output.

`main` offers the command line to cli.quick first (plain read verbs, run without typer:
see why there); every other one goes to the typer app (cli.app), imported only then.
"""

from __future__ import annotations

import sys

from banger.cli import quick
from banger.cli.output import print_error
from banger.errors import BangerError


def main() -> None:
    """Usage errors are typer's (usage line, exit 2); banger errors are one line, exit 1."""
    try:
        if not quick.run(sys.argv[1:]):
            from banger.cli.app import app

            app()
    except BangerError as exc:
        print_error(exc.one_line())
        sys.exit(1)
