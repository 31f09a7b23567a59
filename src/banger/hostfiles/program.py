"""A child program as one script: a few stdlib-only banger modules, shipped as source.

The children that read as the caller run `python -I -S -` with the script on stdin: they
need no access to banger's installation (which the caller may not be able to read), and
nothing on the caller's side (PYTHONPATH, site-packages) is consulted. The modules they
need are installed into sys.modules from source under their real names, so the same
`from banger.hostfiles.safeopen import ...` works in the daemon and in the child.
"""

from __future__ import annotations

import inspect
from types import ModuleType

_LOADER = """\
import sys, types


def _banger_install(name, source):
    parts = name.split(".")
    for end in range(1, len(parts)):
        package = ".".join(parts[:end])
        if package not in sys.modules:
            holder = types.ModuleType(package)
            holder.__path__ = []
            sys.modules[package] = holder
    module = types.ModuleType(name)
    module.__file__ = "<" + name + ">"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module

"""


def child_program(main: ModuleType, *needs: ModuleType) -> bytes:
    """A script that installs `needs` (in order), then `main`, and exits with
    `main.main(sys.argv[1:])`. Every module must import only the standard library and
    modules listed before it."""
    lines = [_LOADER]
    for module in (*needs, main):
        source = inspect.getsource(module)
        lines.append(f"_banger_main = _banger_install({module.__name__!r}, {source!r})\n")
    lines.append("sys.exit(_banger_main.main(sys.argv[1:]))\n")
    return "".join(lines).encode()
