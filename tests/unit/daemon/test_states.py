"""States are enums with one meaning each; the wire format stays plain strings."""

import json
from datetime import UTC, datetime

from banger.api.models import TERMINAL_STATES, VM, OperationState, VMState
from banger.vmm import ProcessState


def _vm(state: str) -> VM:
    return VM(id="a" * 16, name="v", state=state, backend="qemu", image="i", cpus=1,
              memory_mib=512, created_at=datetime.now(UTC))  # type: ignore[arg-type]  # fmt: skip


def test_only_states_with_a_vmm_are_active() -> None:
    active = {s for s in VMState if _vm(s).is_active}
    assert active == {VMState.STARTING, VMState.RUNNING, VMState.STOPPING}
    assert not _vm("created").is_active  # a created VM holds no tap: teardown may proceed


def test_states_round_trip_as_plain_strings() -> None:
    vm = _vm("running")
    assert vm.state is VMState.RUNNING
    assert json.loads(vm.model_dump_json())["state"] == "running"
    assert VM.model_validate_json(vm.model_dump_json()).state is VMState.RUNNING


def test_terminal_operation_states_and_process_state_are_distinct_types() -> None:
    assert {"succeeded", "failed", "cancelled"} == TERMINAL_STATES
    assert OperationState.RUNNING not in TERMINAL_STATES
    assert set(ProcessState) == {"running", "stopped"}
