from __future__ import annotations

import pytest

from banger.errors import InvalidArgument
from banger.guest import kernel_cmdline


def test_default_cmdline() -> None:
    assert kernel_cmdline() == (
        "console=ttyS0 reboot=k panic=1 root=/dev/vda rw rootfstype=ext4 init=/banger/init"
    )


def test_root_console_and_extra() -> None:
    line = kernel_cmdline(root="UUID=0a1b-2c", console="hvc0", extra=["tsc_early_khz=2596000"])
    assert line.split() == [
        "console=hvc0",
        "reboot=k",
        "panic=1",
        "root=UUID=0a1b-2c",
        "rw",
        "rootfstype=ext4",
        "init=/banger/init",
        "tsc_early_khz=2596000",
    ]


@pytest.mark.parametrize("bad", ["a b", 'x="y"', "init=/bin/sh;reboot", ""])
def test_unsafe_arguments_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        kernel_cmdline(extra=[bad])
