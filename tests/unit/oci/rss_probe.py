"""Replay layer files in a child process and report how it ended and its peak RSS.

`probe(layers, scratch)` runs this file as a wrapper process, which runs it again as the
replaying child and reads the child's peak RSS with getrusage(RUSAGE_CHILDREN): the
number covers that one child only, not whatever else the test process ever spawned.
The child's address space is capped so a regression fails the test instead of the host.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_AS_LIMIT = 6 << 30  # generous: threads reserve stacks; a real blow-up passes 512 MiB anyway


@dataclass
class Outcome:
    kind: str  # "ok", "banger:<code>" or "unexpected:<ExceptionType>"
    message: str
    peak_rss_mib: float
    staged_bytes: int  # disk/tmpfs space the staged content files really occupy


def probe(layers: list[Path], scratch: Path, limits: dict[str, int] | None = None) -> Outcome:
    argv = [sys.executable, __file__, "--wrap", str(scratch), json.dumps(limits or {})]
    result = subprocess.run(
        [*argv, *map(str, layers)], capture_output=True, text=True, timeout=600, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"probe wrapper failed: {result.stderr[-2000:]}")
    data = json.loads(result.stdout)
    return Outcome(
        data["kind"], data["message"], data["peak_rss_kib"] / 1024, data.get("staged", 0)
    )


def _wrap(args: list[str]) -> None:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (_AS_LIMIT, _AS_LIMIT))

    child = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        preexec_fn=cap,
        check=False,
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    try:
        report = json.loads(child.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        report = {"kind": f"unexpected:exit {child.returncode}", "message": child.stderr[-1500:]}
    print(json.dumps({**report, "peak_rss_kib": peak}))


def _child(args: list[str]) -> None:
    from banger.errors import BangerError
    from banger.oci.models import ReplayLimits
    from banger.oci.replay import replay_layers
    from banger.oci.tree import ImageTree

    scratch, limits, blobs = Path(args[0]), json.loads(args[1]), args[2:]
    content = scratch / "content"
    content.mkdir(parents=True, exist_ok=True)
    layers = [(Path(b), f"sha256:{i:064d}", None) for i, b in enumerate(blobs)]
    try:
        replay_layers(ImageTree(), layers, content, ReplayLimits(**limits))
        staged = sum(p.stat().st_blocks * 512 for p in content.iterdir())
        report = {"kind": "ok", "message": "", "staged": staged}
    except BangerError as exc:
        report = {"kind": f"banger:{exc.code}", "message": exc.one_line()}
    except BaseException as exc:
        report = {"kind": f"unexpected:{type(exc).__name__}", "message": str(exc)[:500]}
    print(json.dumps(report))


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    _wrap(rest) if mode == "--wrap" else _child(rest)
