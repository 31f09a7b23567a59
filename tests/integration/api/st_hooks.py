"""schemathesis hooks for schemathesis.toml: fuzz `POST /v1/vms` without booting."""

from __future__ import annotations

import schemathesis


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """A VM create the fuzzer sends creates the VM's disks and records, never boots it:
    `start` is forced to false when it is a boolean (a non-boolean stays, to be refused)."""
    operation = context.operation
    if operation is None or (operation.method.upper(), operation.path) != ("POST", "/v1/vms"):
        return case
    if isinstance(case.body, dict) and isinstance(case.body.get("start", True), bool):
        case.body["start"] = False
    return case
