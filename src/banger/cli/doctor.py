"""`banger doctor`: the daemon's host checks plus what only the caller can see.

The host probes, the models and rich load when the verb runs, not when `banger` starts.
"""

from __future__ import annotations

import grp
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from banger.cli.context import JSON_OPTION, state, wants_json
from banger.cli.output import console, print_json
from banger.errors import BangerError

if TYPE_CHECKING:
    from banger.api.models import DoctorCheck

_STYLE = {"pass": "[green]pass[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]fail[/red]"}


def _group_check(socket_path: Path) -> DoctorCheck:
    from banger.api.models import DoctorCheck

    try:
        group = grp.getgrgid(socket_path.stat().st_gid).gr_name
    except (OSError, KeyError):
        group = "banger"
    member = os.geteuid() == 0 or group in {grp.getgrgid(g).gr_name for g in os.getgroups()}
    return DoctorCheck(
        name="socket group",
        status="pass" if member else "fail",
        required=True,
        detail=("root" if os.geteuid() == 0 else f"member of '{group}'")
        if member
        else f"not a member of '{group}'",
        hint=None if member else f"sudo usermod -aG {group} $USER, then log in again",
    )


def doctor(ctx: typer.Context, json: bool = JSON_OPTION) -> None:
    """Check this host: KVM (really usable?), QEMU/TCG, Firecracker, network, disks, tools."""
    from rich.markup import escape

    from banger.api.models import DoctorCheck, DoctorReport
    from banger.doctor import KvmVerdict, host_checks

    st = state(ctx)
    checks: list[DoctorCheck] = []
    try:
        report = DoctorReport.model_validate(st.client.get("/doctor"))
        checks.append(
            DoctorCheck(
                name="daemon",
                status="pass",
                required=True,
                detail=f"bangerd answers on {st.socket_path}",
            )
        )
        checks.extend(report.checks)
    except BangerError as exc:
        checks.append(
            DoctorCheck(
                name="daemon", status="fail", required=True, detail=exc.message, hint=exc.hint
            )
        )
        checks.extend(
            host_checks(
                "qemu-system-x86_64",
                None,
                Path("/var/lib/banger"),
                lambda: KvmVerdict.unverified(
                    "bangerd is not running (it boots its kernel to tell)"
                ),
            )
        )
    checks.append(_group_check(st.socket_path))
    result = DoctorReport(checks=checks, ok=all(c.status != "fail" for c in checks))
    if wants_json(ctx, json):
        print_json(result)
    else:
        for c in checks:
            hint = f"  [dim]→ {escape(c.hint)}[/dim]" if c.hint else ""
            console().print(
                f"{_STYLE[c.status]}  [bold]{c.name:<15}[/bold] {escape(c.detail)}{hint}",
                highlight=False,
            )
            if c.evidence:
                console().print(
                    f"{'':<23}[dim]evidence: {escape(c.evidence)}[/dim]", highlight=False
                )
    if not result.ok:
        raise typer.Exit(1)
