"""A real QEMU (TCG) guest floods its serial console past the cap while the daemon's trim
runs: the file stays bounded and a reader following it loses not one line (QEMU's chardev
appends with O_APPEND, so in-place trims never leave it writing at a stale offset)."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from banger import proc
from banger.guest import console_log
from banger.vmm import QemuBackend, VMSpec
from tests.integration.vmm.guest_artifacts import guest_artifacts

pytestmark = pytest.mark.integration

FLOOD_LINES = 40_000
CAP = 512 << 10  # keeps 256 KiB: far more than the guest prints between two polls
FLOOD_INIT = f"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /dev
/bin/busybox mount -t devtmpfs dev /dev
i=0
while [ $i -lt {FLOOD_LINES} ]; do
    echo "FLOOD $i ................................................"
    i=$((i+1))
done
echo FLOOD-DONE
/bin/busybox poweroff -f
"""


def _flood_initrd(tmp: Path) -> Path:
    root = tmp / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy(proc.which("busybox"), root / "bin/busybox")
    (root / "init").write_text(FLOOD_INIT)
    (root / "init").chmod(0o755)
    initrd = tmp / "flood.cpio"
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    proc.run(
        ["cpio", "-o", "-H", "newc", "--quiet", "-F", initrd],
        input="\n".join(names) + "\n",
        cwd=root,
    )
    return initrd


@pytest.fixture
def qemu() -> Iterator[QemuBackend]:
    backend = QemuBackend()
    yield backend


def test_a_flooding_guest_console_stays_bounded_and_lossless(
    qemu: QemuBackend, tmp_path: Path
) -> None:
    artifacts = guest_artifacts()
    vm_dir = tmp_path / "vm"
    vm_dir.mkdir()
    spec = VMSpec(
        vm_id="vmflood",
        name="flood-test",
        vm_dir=vm_dir,
        cpus=1,
        memory_mib=256,
        kernel=artifacts.kernel,
        initrd=_flood_initrd(tmp_path),
        cmdline="console=ttyS0 panic=-1 quiet",
        drives=[],
        console_log=vm_dir / "console.log",
        accel="tcg",
    )
    handle = qemu.start(spec)
    try:
        offset, largest, missed = 0, 0, 0
        chunks: list[bytes] = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            stopped = qemu.status(handle) != "running"
            console_log.trim(spec.console_log, CAP)  # what the daemon does every second
            while True:
                data, offset, skipped = console_log.read(spec.console_log, offset, 1 << 20)
                missed += skipped
                chunks.append(data)
                if not data:
                    break
            largest = max(largest, spec.console_log.stat().st_size)
            if stopped:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the flooding guest did not power off within 300 s")
    finally:
        qemu.kill(handle)
    text = b"".join(chunks).decode(errors="replace")
    assert "FLOOD-DONE" in text, text[-2000:]
    assert missed == 0  # the reader kept up: no trim cut anything it had not read
    numbers = [int(n) for n in re.findall(r"^FLOOD (\d+) ", text, re.MULTILINE)]
    assert numbers == list(range(FLOOD_LINES))  # every line, in order: nothing lost
    assert console_log.dropped(spec.console_log) > FLOOD_LINES * 60 - 2 * CAP
    # Bounded: the cap plus what the guest printed between two trims. Were QEMU writing at
    # its own offset instead of appending, the size would grow back past the cut each time.
    assert largest < CAP + (1 << 20), largest
    assert spec.console_log.stat().st_blocks * 512 < CAP + (1 << 20)
