"""The build service's pure parts: judging a transcript, provenance, the console parser's cost."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from banger.api.models import Image, ImageFiles, ImageSource
from banger.api.requests import BuildStep, ImageBuild
from banger.daemon.boot_set import BootSet
from banger.daemon.builds import BuildJob, judge, provenance
from banger.errors import BangerError, StepFailed
from banger.hostfiles import Caller
from banger.images.build_console import MAX_LINE_BYTES, Transcript
from banger.images.build_disk import MARKER
from banger.vmm import KernelCaps, QemuBackend


def _transcript(*lines: str, steps: int = 2) -> Transcript:
    t = Transcript(nonce="n0", steps=steps)
    t.feed("".join(f"{line}\n" for line in lines).encode())
    return t


def m(rest: str) -> str:
    return f"{MARKER} n0 {rest}"


def test_a_clean_run_passes() -> None:
    judge(_transcript(m("begin 1"), m("exit 1 0"), m("begin 2"), m("exit 2 0"), m("done ok")),
          ["a", "b"])  # fmt: skip


def test_a_failing_step_is_a_step_failed_with_its_code_and_output() -> None:
    t = _transcript(m("begin 1"), m("out 1 E: Unable to locate package nope"), m("exit 1 100"),
                    m("done failed"))  # fmt: skip
    with pytest.raises(StepFailed) as err:
        judge(t, ["apt-get install nope", "b"])
    assert err.value.exit_code == 100
    assert "step 1 (apt-get install nope) failed with exit code 100" in err.value.message
    assert "Unable to locate package" in err.value.message


def test_a_builder_that_dies_mid_step_says_where_with_the_console_tail() -> None:
    t = _transcript(m("begin 1"), m("exit 1 0"), m("begin 2"), "Kernel panic - not syncing: x")
    with pytest.raises(BangerError) as err:
        judge(t, ["a", "b"])
    assert err.value.code == "build_failed" and "during step 2" in err.value.message
    assert "Kernel panic" in err.value.message


def test_step_output_cannot_fake_markers_of_another_nonce() -> None:
    t = _transcript(m("begin 1"), f"{MARKER} other done ok", m("exit 1 0"), steps=1)
    assert t.done is None and not t.succeeded


def test_a_huge_line_without_newline_is_linear_and_bounded() -> None:
    t = Transcript(nonce="n0", steps=1)
    chunk = b"x" * (1 << 20)
    for _ in range(64):  # 64 MiB without a newline
        t.feed(chunk)
        # What each feed re-reads is bounded, so the total work is linear in the input
        # (the old parser re-split everything held so far: 11 s for 32 MiB, x4 per doubling).
        assert len(t._partial) <= MAX_LINE_BYTES
    t.feed(b"\n" + m("begin 1").encode() + b"\n")
    assert t.current == 1
    assert len(t.console_tail[-1]) == MAX_LINE_BYTES  # the long line, cut


def test_provenance_records_the_base_the_steps_and_the_transport(tmp_path: Path) -> None:
    source = ImageSource(kind="pull", digest="sha256:ab")
    files = ImageFiles(rootfs=tmp_path / "root.ext4")
    base = Image(
        id="b1", name="deb", managed=True, files=files, source=source, created_at=datetime.now(UTC)
    )
    job = BuildJob(
        req=ImageBuild(from_image="deb", name="new", steps=[BuildStep(kind="run", text="true")],
                     env={"B": "2", "A": "1"}),  # type: ignore[call-arg]
        base=base, steps=[], summaries=["run: true"], kvm_kernel=tmp_path / "k",
        backend=QemuBackend(),
        boot=BootSet(tmp_path / "k", None, KernelCaps(has_elf=False, mmio_cmdline_devices=False,
                                                       virtio_mmio="builtin")),
        via="ssh", caller=Caller(0, 0),
    )  # fmt: skip
    record = provenance(job)
    assert record.kind == "build" and record.base_id == "b1"
    assert record.base == "deb" and record.base_digest == "sha256:ab"
    assert record.steps == ["run: true"] and record.via == "ssh"
    assert record.env == ["A", "B"]  # names only: values may be secrets
